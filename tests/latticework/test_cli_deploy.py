"""`latticework preview|up|destroy|refresh|drift|outputs` through click and a scripted pulumi CLI.

The pulumi CLI is the outside boundary here: a small executable named `pulumi` on PATH
answers `version`, records every call (arguments, backend, policy-pack config), keeps
stacks per backend as real state does (`stack select` fails until `stack init`, which salts
the stack file for the passphrase provider), streams a test's engine events to the
Automation API (over its gRPC server, or the event file for CLIs before 3.206) and fails
the operation with the text a test gives it, the way the real CLI prints it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from latticework.automation import check_backend_url
from latticework.cli import main
from latticework.errors import ExitCode

PROJECT_DIR = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct-horse-battery"
SECRET_OUTPUT = "s3cr3t-db-password-value"

FAKE_PULUMI = f"""#!{sys.executable}
import json, os, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
record = {{
    "args": args,
    "backend": os.environ.get("PULUMI_BACKEND_URL"),
    "passphrase": bool(os.environ.get("PULUMI_CONFIG_PASSPHRASE")),
}}
if "--policy-pack-config" in args:
    with open(args[args.index("--policy-pack-config") + 1]) as handle:
        record["policyConfig"] = json.load(handle)
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
if args[0] == "version":
    print("v" + os.environ.get("FAKE_PULUMI_VERSION", "3.272.0"))
    sys.exit(0)
if args[0] == "stack" and os.environ.get("FAKE_PULUMI_BACKEND_ERROR"):
    sys.stderr.write(os.environ["FAKE_PULUMI_BACKEND_ERROR"])
    sys.exit(255)
# Stacks exist per backend once `stack init` made them, as in real state.
registry = os.environ["FAKE_PULUMI_LOG"] + ".stacks"
known = open(registry).read().splitlines() if os.path.exists(registry) else []
if args[:2] == ["stack", "select"]:
    name = args[args.index("--stack") + 1]
    if f"{{record['backend']}} {{name}}" not in known:
        sys.stderr.write(f"error: no stack named '{{name}}' found\\n")
        sys.exit(255)
    sys.exit(0)
if args[:2] == ["stack", "init"]:
    name = args[2]
    if "--secrets-provider" in args and not record["passphrase"]:
        sys.stderr.write("error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or "
                         "PULUMI_CONFIG_PASSPHRASE_FILE environment variables\\n")
        sys.exit(255)
    with open(registry, "a") as stacks:
        stacks.write(f"{{record['backend']}} {{name}}\\n")
    if "passphrase" in args:
        # The passphrase provider keeps its salt in the stack file (stackConfigDir: stacks).
        stack_file = os.path.join("stacks", f"Pulumi.{{name}}.yaml")
        with open(stack_file) as source:
            settings = source.read()
        with open(stack_file, "w") as target:
            target.write("encryptionsalt: v1:c2FsdA==:v1:bm9uY2U=:dGFn\\n" + settings)
    print(f"Created stack '{{name}}'")
    sys.exit(0)
if args[:2] == ["stack", "output"]:
    secret = "{SECRET_OUTPUT}" if "--show-secrets" in args else "[secret]"
    print(json.dumps({{"dbPassword": secret, "serviceNetworkId": "sn-0123456789abcdef0"}}))
    sys.exit(0)
if args[:2] == ["stack", "history"]:
    print(json.dumps([{{
        "kind": "update", "startTime": "2026-12-03T18:00:00.000Z", "message": "",
        "environment": {{}}, "config": {{}}, "result": "succeeded",
    }}]))
    sys.exit(0)
if args[0] in ("preview", "up", "destroy", "refresh"):
    events = os.environ.get("FAKE_PULUMI_EVENTS")
    if events and "--event-log" in args:
        target = args[args.index("--event-log") + 1]
        lines = [line for line in open(events).read().splitlines() if line.strip()]
        if target.startswith("tcp://"):
            # From 3.206 the CLI streams each event to the Automation API's gRPC server.
            import grpc
            from pulumi.runtime.proto import events_pb2, events_pb2_grpc
            with grpc.insecure_channel(target.removeprefix("tcp://")) as channel:
                requests = [events_pb2.EventRequest(event=line) for line in lines]
                events_pb2_grpc.EventsStub(channel).StreamEvents(iter(requests), timeout=30)
        else:
            # Before, it appends them to a file the Automation API polls.
            with open(target, "a") as sink:
                sink.write("\\n".join(lines) + "\\n")
    sys.stdout.write(os.environ.get("FAKE_PULUMI_STDOUT", ""))
    sys.stderr.write(os.environ.get("FAKE_PULUMI_STDERR", ""))
    sys.exit(int(os.environ.get("FAKE_PULUMI_EXIT", "255")))
sys.exit(0)
"""

LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other "
    "process(es) to end or delete the lock file with `pulumi cancel`.\n"
)
POLICY_VIOLATIONS = (
    "Policy Violations:\n"
    "    [mandatory]  latticework-guardrails v0.1.0  lattice-auth-type-iam "
    "(orders-lattice-service: aws:vpclattice/service:Service)\n"
    "    Set auth_type to AWS_IAM.\n"
)
NO_CREDENTIALS = (
    "    error: pulumi:providers:aws resource 'default_7_51_1' has a problem: No valid "
    "credential sources found.\n"
)
NO_SUCH_BUCKET = (
    'error: read ".pulumi/meta.yaml": blob (key ".pulumi/meta.yaml") (code=Unknown): '
    "NoSuchBucket: The specified bucket does not exist\n"
)
PROGRAM_CRASH = "    error: Program failed with an unhandled exception:\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the sample stacks and the policy pack's manifest."""
    project_dir = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "stacks", project_dir / "stacks")
    shutil.copy2(PROJECT_DIR / "Pulumi.yaml", project_dir / "Pulumi.yaml")
    pack = project_dir / "policy_packs" / "latticework_guardrails"
    pack.mkdir(parents=True)
    shutil.copy2(
        PROJECT_DIR / "policy_packs" / "latticework_guardrails" / "PulumiPolicy.yaml", pack
    )
    return project_dir


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A directory whose only command is the scripted `pulumi`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI, encoding="utf-8")
    fake.chmod(0o755)
    return bin_dir


@pytest.fixture
def calls_log(tmp_path: Path) -> Path:
    """Where the scripted pulumi records its calls."""
    return tmp_path / "pulumi-calls.jsonl"


def _invoke(
    args: list[str],
    *,
    project: Path,
    path: Path,
    calls_log: Path,
    stdout: str = "",
    stderr: str = "",
    passphrase: str | None = PASSPHRASE,
    extra_env: dict[str, str] | None = None,
) -> Result:
    env: dict[str, str | None] = {
        "PATH": str(path),
        "FAKE_PULUMI_LOG": str(calls_log),
        "FAKE_PULUMI_STDOUT": stdout,
        "FAKE_PULUMI_STDERR": stderr,
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_CONFIG_PASSPHRASE_FILE": None,
        "LATTICEWORK_BACKEND_URL": None,
        **(extra_env or {}),
    }
    return CliRunner().invoke(main, [*args, "--project-dir", str(project)], env=env)


def _calls(calls_log: Path) -> list[dict[str, Any]]:
    if not calls_log.exists():
        return []
    return [json.loads(line) for line in calls_log.read_text(encoding="utf-8").splitlines()]


def _existing_stack(calls_log: Path, project: Path, environment: str = "dev") -> None:
    """Make the scripted pulumi know `environment`'s stack in the project's file backend."""
    backend = (project / ".latticework" / "state").resolve().as_uri()
    with Path(f"{calls_log}.stacks").open("a", encoding="utf-8") as registry:
        registry.write(f"{backend} {environment}\n")


def _one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("operation", ["preview", "up", "refresh", "drift", "outputs"])
def test_missing_pulumi_cli_exits_5_with_install_hint(
    operation: str, project: Path, tmp_path: Path, calls_log: Path
) -> None:
    """With no pulumi on PATH every real-engine command exits 5 and says how to install it."""
    empty_bin = tmp_path / "empty"
    empty_bin.mkdir()

    result = _invoke(
        [operation, "--env", "dev"], project=project, path=empty_bin, calls_log=calls_log
    )

    assert result.exit_code == ExitCode.MISSING_PULUMI_CLI
    assert "get.pulumi.com" in _one_error_line(result)


def test_missing_pulumi_cli_as_a_real_process(project: Path, tmp_path: Path) -> None:
    """The installed CLI, run as a subprocess with a PATH lacking pulumi, exits 5."""
    empty_bin = tmp_path / "empty"
    empty_bin.mkdir()

    completed = subprocess.run(
        [sys.executable, "-m", "latticework", "preview", "--env", "dev", "--project-dir", project],
        cwd=tmp_path,
        env={"PATH": str(empty_bin), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert completed.returncode == ExitCode.MISSING_PULUMI_CLI
    assert completed.stderr.startswith("error: the pulumi CLI is not on PATH")


def test_missing_passphrase_exits_6_before_running_pulumi(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """File state without a passphrase exits 6 naming the variables, before any stack call."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        passphrase=None,
    )

    assert result.exit_code == ExitCode.MISSING_CREDENTIALS
    assert "PULUMI_CONFIG_PASSPHRASE" in _one_error_line(result)
    assert _calls(calls_log) == []


def test_empty_passphrase_is_refused_as_empty(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """An empty PULUMI_CONFIG_PASSPHRASE is refused and the message says it is set but empty."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        passphrase="",
    )

    assert result.exit_code == ExitCode.MISSING_CREDENTIALS
    assert "PULUMI_CONFIG_PASSPHRASE is set but empty" in _one_error_line(result)
    assert _calls(calls_log) == []


def test_passphrase_file_that_does_not_exist_is_refused(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path
) -> None:
    """PULUMI_CONFIG_PASSPHRASE_FILE naming no file exits 6 naming the path, before pulumi runs."""
    missing = tmp_path / "no-such-passphrase"

    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        passphrase=None,
        extra_env={"PULUMI_CONFIG_PASSPHRASE_FILE": str(missing)},
    )

    assert result.exit_code == ExitCode.MISSING_CREDENTIALS
    assert f"PULUMI_CONFIG_PASSPHRASE_FILE names {missing}, which is not a file" in (
        _one_error_line(result)
    )
    assert _calls(calls_log) == []


def test_preview_attaches_the_pack_and_uses_the_project_file_backend(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """Preview runs on file state under the project with the local pack and its env config."""
    _invoke(
        ["preview", "--env", "prod"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stderr=LOCKED,
    )

    (preview_call,) = [call for call in _calls(calls_log) if call["args"][0] == "preview"]
    args = preview_call["args"]
    assert preview_call["backend"] == (project / ".latticework" / "state").resolve().as_uri()
    assert preview_call["passphrase"] is True
    assert args[args.index("--policy-pack") + 1] == str(
        (project / "policy_packs" / "latticework_guardrails").resolve()
    )
    assert args[args.index("--stack") + 1] == "prod"
    scoped = preview_call["policyConfig"]["lattice-auth-policy-scoped"]
    assert scoped["allowedOrganizationIds"] == ["o-7k2m9x4q1z"]
    assert (project / ".latticework" / "state").is_dir()


def test_first_command_creates_the_stack_with_the_passphrase_provider_then_selects_it(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """A new environment's stack is created once, with passphrase secrets; later it is selected."""
    for _ in range(2):
        _invoke(
            ["preview", "--env", "staging"],
            project=project,
            path=fake_bin,
            calls_log=calls_log,
            stderr=LOCKED,
        )

    stack_calls = [call["args"] for call in _calls(calls_log) if call["args"][0] == "stack"]
    assert stack_calls == [
        ["stack", "select", "--stack", "staging"],
        ["stack", "init", "staging", "--secrets-provider", "passphrase"],
        ["stack", "select", "--stack", "staging"],
    ]


def test_backend_that_cannot_be_opened_names_the_cause(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """A state bucket that does not exist fails stack selection with the CLI's own cause."""
    result = _invoke(
        ["preview", "--env", "dev", "--backend-url", "s3://no-such-bucket/state"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={"FAKE_PULUMI_BACKEND_ERROR": NO_SUCH_BUCKET},
    )

    assert result.exit_code == ExitCode.PROGRAM_ERROR
    line = _one_error_line(result)
    assert "NoSuchBucket: The specified bucket does not exist" in line
    assert "code: 255" not in line


def test_failure_without_any_output_says_so(project: Path, fake_bin: Path, calls_log: Path) -> None:
    """A CLI that fails silently is a program error saying so, not the exit code's text."""
    result = _invoke(
        ["preview", "--env", "dev"], project=project, path=fake_bin, calls_log=calls_log
    )

    assert result.exit_code == ExitCode.PROGRAM_ERROR
    assert _one_error_line(result).endswith(
        "the pulumi CLI reported no cause; re-run with the pulumi CLI directly to see it"
    )


def test_preview_without_engine_events_is_a_program_error(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """A CLI that succeeds but sends no engine events (so no summary) exits 3, no traceback."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={"FAKE_PULUMI_EXIT": "0"},
    )

    assert result.exit_code == ExitCode.PROGRAM_ERROR
    assert "no engine events" in _one_error_line(result)


def test_stack_locked_exits_4(project: Path, fake_bin: Path, calls_log: Path) -> None:
    """A locked stack exits 4 with one line saying how to clear a stale lock."""
    result = _invoke(
        ["up", "--env", "dev"], project=project, path=fake_bin, calls_log=calls_log, stderr=LOCKED
    )

    assert result.exit_code == ExitCode.STACK_LOCKED
    assert "locked by another update" in _one_error_line(result)


def test_policy_violation_exits_1(project: Path, fake_bin: Path, calls_log: Path) -> None:
    """A preview failed by a mandatory policy exits 1 naming the policy and the resource."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stdout=POLICY_VIOLATIONS,
        stderr="error: preview failed\n",
    )

    assert result.exit_code == ExitCode.POLICY_VIOLATION
    assert "lattice-auth-type-iam (orders-lattice-service" in _one_error_line(result)


def test_missing_cloud_credentials_exits_6(project: Path, fake_bin: Path, calls_log: Path) -> None:
    """A provider without AWS credentials exits 6 with where to set them."""
    result = _invoke(
        ["up", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stdout=NO_CREDENTIALS,
        stderr="error: update failed\n",
    )

    assert result.exit_code == ExitCode.MISSING_CREDENTIALS
    assert "AWS_PROFILE" in _one_error_line(result)


def test_program_error_exits_3(project: Path, fake_bin: Path, calls_log: Path) -> None:
    """A crashing program exits 3 with the first real cause."""
    _existing_stack(calls_log, project)

    result = _invoke(
        ["refresh", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stdout=PROGRAM_CRASH,
        stderr="error: refresh failed\n",
    )

    assert result.exit_code == ExitCode.PROGRAM_ERROR
    assert "Program failed with an unhandled exception" in _one_error_line(result)


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_outputs_mask_secret_values(
    project: Path, fake_bin: Path, calls_log: Path, output_format: str
) -> None:
    """Stack outputs print with secret outputs masked, in text and JSON."""
    _existing_stack(calls_log, project)

    result = _invoke(
        ["outputs", "--env", "dev", "--format", output_format],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
    )

    assert result.exit_code == 0, result.output
    assert SECRET_OUTPUT not in result.output
    if output_format == "json":
        assert json.loads(result.stdout) == {
            "dbPassword": "[secret]",
            "serviceNetworkId": "sn-0123456789abcdef0",
        }
    else:
        assert 'dbPassword: "[secret]"' in result.stdout


def test_s3_backend_needs_a_passphrase_and_is_passed_through(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """An s3:// backend is handed to pulumi and, being self-managed, uses the passphrase."""
    _invoke(
        ["preview", "--env", "dev", "--backend-url", "s3://state-bucket/latticework"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stderr=LOCKED,
    )
    refused = _invoke(
        ["preview", "--env", "dev", "--backend-url", "s3://state-bucket/latticework"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        passphrase=None,
    )

    backends = {call["backend"] for call in _calls(calls_log) if call["args"][0] != "version"}
    assert backends == {"s3://state-bucket/latticework"}
    assert refused.exit_code == ExitCode.MISSING_CREDENTIALS
    assert not (project / ".latticework").exists()


def test_pulumi_cloud_backend_needs_no_passphrase(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """Pulumi Cloud keeps its own secrets provider, so no passphrase is asked for."""
    result = _invoke(
        ["preview", "--env", "dev", "--backend-url", "https://api.pulumi.com"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stderr=LOCKED,
        passphrase=None,
    )

    assert result.exit_code == ExitCode.STACK_LOCKED
    inits = [call["args"] for call in _calls(calls_log) if call["args"][:2] == ["stack", "init"]]
    assert inits == [["stack", "init", "dev"]]


def test_destroy_without_yes_and_without_terminal_is_refused(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """destroy asks for confirmation; with no terminal and no --yes it exits 2 untouched."""
    result = _invoke(
        ["destroy", "--env", "dev"], project=project, path=fake_bin, calls_log=calls_log
    )

    assert result.exit_code == ExitCode.USAGE
    assert "--yes" in _one_error_line(result)
    assert _calls(calls_log) == []


def test_unknown_environment_is_a_usage_error(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """An environment outside dev, staging and prod is rejected by the option itself."""
    result = _invoke(
        ["preview", "--env", "qa"], project=project, path=fake_bin, calls_log=calls_log
    )

    assert result.exit_code == ExitCode.USAGE
    assert _calls(calls_log) == []


SERVICE_URN = "urn:pulumi:dev::latticework::aws:vpclattice/service:Service::orders-lattice-service"
STACK_URN = "urn:pulumi:dev::latticework::pulumi:pulumi:Stack::latticework-dev"


def _step_event(sequence: int, kind: str, op: str, urn: str, resource_type: str) -> str:
    metadata = {"op": op, "urn": urn, "type": resource_type, "provider": ""}
    return json.dumps({"sequence": sequence, "timestamp": 1, kind: {"metadata": metadata}})


def _policy_event(sequence: int, level: str) -> str:
    policy = {
        "resourceUrn": SERVICE_URN,
        "message": "Set auth_type to AWS_IAM.",
        "color": "raw",
        "policyName": "lattice-auth-type-iam",
        "policyPackName": "latticework-guardrails",
        "policyPackVersion": "0.1.0",
        "policyPackVersionTag": "0.1.0",
        "enforcementLevel": level,
    }
    return json.dumps({"sequence": sequence, "timestamp": 1, "policyEvent": policy})


def _event_log(tmp_path: Path, level: str = "advisory") -> dict[str, str]:
    """An event log as the CLI writes it for a preview creating one Lattice service."""
    lines = [
        _step_event(1, "resourcePreEvent", "create", STACK_URN, "pulumi:pulumi:Stack"),
        _step_event(2, "resourcePreEvent", "create", SERVICE_URN, "aws:vpclattice/service:Service"),
        _step_event(3, "resOutputsEvent", "create", SERVICE_URN, "aws:vpclattice/service:Service"),
        _policy_event(4, level),
        json.dumps(
            {
                "sequence": 5,
                "timestamp": 1,
                "summaryEvent": {"resourceChanges": {"create": 2}, "PolicyPacks": {}},
            }
        ),
        json.dumps({"sequence": 6, "timestamp": 1, "cancelEvent": {}}),
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"FAKE_PULUMI_EVENTS": str(events)}


# 3.272 streams engine events over gRPC, CLIs before 3.206 through a file.
@pytest.mark.parametrize("cli_version", ["3.272.0", "3.200.0"])
def test_preview_prints_live_progress_and_a_closing_summary(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path, cli_version: str
) -> None:
    """Engine events show as progress on stderr; the summary of changes and findings on stdout."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={
            **_event_log(tmp_path),
            "FAKE_PULUMI_EXIT": "0",
            "FAKE_PULUMI_VERSION": cli_version,
        },
    )

    assert result.exit_code == 0, result.output
    assert ".. create: aws:vpclattice/service:Service orders-lattice-service" in result.stderr
    assert "** [advisory] lattice-auth-type-iam: Set auth_type to AWS_IAM." in result.stderr
    assert result.stdout.splitlines() == [
        "preview of dev: 2 to create",
        "policy findings (1):",
        "  [advisory] lattice-auth-type-iam on orders-lattice-service: Set auth_type to AWS_IAM.",
    ]


def test_preview_json_is_one_document(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path
) -> None:
    """--format json prints one JSON document with the changes and the findings."""
    result = _invoke(
        ["preview", "--env", "dev", "--format", "json"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={**_event_log(tmp_path), "FAKE_PULUMI_EXIT": "0"},
    )

    document = json.loads(result.stdout)
    assert document["changes"] == {"create": 2}
    assert [finding["policy"] for finding in document["findings"]] == ["lattice-auth-type-iam"]
    assert "orders-lattice-service" not in result.stderr


def test_mandatory_policy_event_makes_a_failed_preview_a_violation(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path
) -> None:
    """A failed preview whose events carry a mandatory result exits 1, even with no report text."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        stderr="error: preview failed\n",
        extra_env=_event_log(tmp_path, level="mandatory"),
    )

    assert result.exit_code == ExitCode.POLICY_VIOLATION
    assert "lattice-auth-type-iam (orders-lattice-service)" in _one_error_line(result)


def test_up_summary_shows_outputs_with_secrets_masked(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path
) -> None:
    """After `up`, the summary lists the stack outputs with the secret one masked."""
    result = _invoke(
        ["up", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={**_event_log(tmp_path), "FAKE_PULUMI_EXIT": "0"},
    )

    assert result.exit_code == 0, result.output
    assert 'dbPassword: "[secret]"' in result.stdout
    assert 'serviceNetworkId: "sn-0123456789abcdef0"' in result.stdout
    assert SECRET_OUTPUT not in result.output


def test_too_old_pulumi_cli_exits_5_with_the_version(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """A pulumi CLI older than the Automation API supports exits 5 naming both versions."""
    result = _invoke(
        ["preview", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={"FAKE_PULUMI_VERSION": "3.0.0"},
    )

    assert result.exit_code == ExitCode.MISSING_PULUMI_CLI
    line = _one_error_line(result)
    assert "your current CLI version is 3.0.0" in line
    assert "get.pulumi.com" in line


def _drift_log(tmp_path: Path, *, drifted: bool) -> dict[str, str]:
    """A refresh preview's event log: the service changed outside Pulumi, or unchanged."""
    resource_type = "aws:vpclattice/service:Service"
    old = {"type": resource_type, "urn": SERVICE_URN, "outputs": {"authType": "AWS_IAM"}}
    new = {**old, "outputs": {"authType": "NONE" if drifted else "AWS_IAM"}}
    metadata = {"op": "refresh", "urn": SERVICE_URN, "type": resource_type, "provider": ""}
    lines = [
        json.dumps(
            {
                "sequence": 1,
                "timestamp": 1,
                "resourcePreEvent": {"metadata": {**metadata, "old": old}},
            }
        ),
        json.dumps(
            {
                "sequence": 2,
                "timestamp": 1,
                "resOutputsEvent": {"metadata": {**metadata, "old": old, "new": new}},
            }
        ),
        json.dumps(
            {
                "sequence": 3,
                "timestamp": 1,
                "summaryEvent": {
                    "resourceChanges": {"update" if drifted else "same": 1},
                    "PolicyPacks": {},
                },
            }
        ),
        # The CLI always closes its event stream with a cancel event.
        json.dumps({"sequence": 4, "timestamp": 1, "cancelEvent": {}}),
    ]
    events = tmp_path / "drift-events.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {
        "FAKE_PULUMI_EVENTS": str(events),
        "FAKE_PULUMI_EXIT": "0",
    }


@pytest.mark.parametrize(
    ("drifted", "flags", "exit_code"),
    [
        (True, [], 0),
        (True, ["--exit-code"], 1),
        (False, ["--exit-code"], 0),
        (True, ["--exit-code", "--format", "json"], 1),
    ],
)
def test_drift_lists_changed_resources_and_exit_code_flags_drift(
    project: Path,
    fake_bin: Path,
    calls_log: Path,
    tmp_path: Path,
    drifted: bool,
    flags: list[str],
    exit_code: int,
) -> None:
    """drift lists what changed outside Pulumi; with --exit-code, drift found exits 1 for CI."""
    _existing_stack(calls_log, project)

    result = _invoke(
        ["drift", "--env", "dev", *flags],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env=_drift_log(tmp_path, drifted=drifted),
    )

    assert result.exit_code == exit_code, result.output
    if "json" in flags:
        assert json.loads(result.stdout)["drifted"] == 1
    elif drifted:
        assert "update: aws:vpclattice/service:Service orders-lattice-service" in result.stdout
    else:
        assert result.stdout == "no drift in dev\n"
    refresh_call = next(c["args"] for c in _calls(calls_log) if c["args"][0] == "refresh")
    assert "--preview-only" in refresh_call


def test_file_backend_directory_is_made_where_pulumi_looks(
    tmp_path: Path, fake_bin: Path, calls_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """file://~ is the home directory, a relative path is under the project, %20 a space."""
    project_dir = tmp_path / "my project"
    shutil.copytree(PROJECT_DIR / "stacks", project_dir / "stacks")
    shutil.copy2(PROJECT_DIR / "Pulumi.yaml", project_dir / "Pulumi.yaml")
    home = tmp_path / "home"
    home.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    for backend in ("file://~/lw-state", "file://relative-state", None):
        backend_args = ["--backend-url", backend] if backend else []
        _invoke(
            ["outputs", "--env", "dev", *backend_args],
            project=project_dir,
            path=fake_bin,
            calls_log=calls_log,
            extra_env={"HOME": str(home)},
        )

    assert (home / "lw-state").is_dir()
    assert (project_dir / "relative-state").is_dir()
    assert (project_dir / ".latticework" / "state").is_dir()
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path / "my%20project").exists()


def test_pulumi_cli_that_cannot_report_its_version_exits_5(
    project: Path, tmp_path: Path, calls_log: Path
) -> None:
    """A broken pulumi on PATH (its `version` fails) exits 5 with how to reinstall, no traceback."""
    bin_dir = tmp_path / "broken"
    bin_dir.mkdir()
    broken = bin_dir / "pulumi"
    broken.write_text(f"#!{sys.executable}\nimport sys\nsys.exit(2)\n", encoding="utf-8")
    broken.chmod(0o755)

    result = _invoke(
        ["preview", "--env", "dev"], project=project, path=bin_dir, calls_log=calls_log
    )

    assert result.exit_code == ExitCode.MISSING_PULUMI_CLI
    line = _one_error_line(result)
    assert "`pulumi version` exited 2" in line
    assert "get.pulumi.com" in line


@pytest.mark.parametrize(
    "backend",
    [
        "",
        "s3:/state-bucket",
        "state-bucket",
        "ftp://host/state",
        "https://",
        "s3://",
        "http://pulumi.example.com",
        "http://[::1",
        "s3:///latticework",
        "gs:///state",
        "https://?x",
        "s3:// ",
    ],
)
@pytest.mark.parametrize("command", [["preview", "--env", "dev"], ["rollout", "--envs", "dev"]])
def test_backend_url_without_a_known_scheme_is_a_usage_error(
    project: Path, fake_bin: Path, calls_log: Path, backend: str, command: list[str]
) -> None:
    """An empty or scheme-less backend URL is refused before anything runs, naming the schemes."""
    result = _invoke(
        [*command, "--backend-url", backend], project=project, path=fake_bin, calls_log=calls_log
    )

    assert result.exit_code == ExitCode.USAGE
    line = _one_error_line(result)
    assert "--backend-url" in line
    assert "s3://" in line
    assert _calls(calls_log) == []
    assert not (project / ".latticework").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["outputs", "--env", "prod"],
        ["drift", "--env", "prod"],
        ["refresh", "--env", "prod"],
        ["destroy", "--env", "prod", "--yes"],
    ],
)
def test_commands_on_existing_stacks_never_create_one(
    project: Path, fake_bin: Path, calls_log: Path, command: list[str]
) -> None:
    """outputs, drift, refresh and destroy on a backend without the stack exit 2, creating none."""
    stack_file = project / "stacks" / "Pulumi.prod.yaml"
    before = stack_file.read_text(encoding="utf-8")

    result = _invoke(
        [*command, "--backend-url", "s3://wrong-bucket/state"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={"FAKE_PULUMI_EXIT": "0"},
    )

    assert result.exit_code == ExitCode.USAGE
    line = _one_error_line(result)
    assert "no stack 'prod' in the s3://wrong-bucket/state backend" in line
    assert "--backend-url" in line
    assert [call["args"][:2] for call in _calls(calls_log) if call["args"][0] == "stack"] == [
        ["stack", "select"]
    ]
    assert stack_file.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(
    "command", [["preview", "--env", "dev"], ["outputs", "--env", "dev"], ["rollout", "--offline"]]
)
def test_directory_without_a_pulumi_project_is_a_usage_error(
    tmp_path: Path, fake_bin: Path, calls_log: Path, command: list[str]
) -> None:
    """Outside a project every command exits 2 naming Pulumi.yaml and leaves nothing behind."""
    not_a_project = tmp_path / "elsewhere"
    not_a_project.mkdir()

    result = _invoke(command, project=not_a_project, path=fake_bin, calls_log=calls_log)

    assert result.exit_code == ExitCode.USAGE
    assert "Pulumi.yaml" in _one_error_line(result)
    assert list(not_a_project.iterdir()) == []
    assert _calls(calls_log) == []


def test_up_of_an_environment_requiring_approval_needs_yes(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path
) -> None:
    """prod requires approval: `up` with no terminal and no --yes exits 2 and deploys nothing."""
    refused = _invoke(["up", "--env", "prod"], project=project, path=fake_bin, calls_log=calls_log)
    refused_calls = _calls(calls_log)

    approved = _invoke(
        ["up", "--env", "prod", "--yes"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={**_event_log(tmp_path), "FAKE_PULUMI_EXIT": "0"},
    )

    assert refused.exit_code == ExitCode.USAGE
    line = _one_error_line(refused)
    assert "rollout.requireApproval" in line
    assert "--yes" in line
    assert refused_calls == []
    assert approved.exit_code == 0, approved.output


def test_up_of_an_environment_without_approval_needs_no_yes(
    project: Path, fake_bin: Path, calls_log: Path, tmp_path: Path
) -> None:
    """dev requires no approval: `up` deploys with no terminal and no --yes."""
    result = _invoke(
        ["up", "--env", "dev"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={**_event_log(tmp_path), "FAKE_PULUMI_EXIT": "0"},
    )

    assert result.exit_code == 0, result.output
    assert any(call["args"][0] == "up" for call in _calls(calls_log))


def test_no_stack_message_never_shows_the_backend_password(
    project: Path, fake_bin: Path, calls_log: Path
) -> None:
    """ "no stack in the ... backend" names the backend with its password masked."""
    result = _invoke(
        ["outputs", "--env", "prod", "--backend-url", "postgres://deployer:hunter2@db/state"],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
        extra_env={"FAKE_PULUMI_EXIT": "0"},
    )

    assert result.exit_code == ExitCode.USAGE
    line = _one_error_line(result)
    assert "no stack 'prod' in the postgres://deployer:***@db/state backend" in line
    assert "hunter2" not in result.output


@pytest.mark.parametrize("command", ["preview", "up", "destroy", "drift", "outputs", "rollout"])
def test_help_names_the_backend_environment_variable(command: str) -> None:
    """--help says --backend-url can come from LATTICEWORK_BACKEND_URL, as CI sets it."""
    result = CliRunner().invoke(main, [command, "--help"])

    assert result.exit_code == 0
    assert "LATTICEWORK_BACKEND_URL" in result.output


@pytest.mark.parametrize(
    "backend",
    [
        "https://api.pulumi.com",
        "http://localhost:8080",
        "http://[::1]:8080",
        "s3://state-bucket/latticework",
        "file:///srv/state",
        "postgres://user:pw@db.internal/state",
    ],
)
def test_backend_urls_the_cli_knows_are_kept_as_given(backend: str) -> None:
    """A URL of a known scheme, with a place after it, goes to the pulumi CLI unchanged."""
    assert check_backend_url(backend) == backend


def _no_backend_url(backend: str) -> str:
    return f"a value of {len(backend)} characters that is no backend URL"


@pytest.mark.parametrize(
    ("backend", "secret", "shown"),
    [
        (
            "postgresql://deployer:hunter2-db-pass@db.internal/state",
            "hunter2",
            "a URL to db.internal with the scheme postgresql://, which no pulumi backend uses",
        ),
        ("postgres:/u:hunter2@x", "hunter2", _no_backend_url("postgres:/u:hunter2@x")),
        # libpq-style URLs carry the password in the query.
        (
            "postgresql://db.internal/pulumi?user=admin&password=hunter2",
            "hunter2",
            "a URL to db.internal with the scheme postgresql://, which no pulumi backend uses",
        ),
        (
            "host=db.internal user=pulumi password=S3cretPassw0rd",
            "S3cretPassw0rd",
            _no_backend_url("host=db.internal user=pulumi password=S3cretPassw0rd"),
        ),
        (
            "postgres://db.internal/state password=S3cretPassw0rd",
            "S3cretPassw0rd",
            _no_backend_url("postgres://db.internal/state password=S3cretPassw0rd"),
        ),
        ("ftp://x", "ftp://x/", "a URL to x with the scheme ftp://, which no pulumi backend uses"),
        (
            "HTTPS://api.pulumi.com",
            "not this machine",
            "a URL to api.pulumi.com with the scheme HTTPS:// in capitals",
        ),
        (
            "Http://localhost:8080",
            "not this machine",
            "a URL to localhost with the scheme Http:// in capitals",
        ),
        # A token as the user name of a URL that is refused for its scheme.
        (
            "http://pul-0123456789abcdef0123456789abcdef01234567@pulumi.internal:8080",
            "0123456789abcdef0123",
            "a URL http:// to pulumi.internal, which is not this machine",
        ),
    ],
)
def test_a_refused_backend_url_shows_only_its_scheme_and_host(
    project: Path, fake_bin: Path, calls_log: Path, backend: str, secret: str, shown: str
) -> None:
    """Whatever a refused value carries (a password, a keyword DSN, a token as user), the
    refusal shows only its scheme and host, or its length when it has no scheme and host."""
    result = _invoke(
        ["preview", "--env", "dev", "--backend-url", backend],
        project=project,
        path=fake_bin,
        calls_log=calls_log,
    )

    assert result.exit_code == ExitCode.USAGE
    line = _one_error_line(result)
    assert "--backend-url" in line
    assert f"found {shown}." in line
    assert secret not in result.output
