"""Rollouts through the gates with a scripted engine that injects each failure kind."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.errors import SpecError
from components.spec import RolloutSettings
from latticework.engine import (
    EngineResult,
    Operation,
    PolicyFinding,
    ResourceChange,
    StackOutput,
)
from latticework.errors import (
    GateFailedError,
    PolicyViolationError,
    ProgramError,
    StackLockedError,
    UsageError,
)
from latticework.rollout import (
    GateReport,
    HealthCheck,
    Rollout,
    RolloutIdentity,
    RolloutRequest,
    RolloutStateStore,
    RolloutStatus,
    Step,
    catalog_digest,
)

ENVIRONMENTS = ("dev", "staging", "prod")
IDENTITY = RolloutIdentity(commit="a" * 40, catalog_digest="b" * 64)
OUTPUTS = {"serviceNetworkArn": "arn:aws:vpc-lattice:eu-west-1:111122223333:sn/x"}

Outcome = EngineResult | BaseException | Callable[[str], EngineResult]


def result(
    environment: str,
    operation: Operation = Operation.PREVIEW,
    *,
    changes: tuple[ResourceChange, ...] = (),
    findings: tuple[PolicyFinding, ...] = (),
    outputs: Mapping[str, object] | None = None,
) -> EngineResult:
    """A clean engine result with the expected outputs unless told otherwise."""
    values = OUTPUTS if outputs is None else outputs
    return EngineResult(
        environment=environment,
        operation=operation,
        changes=changes,
        findings=findings,
        outputs={name: StackOutput(value) for name, value in values.items()},
    )


MANDATORY = PolicyFinding(
    policy_name="lattice-auth-type-iam",
    enforcement_level="mandatory",
    message="Set auth_type to AWS_IAM.",
    resource_urn="urn:pulumi:staging::latticework::aws:vpclattice/service:Service::orders",
)


@dataclass
class ScriptedEngine:
    """An Engine whose answers per operation and environment are scripted by the test."""

    previews: dict[str, Outcome] = field(default_factory=dict)
    ups: dict[str, Outcome] = field(default_factory=dict)
    stack_outputs: dict[str, Mapping[str, StackOutput]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def preview(self, environment: str) -> EngineResult:
        self.calls.append(("preview", environment))
        return _answer(self.previews.get(environment), environment, Operation.PREVIEW)

    def up(self, environment: str) -> EngineResult:
        self.calls.append(("up", environment))
        return _answer(self.ups.get(environment), environment, Operation.UP)

    def outputs(self, environment: str) -> Mapping[str, StackOutput]:
        self.calls.append(("outputs", environment))
        return self.stack_outputs.get(environment, result(environment).outputs)


def _answer(outcome: Outcome | None, environment: str, operation: Operation) -> EngineResult:
    if outcome is None:
        return result(environment, operation)
    if isinstance(outcome, BaseException):
        raise outcome
    if callable(outcome):
        return outcome(environment)
    return outcome


@dataclass
class Harness:
    """A rollout over scripted engines, a state file in tmp_path and recorded reports."""

    tmp_path: Path
    plan_engine: ScriptedEngine = field(default_factory=ScriptedEngine)
    deploy_engine: ScriptedEngine = field(default_factory=ScriptedEngine)
    settings: dict[str, RolloutSettings] = field(default_factory=dict)
    approvals: list[str] = field(default_factory=list)
    approve: bool = True
    reports: list[GateReport] = field(default_factory=list)
    raise_if_interrupted: Callable[[], None] = lambda: None

    @property
    def store(self) -> RolloutStateStore:
        return RolloutStateStore(self.tmp_path / ".latticework" / "rollout.json")

    def rollout(self) -> Rollout:
        def approver(environment: str, preview: EngineResult | None) -> bool:
            self.approvals.append(environment)
            return self.approve

        return Rollout(
            plan_engine=self.plan_engine,
            deploy_engine=self.deploy_engine,
            settings=lambda env: self.settings.get(env, RolloutSettings()),
            store=self.store,
            approver=approver,
            report=self.reports.append,
            health_check=HealthCheck(attempts=1, pause_seconds=0, timeout_seconds=2),
            raise_if_interrupted=self.raise_if_interrupted,
        )

    def run(self, identity: RolloutIdentity = IDENTITY, **request: object) -> RolloutStatus:
        options: dict[str, object] = {"environments": ENVIRONMENTS, **request}
        state = self.rollout().run(RolloutRequest(**options), identity)  # type: ignore[arg-type]
        return state.status


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    """A fresh rollout harness per test."""
    return Harness(tmp_path)


def test_clean_rollout_runs_every_gate_in_order(harness: Harness) -> None:
    """A clean rollout plans, previews, deploys and verifies each environment in order."""
    status = harness.run()

    assert status is RolloutStatus.DONE
    assert harness.plan_engine.calls == [("preview", env) for env in ENVIRONMENTS]
    assert harness.deploy_engine.calls == [
        call for env in ENVIRONMENTS for call in (("preview", env), ("up", env))
    ]
    assert [(r.environment, r.step, r.outcome) for r in harness.reports if r.outcome != "started"][
        :5
    ] == [
        ("dev", Step.PLAN, "passed"),
        ("dev", Step.PREVIEW, "passed"),
        ("dev", Step.APPROVAL, "skipped"),
        ("dev", Step.UP, "passed"),
        ("dev", Step.VERIFY, "passed"),
    ]
    assert harness.store.load().status is RolloutStatus.DONE  # type: ignore[union-attr]


def test_mandatory_finding_in_the_offline_plan_stops_at_gate_1(harness: Harness) -> None:
    """A mandatory finding of the offline plan stops the rollout before any preview."""
    harness.plan_engine.previews["dev"] = result("dev", findings=(MANDATORY,))

    with pytest.raises(GateFailedError, match=r"gate 1 \(plan\) stopped dev.*lattice-auth"):
        harness.run()

    assert harness.deploy_engine.calls == []


def test_preview_violation_stops_before_later_environments(harness: Harness) -> None:
    """A mandatory violation in staging's preview stops there; prod is never touched."""
    harness.deploy_engine.previews["staging"] = result("staging", findings=(MANDATORY,))

    with pytest.raises(GateFailedError, match=r"gate 2 \(preview\) stopped staging.*orders"):
        harness.run()

    assert ("up", "staging") not in harness.deploy_engine.calls
    assert all(env != "prod" for _, env in harness.deploy_engine.calls + harness.plan_engine.calls)
    saved = harness.store.load()
    assert saved is not None
    assert (saved.environment, saved.completed_step, saved.status) == (
        "staging",
        Step.PLAN,
        RolloutStatus.FAILED,
    )
    assert "lattice-auth-type-iam" in (saved.failure or "")


def test_policy_violation_error_from_the_engine_is_a_gate_stop(harness: Harness) -> None:
    """The real engine fails a preview with PolicyViolationError; gate 2 reports it as a stop."""
    harness.deploy_engine.previews["dev"] = PolicyViolationError("preview of 'dev': 1 mandatory")

    with pytest.raises(GateFailedError, match=r"gate 2 \(preview\) stopped dev"):
        harness.run()

    assert ("up", "dev") not in harness.deploy_engine.calls


@pytest.mark.parametrize("operation", ["replace", "delete", "create-replacement"])
def test_replacing_a_protected_resource_needs_allow_replace(
    harness: Harness, operation: str
) -> None:
    """Replacing or deleting a policy store stops gate 2 unless --allow-replace is given."""
    change = ResourceChange(
        urn="urn:pulumi:dev::latticework::aws:verifiedpermissions/policyStore:PolicyStore::store",
        resource_type="aws:verifiedpermissions/policyStore:PolicyStore",
        operation=operation,
    )
    harness.deploy_engine.previews["dev"] = result("dev", changes=(change,))

    with pytest.raises(GateFailedError, match=rf"would {operation} .*PolicyStore store.*allow"):
        harness.run()

    assert ("up", "dev") not in harness.deploy_engine.calls


def test_allow_replace_lets_a_protected_replace_through(harness: Harness) -> None:
    """With --allow-replace the same protected replacement is deployed."""
    change = ResourceChange(
        urn="urn:pulumi:dev::latticework::aws:kms/key:Key::secrets-key",
        resource_type="aws:kms/key:Key",
        operation="replace",
    )
    harness.deploy_engine.previews["dev"] = result("dev", changes=(change,))

    status = harness.run(environments=("dev",), allow_replace=True)

    assert status is RolloutStatus.DONE
    assert ("up", "dev") in harness.deploy_engine.calls


def test_replacing_an_unprotected_resource_passes_gate_2(harness: Harness) -> None:
    """A replaced task definition is routine and passes gate 2 without --allow-replace."""
    change = ResourceChange(
        urn="urn:pulumi:dev::latticework::aws:ecs/taskDefinition:TaskDefinition::orders",
        resource_type="aws:ecs/taskDefinition:TaskDefinition",
        operation="replace",
    )
    harness.deploy_engine.previews["dev"] = result("dev", changes=(change,))

    assert harness.run(environments=("dev",)) is RolloutStatus.DONE


def test_approval_needed_without_yes_and_without_terminal_stops(harness: Harness) -> None:
    """Prod requires approval; with no --yes and no terminal the rollout stops before up."""
    harness.settings["prod"] = RolloutSettings(require_approval=True)

    with pytest.raises(GateFailedError, match=r"gate 3 \(approval\) stopped prod.*--yes"):
        harness.run(interactive=False)

    assert ("up", "staging") in harness.deploy_engine.calls
    assert ("up", "prod") not in harness.deploy_engine.calls
    assert harness.approvals == []


def test_declined_approval_stops(harness: Harness) -> None:
    """A person at the terminal who declines stops the rollout before prod is deployed."""
    harness.settings["prod"] = RolloutSettings(require_approval=True)
    harness.approve = False

    with pytest.raises(GateFailedError, match="deployment of prod declined"):
        harness.run(interactive=True)

    assert harness.approvals == ["prod"]
    assert ("up", "prod") not in harness.deploy_engine.calls


def test_yes_approves_without_asking(harness: Harness) -> None:
    """--yes approves an environment that requires approval without asking anyone."""
    harness.settings["prod"] = RolloutSettings(require_approval=True)

    status = harness.run(assume_yes=True)

    assert status is RolloutStatus.DONE
    assert harness.approvals == []
    assert ("up", "prod") in harness.deploy_engine.calls


def test_up_failure_keeps_its_error_kind_and_stops(harness: Harness) -> None:
    """A failed `up` in staging raises its own error kind and prod is never touched."""
    harness.deploy_engine.ups["staging"] = ProgramError("up of 'staging' failed: boom")

    with pytest.raises(ProgramError, match="boom"):
        harness.run()

    assert all(env != "prod" for _, env in harness.deploy_engine.calls)
    saved = harness.store.load()
    assert saved is not None
    assert (saved.environment, saved.completed_step) == ("staging", Step.APPROVAL)


def test_missing_output_fails_verification(harness: Harness) -> None:
    """An exported output absent after `up` fails gate 4 and names the output."""
    harness.deploy_engine.ups["dev"] = result("dev", Operation.UP, outputs={})

    with pytest.raises(GateFailedError, match=r"gate 4 \(verify\) failed for dev.*serviceNet"):
        harness.run()

    assert all(env == "dev" for _, env in harness.deploy_engine.calls)


class _HealthHandler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_HealthHandler]]]:
    """A loopback HTTP server whose answer status the test sets."""
    handler = type("Handler", (_HealthHandler,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health", handler
    server.shutdown()
    server.server_close()


def test_healthy_url_passes_verification(
    harness: Harness, health_server: tuple[str, type[_HealthHandler]]
) -> None:
    """A health URL answering 200 passes gate 4."""
    url, _ = health_server
    harness.settings["dev"] = RolloutSettings(health_urls=(url,))

    assert harness.run(environments=("dev",)) is RolloutStatus.DONE


def test_unhealthy_url_fails_verification(
    harness: Harness, health_server: tuple[str, type[_HealthHandler]]
) -> None:
    """A health URL answering 503 fails gate 4 with the URL and the status."""
    url, handler = health_server
    handler.status = 503
    harness.settings["dev"] = RolloutSettings(health_urls=(url,))

    with pytest.raises(GateFailedError, match=r"GET http://127\.0\.0\.1:\d+/health answered 503"):
        harness.run()


def test_health_url_credentials_never_appear_in_the_failure(
    health_server: tuple[str, type[_HealthHandler]],
) -> None:
    """User information and query of a health URL are left out of the probe's failure line."""
    url, handler = health_server
    handler.status = 500
    secret_url = url.replace("http://", "http://probe:hunter2@") + "?token=s3cr3t"

    problems = HealthCheck(attempts=1, pause_seconds=0, timeout_seconds=2).problems([secret_url])

    assert problems == [f"GET {url} answered 500 after 1 attempt(s)"]
    assert "hunter2" not in problems[0]
    assert "s3cr3t" not in problems[0]


def test_ctrl_c_mid_rollout_then_resume_continues_at_the_saved_gate(harness: Harness) -> None:
    """Ctrl-C during staging's `up` saves the position; --resume re-runs `up` there and goes on."""
    harness.deploy_engine.ups["staging"] = KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        harness.run()
    saved = harness.store.load()
    resumed = Harness(harness.tmp_path)
    status = resumed.run(environments=None, resume=True)

    assert saved is not None
    assert (saved.environment, saved.completed_step, saved.status) == (
        "staging",
        Step.APPROVAL,
        RolloutStatus.INTERRUPTED,
    )
    assert status is RolloutStatus.DONE
    assert resumed.deploy_engine.calls == [("up", "staging"), ("preview", "prod"), ("up", "prod")]
    assert resumed.plan_engine.calls == [("preview", "staging"), ("preview", "prod")]


class _KeptCtrlC:
    """A Ctrl-C kept while a scripted engine call ran, raised at the runner's next stop point."""

    def __init__(self) -> None:
        self.kept = False

    def during(self, outcome: Outcome | None = None) -> Callable[[str], EngineResult]:
        """An engine answer that keeps a Ctrl-C, then gives `outcome` (a clean result if None)."""

        def answer(environment: str) -> EngineResult:
            self.kept = True
            return _answer(outcome, environment, Operation.PREVIEW)

        return answer

    def raise_if_interrupted(self) -> None:
        if self.kept:
            self.kept = False
            raise KeyboardInterrupt


def test_a_kept_ctrl_c_stops_the_rollout_before_the_next_gate(harness: Harness) -> None:
    """Ctrl-C kept during dev's preview stops the rollout before dev's approval, as a Ctrl-C
    there would: saved as interrupted after the preview, and no later environment touched."""
    ctrl_c = _KeptCtrlC()
    harness.deploy_engine.previews["dev"] = ctrl_c.during()
    harness.raise_if_interrupted = ctrl_c.raise_if_interrupted

    with pytest.raises(KeyboardInterrupt):
        harness.run()

    saved = harness.store.load()
    assert saved is not None
    assert (saved.environment, saved.completed_step, saved.status) == (
        "dev",
        Step.PREVIEW,
        RolloutStatus.INTERRUPTED,
    )
    assert harness.deploy_engine.calls == [("preview", "dev")]
    assert harness.plan_engine.calls == [("preview", "dev")]
    assert [(r.step, r.outcome) for r in harness.reports if r.outcome != "started"] == [
        (Step.PLAN, "passed"),
        (Step.PREVIEW, "passed"),
        (Step.APPROVAL, "interrupted"),
    ]


def test_a_kept_ctrl_c_stops_before_the_next_environment(harness: Harness) -> None:
    """Ctrl-C kept during dev's last gate stops the rollout before staging's first."""
    ctrl_c = _KeptCtrlC()
    harness.plan_engine.previews["dev"] = ctrl_c.during()
    harness.raise_if_interrupted = ctrl_c.raise_if_interrupted

    with pytest.raises(KeyboardInterrupt):
        harness.run(offline=True)

    saved = harness.store.load()
    assert saved is not None
    assert (saved.environment, saved.status) == ("staging", RolloutStatus.INTERRUPTED)
    assert harness.plan_engine.calls == [("preview", "dev")]


def test_a_gate_failure_while_a_ctrl_c_is_kept_is_saved_as_the_failure(harness: Harness) -> None:
    """A gate that fails after Ctrl-C was kept stops the rollout as failed, with its reason."""
    ctrl_c = _KeptCtrlC()
    harness.deploy_engine.previews["dev"] = ctrl_c.during(result("dev", findings=(MANDATORY,)))
    harness.raise_if_interrupted = ctrl_c.raise_if_interrupted

    with pytest.raises(GateFailedError):
        harness.run()

    saved = harness.store.load()
    assert saved is not None
    assert saved.status is RolloutStatus.FAILED


def test_resume_after_failure_starts_at_the_failed_gate(harness: Harness) -> None:
    """After a gate-2 stop in staging, --resume re-runs staging's preview, not dev."""
    harness.deploy_engine.previews["staging"] = result("staging", findings=(MANDATORY,))
    with pytest.raises(GateFailedError):
        harness.run()

    resumed = Harness(harness.tmp_path)
    resumed.run(environments=None, resume=True)

    assert resumed.deploy_engine.calls[:2] == [("preview", "staging"), ("up", "staging")]
    assert ("preview", "dev") not in resumed.deploy_engine.calls + resumed.plan_engine.calls


@pytest.mark.parametrize(("offline", "hint"), [(False, "--resume"), (True, "--offline --resume")])
def test_an_interrupted_gate_says_how_to_resume_this_kind_of_rollout(
    harness: Harness, offline: bool, hint: str
) -> None:
    """The gate line of a Ctrl-C names the flags that resume it: --resume alone refuses an
    offline rollout."""
    harness.plan_engine.previews["dev"] = KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        harness.run(environments=("dev",), offline=offline)

    [interrupted] = [report for report in harness.reports if report.outcome == "interrupted"]
    assert interrupted.detail == f"resume with {hint}"


def test_resume_refuses_a_changed_commit(harness: Harness) -> None:
    """Resuming from another commit is refused with both commits and the way out."""
    harness.deploy_engine.ups["dev"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        harness.run()
    moved = RolloutIdentity(commit="c" * 40, catalog_digest=IDENTITY.catalog_digest)

    with pytest.raises(UsageError, match=r"started at commit aaaaaaaaaaaa.*at cccccccccccc"):
        Harness(harness.tmp_path).run(moved, environments=None, resume=True)


def test_resume_refuses_a_changed_catalog(harness: Harness) -> None:
    """Resuming after the catalog or a stack file changed is refused."""
    harness.deploy_engine.ups["dev"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        harness.run()
    edited = RolloutIdentity(commit=IDENTITY.commit, catalog_digest="d" * 64)

    with pytest.raises(UsageError, match=r"services\.yaml or a stack file changed"):
        Harness(harness.tmp_path).run(edited, environments=None, resume=True)


def test_resume_without_saved_state_is_a_usage_error(harness: Harness) -> None:
    """--resume with no state file says there is nothing to resume."""
    with pytest.raises(UsageError, match="nothing to resume: no rollout state"):
        harness.run(environments=None, resume=True)


def test_resume_after_a_finished_rollout_is_a_usage_error(harness: Harness) -> None:
    """--resume after a finished rollout says so instead of deploying again."""
    harness.run()

    with pytest.raises(UsageError, match="finished"):
        Harness(harness.tmp_path).run(environments=None, resume=True)


def test_resume_with_other_environments_is_refused(harness: Harness) -> None:
    """--resume with a different environment list is refused."""
    harness.deploy_engine.ups["dev"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        harness.run()

    with pytest.raises(UsageError, match="covers dev, staging, prod, not dev"):
        Harness(harness.tmp_path).run(environments=("dev",), resume=True)


def test_offline_rollout_runs_gate_1_for_every_environment_only(tmp_path: Path) -> None:
    """--offline plans every environment and never needs a deploying engine."""
    harness = Harness(tmp_path)
    rollout = harness.rollout()
    rollout.deploy_engine = None

    state = rollout.run(RolloutRequest(environments=ENVIRONMENTS, offline=True), IDENTITY)

    assert state.status is RolloutStatus.DONE
    assert harness.plan_engine.calls == [("preview", env) for env in ENVIRONMENTS]
    assert {report.step for report in harness.reports} == {Step.PLAN}


def test_state_file_is_valid_json_after_every_step(harness: Harness) -> None:
    """Every save leaves one complete JSON document and no temporary files behind."""
    seen: list[dict[str, object]] = []

    def record(report: GateReport) -> None:
        if report.outcome == "passed":
            seen.append(json.loads(harness.store.path.read_text(encoding="utf-8")))

    rollout = harness.rollout()
    rollout.report = record
    rollout.run(RolloutRequest(environments=("dev",)), IDENTITY)

    assert [document["completedStep"] for document in seen] == ["plan", "preview", "up", "verify"]
    names = sorted(path.name for path in harness.store.path.parent.iterdir())
    assert names == ["rollout.json", "rollout.json.lock"]


def test_corrupt_state_file_is_a_usage_error_naming_the_file(harness: Harness) -> None:
    """An unreadable state file is reported with its path and the fix."""
    harness.store.path.parent.mkdir(parents=True)
    harness.store.path.write_text("{not json", encoding="utf-8")

    with pytest.raises(UsageError, match=r"rollout\.json: expected JSON.*Delete the file"):
        harness.run(environments=None, resume=True)


def test_bad_stack_settings_save_the_position_as_failed(harness: Harness) -> None:
    """A SpecError while reading staging's settings stops there and is saved as the failure."""
    rollout = harness.rollout()

    def settings(environment: str) -> RolloutSettings:
        if environment == "staging":
            raise SpecError("stacks/Pulumi.staging.yaml", "rollout", "a mapping", "1", "Fix it.")
        return RolloutSettings()

    rollout.settings = settings

    with pytest.raises(SpecError):
        rollout.run(RolloutRequest(environments=ENVIRONMENTS), IDENTITY)

    saved = harness.store.load()
    assert saved is not None
    assert (saved.environment, saved.completed_step, saved.status) == (
        "staging",
        Step.PREVIEW,
        RolloutStatus.FAILED,
    )
    assert "Pulumi.staging.yaml" in (saved.failure or "")


def test_unexpected_error_saves_only_its_kind(harness: Harness) -> None:
    """A bug in a step keeps the position, and records the error's type, never its text."""
    harness.deploy_engine.ups["dev"] = RuntimeError("token=abc123-not-vetted")

    with pytest.raises(RuntimeError):
        harness.run()

    saved = harness.store.load()
    assert saved is not None
    assert saved.failure == "unexpected RuntimeError"
    assert "abc123" not in harness.store.path.read_text(encoding="utf-8")


def test_state_names_the_next_environment_once_one_is_done(harness: Harness) -> None:
    """A stop at staging's gate 1 is saved as staging with no step done, and resumes there."""
    harness.plan_engine.previews["staging"] = result("staging", findings=(MANDATORY,))
    with pytest.raises(GateFailedError):
        harness.run()

    saved = harness.store.load()
    resumed = Harness(harness.tmp_path)
    resumed.run(environments=None, resume=True)

    assert saved is not None
    assert (saved.environment, saved.completed_step) == ("staging", None)
    assert resumed.plan_engine.calls[0] == ("preview", "staging")
    assert ("preview", "dev") not in resumed.plan_engine.calls


def _saved_document(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "version": 1,
        "environments": ["dev", "staging"],
        "offline": False,
        "commit": IDENTITY.commit,
        "catalogDigest": IDENTITY.catalog_digest,
        "environment": "staging",
        "completedStep": "preview",
        "status": "failed",
        "failure": None,
    }
    document.update(overrides)
    return document


@pytest.mark.parametrize(
    ("overrides", "found"),
    [
        ({"environments": "dev"}, "environments"),
        ({"environments": []}, "environments"),
        ({"environments": ["dev", 3]}, "environments"),
        (
            {"environments": ["dev", "staging", "prod", "dev"]},
            "environments .*'dev' more than once",
        ),
        (
            {"environments": ["dev", "staging", "staging"]},
            "environments .*'staging' more than once",
        ),
        (
            {"environments": ["dev", "qa"], "environment": "dev"},
            "environments .*'qa', not among dev, staging, prod",
        ),
        (
            {"environments": ["dev", "DEV"], "environment": "dev"},
            "environments .*'DEV', not among dev, staging, prod",
        ),
        ({"offline": "false"}, "offline"),
        ({"commit": 7}, "commit"),
        ({"catalogDigest": None}, "catalogDigest"),
        ({"offline": True, "completedStep": "up"}, "completedStep"),
        ({"completedStep": "deploy"}, "completedStep"),
        ({"status": "paused"}, "status"),
        ({"failure": {"text": "x"}}, "failure"),
    ],
)
def test_state_file_of_the_wrong_shape_is_a_usage_error_naming_the_field(
    harness: Harness, overrides: dict[str, object], found: str
) -> None:
    """A saved state with a field of the wrong type or value is refused, naming the field."""
    harness.store.path.parent.mkdir(parents=True)
    harness.store.path.write_text(json.dumps(_saved_document(**overrides)), encoding="utf-8")

    with pytest.raises(UsageError, match=rf"rollout\.json: .*{found}.*Delete the file"):
        harness.run(environments=None, resume=True)


@pytest.mark.parametrize(
    "environments",
    [["dev", "q" * 5000], ["dev", *(f"qa{n}" for n in range(1000))]],
    ids=["one-long-name", "many-names"],
)
def test_a_state_file_naming_huge_environments_is_refused_in_one_short_line(
    harness: Harness, environments: list[str]
) -> None:
    """The unknown environment names of a saved state are cut in the refusal, which stays
    one short line however long the names or their list."""
    harness.store.path.parent.mkdir(parents=True)
    document = _saved_document(environments=environments, environment="dev")
    harness.store.path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(UsageError) as raised:
        harness.run(environments=None, resume=True)

    message = str(raised.value)
    assert len(message) < 500, message
    assert "..." in message
    assert "Delete the file" in message


def test_state_file_that_is_not_utf8_is_a_usage_error(harness: Harness) -> None:
    """A state file of binary garbage is a usage error naming the file, not a traceback."""
    harness.store.path.parent.mkdir(parents=True)
    harness.store.path.write_bytes(b"\xff\xfe\x00garbage")

    with pytest.raises(UsageError, match=r"rollout\.json: expected JSON.*Delete the file"):
        harness.run(environments=None, resume=True)


def test_well_formed_saved_state_resumes(harness: Harness) -> None:
    """The reference document of the shape tests above is itself accepted and resumed."""
    harness.store.path.parent.mkdir(parents=True)
    harness.store.path.write_text(json.dumps(_saved_document()), encoding="utf-8")

    status = harness.run(environments=None, resume=True)

    assert status is RolloutStatus.DONE
    assert harness.deploy_engine.calls[0] == ("up", "staging")


def test_state_path_that_is_a_directory_is_a_usage_error(harness: Harness) -> None:
    """A directory where the state file belongs is reported with the path, not a traceback."""
    harness.store.path.mkdir(parents=True)

    with pytest.raises(UsageError, match=r"rollout\.json: expected a readable rollout state"):
        harness.run(environments=None, resume=True)


def test_a_new_rollout_whose_state_path_is_a_directory_is_a_usage_error(harness: Harness) -> None:
    """A fresh rollout cannot save its state there: the path is named, not a traceback, and
    no temporary file is left behind."""
    harness.store.path.mkdir(parents=True)

    with pytest.raises(UsageError, match=r"rollout\.json: expected a writable rollout state"):
        harness.run(environments=("dev",))

    leftovers = [path for path in harness.store.path.parent.iterdir() if path.suffix == ".tmp"]
    assert leftovers == []


@pytest.fixture
def stacks_dir(tmp_path: Path) -> Path:
    """A copy of the sample stack files and catalog."""
    copied = tmp_path / "stacks"
    shutil.copytree(Path(__file__).resolve().parents[2] / "stacks", copied)
    return copied


def test_catalog_digest_ignores_the_salt_pulumi_writes_into_a_stack_file(stacks_dir: Path) -> None:
    """`pulumi stack init` adds encryptionsalt to the stack file; a resume must still match."""
    before = catalog_digest(stacks_dir, ENVIRONMENTS)
    stack_file = stacks_dir / "Pulumi.dev.yaml"
    stack_file.write_text(
        "encryptionsalt: v1:3Ntb6e1jM8E=:v1:Jx3QK5Tx2c3Hq0Iv:YgIZ+p7qVpHZ1p8dV3wG0A==\n"
        + stack_file.read_text(encoding="utf-8"),
        encoding="utf-8",
    )

    after = catalog_digest(stacks_dir, ENVIRONMENTS)

    assert after == before


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("Pulumi.staging.yaml", lambda text: text.replace("eu-west-1", "eu-central-1", 1)),
        ("services.yaml", lambda text: text + "\n# reviewed\n"),
        ("Pulumi.prod.yaml", lambda text: ""),
    ],
)
def test_catalog_digest_changes_with_settings_and_catalog(
    stacks_dir: Path, name: str, edit: Callable[[str], str]
) -> None:
    """A changed setting, any change to the catalog, or an emptied stack file changes the digest."""
    before = catalog_digest(stacks_dir, ENVIRONMENTS)
    path = stacks_dir / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")

    after = catalog_digest(stacks_dir, ENVIRONMENTS)

    assert after != before


def test_a_second_rollout_in_the_same_working_copy_is_refused(harness: Harness) -> None:
    """While a rollout holds the state, another is refused (exit 4) and changes nothing."""
    harness.run(environments=("dev",))
    before = harness.store.path.read_bytes()
    calls = list(harness.plan_engine.calls)

    with harness.store.held(), pytest.raises(StackLockedError, match="another rollout"):
        harness.run()

    assert harness.store.path.read_bytes() == before
    assert harness.plan_engine.calls == calls


def test_the_state_is_free_again_after_a_failed_rollout(harness: Harness) -> None:
    """A rollout that stops at a gate lets the next one (its --resume) take the state."""
    harness.plan_engine.previews["staging"] = ProgramError("the program raised")
    with pytest.raises(ProgramError):
        harness.run()

    harness.plan_engine.previews.pop("staging")
    status = harness.run(environments=None, resume=True)

    assert status is RolloutStatus.DONE


def test_resuming_an_offline_state_as_a_deploying_rollout_is_refused(harness: Harness) -> None:
    """A state file holding an --offline rollout (an older latticework's) is not deployed from."""
    harness.store.path.parent.mkdir(parents=True)
    document = _saved_document(offline=True, completedStep=None)
    harness.store.path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(UsageError, match="holds an --offline rollout, and a deploying one"):
        harness.run(environments=None, resume=True)

    assert harness.deploy_engine.calls == []
