"""Failed pulumi CLI runs, as the CLI prints them, become latticework's error kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from latticework.automation import (
    AutomationEngine,
    AutomationSettings,
    CliOutput,
    classify_failure,
    require_pulumi_cli,
)
from latticework.engine import PolicyFinding
from latticework.errors import (
    ExitCode,
    MissingCredentialsError,
    MissingPulumiCliError,
    PolicyViolationError,
    ProgramError,
    StackLockedError,
)

DIY_LOCKED = """\
error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to \
end or delete the lock file with `pulumi cancel`.
  file:///work/.latticework/state/.pulumi/locks/organization/latticework/dev/3f1c.json: \
created by ci@runner-7 (pid 4121) at 2026-12-03T18:02:11Z
"""
CLOUD_LOCKED = (
    "error: [409] Conflict: Another update is currently in progress.\n"
    "To learn more about possible reasons and resolution, visit "
    "https://www.pulumi.com/docs/common-errors/#conflict\n"
)
POLICY_STDOUT = """\
Previewing update (dev):

     Type                                  Name                     Plan       Info
 +   pulumi:pulumi:Stack                   latticework-dev          create     1 error
 +   └─ aws:vpclattice/service:Service     orders-lattice-service   create

Diagnostics:
  pulumi:pulumi:Stack (latticework-dev):
    error: preview failed

Policy Violations:
    [mandatory]  latticework-guardrails v0.1.0  lattice-auth-type-iam \
(orders-lattice-service: aws:vpclattice/service:Service)
    Set auth_type to AWS_IAM on orders-lattice-service.
"""
NO_AWS_CREDENTIALS = """\
Diagnostics:
  pulumi:providers:aws (default_7_51_1):
    error: pulumi:providers:aws resource 'default_7_51_1' has a problem: No valid credential \
sources found.
    Please see https://www.pulumi.com/registry/packages/aws/installation-configuration/ for \
more information about providing credentials.

  pulumi:pulumi:Stack (latticework-dev):
    error: preview failed
"""
NO_PASSPHRASE = (
    'error: constructing secrets manager of type "passphrase": unable to find either '
    "`PULUMI_CONFIG_PASSPHRASE` or `PULUMI_CONFIG_PASSPHRASE_FILE` when loading source stack, "
    "passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE "
    "environment variables\n"
)
PROGRAM_FAILED = """\
Diagnostics:
  pulumi:pulumi:Stack (latticework-dev):
    error: Program failed with an unhandled exception:
    Traceback (most recent call last):
      File "/work/__main__.py", line 12, in <module>
    components.errors.SpecError: stacks/services.yaml: services[0].port: expected 1-65535
    error: an unhandled error occurred: Program exited with non-zero exit code: 1
"""


def _classify(stdout: str = "", stderr: str = "", **kwargs: object) -> Exception:
    return classify_failure(
        environment="dev",
        operation="preview",
        output=CliOutput(stdout=stdout, stderr=stderr),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("stderr", [DIY_LOCKED, CLOUD_LOCKED])
def test_locked_stack_is_stack_locked(stderr: str) -> None:
    """Both backends' lock messages become StackLockedError with how to clear a stale lock."""
    error = _classify(stderr=stderr)

    assert isinstance(error, StackLockedError)
    assert error.exit_code is ExitCode.STACK_LOCKED
    assert "locked by another update" in str(error)
    assert "pulumi cancel" in str(error)


def test_concurrent_update_flag_wins_over_the_text() -> None:
    """The Automation API's ConcurrentUpdateError marks a lock even with unfamiliar text."""
    error = _classify(stderr="error: something unusual", concurrent_update=True)

    assert isinstance(error, StackLockedError)


def test_policy_violations_from_the_printed_report() -> None:
    """The `Policy Violations` block names the policy and the resource in the message."""
    error = _classify(stdout=POLICY_STDOUT, stderr="error: preview failed\n")

    assert isinstance(error, PolicyViolationError)
    assert error.exit_code is ExitCode.POLICY_VIOLATION
    assert "1 mandatory policy violation(s): lattice-auth-type-iam (orders-lattice-service" in str(
        error
    )
    assert "stacks/Pulumi.dev.yaml" in str(error)


def test_policy_violations_from_policy_events() -> None:
    """Mandatory policy events classify the failure even when the text says nothing."""
    finding = PolicyFinding(
        policy_name="secret-rotation-required",
        enforcement_level="mandatory",
        message="Add rotation.",
        resource_urn="urn:pulumi:dev::latticework::aws:secretsmanager/secret:Secret::db",
    )

    error = _classify(stderr="error: preview failed", findings=[finding])

    assert isinstance(error, PolicyViolationError)
    assert "secret-rotation-required (db)" in str(error)


def test_advisory_findings_alone_are_not_a_violation() -> None:
    """Advisory findings never turn a failure into a policy violation."""
    finding = PolicyFinding("rotation-period", "advisory", "Rotate more often.")

    error = _classify(stdout=PROGRAM_FAILED, findings=[finding])

    assert isinstance(error, ProgramError)


@pytest.mark.parametrize(
    ("stdout", "stderr"),
    [
        (NO_AWS_CREDENTIALS, "error: preview failed"),
        ("", NO_PASSPHRASE),
        (
            "",
            "error: getting user info: [401] Unauthorized: No credentials provided or are invalid.",
        ),
        ("", "error: failed to refresh cached credentials, no EC2 IMDS role found"),
        ("", "error: ExpiredToken: The security token included in the request is expired"),
    ],
)
def test_missing_credentials(stdout: str, stderr: str) -> None:
    """Missing cloud, backend or passphrase credentials become MissingCredentialsError."""
    error = _classify(stdout=stdout, stderr=stderr)

    assert isinstance(error, MissingCredentialsError)
    assert error.exit_code is ExitCode.MISSING_CREDENTIALS
    assert "AWS_PROFILE" in str(error)


def test_program_error_names_the_first_real_cause() -> None:
    """A crashing program is a ProgramError whose message is the first meaningful error line."""
    error = _classify(stdout=PROGRAM_FAILED, stderr="error: preview failed")

    assert isinstance(error, ProgramError)
    assert str(error) == ("preview of 'dev' failed: Program failed with an unhandled exception:")


def test_error_message_is_one_bounded_line() -> None:
    """However long the CLI's line, the message stays one line of bounded length."""
    error = _classify(stderr="error: " + "x" * 5000 + "\nsecond line")

    assert "\n" not in str(error)
    assert len(str(error)) < 300


def test_missing_pulumi_cli_names_how_to_install(tmp_path: Path) -> None:
    """With a PATH that holds no pulumi, the error says how to install the CLI."""
    with pytest.raises(MissingPulumiCliError, match=r"get\.pulumi\.com") as failure:
        require_pulumi_cli({"PATH": str(tmp_path)})

    assert failure.value.exit_code is ExitCode.MISSING_PULUMI_CLI


def test_pulumi_cli_on_path_is_found(tmp_path: Path) -> None:
    """An executable named pulumi on PATH is found and returned."""
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    fake.chmod(0o755)

    assert require_pulumi_cli({"PATH": str(tmp_path)}) == str(fake)


def test_engine_without_pulumi_cli_fails_before_touching_anything(tmp_path: Path) -> None:
    """The Automation API engine on a PATH without pulumi raises MissingPulumiCliError."""
    (tmp_path / "Pulumi.yaml").write_text("name: latticework\nruntime: python\n", encoding="utf-8")
    settings = AutomationSettings(project_dir=tmp_path, environ={"PATH": str(tmp_path)})

    with pytest.raises(MissingPulumiCliError):
        AutomationEngine(settings).preview("dev")

    assert not (tmp_path / ".latticework").exists()
