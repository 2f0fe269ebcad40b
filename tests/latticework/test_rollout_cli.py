"""`latticework rollout` through click with the real offline engine and no pulumi CLI."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from latticework.cli import main
from latticework.engine import EngineResult, OfflineEngine
from latticework.errors import ExitCode
from latticework.rollout import OFFLINE_STATE_FILE, STATE_FILE, RolloutStateStore
from tests.latticework.test_cli import FinalizedWith
from tests.latticework.test_cli_deploy import FAKE_PULUMI, _event_log

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the program, stacks, authz files and pack manifest (not a git checkout)."""
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(PROJECT_DIR / name, project_dir / name)
    for name in ("stacks", "authz"):
        shutil.copytree(PROJECT_DIR / name, project_dir / name)
    pack = project_dir / "policy_packs" / "latticework_guardrails"
    pack.mkdir(parents=True)
    shutil.copy2(
        PROJECT_DIR / "policy_packs" / "latticework_guardrails" / "PulumiPolicy.yaml", pack
    )
    return project_dir


def _rollout(project: Path, tmp_path: Path, *args: str) -> Result:
    empty_bin = tmp_path / "no-pulumi"
    empty_bin.mkdir(exist_ok=True)
    env = {
        "PATH": str(empty_bin),
        "PULUMI_CONFIG_PASSPHRASE": "pass",
        "LATTICEWORK_BACKEND_URL": None,
    }
    return CliRunner().invoke(main, ["rollout", *args, "--project-dir", str(project)], env=env)


def test_offline_rollout_plans_each_environment_with_no_cloud(
    project: Path, tmp_path: Path
) -> None:
    """--offline runs gate 1 for dev and staging with no pulumi CLI and finishes."""
    result = _rollout(project, tmp_path, "--offline", "--envs", "dev,staging", "--format", "json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "done"
    assert document["offline"] is True
    assert [(g["environment"], g["step"], g["outcome"]) for g in document["gates"]] == [
        ("dev", "plan", "passed"),
        ("staging", "plan", "passed"),
    ]


def test_deploying_rollout_stops_at_gate_2_without_pulumi(project: Path, tmp_path: Path) -> None:
    """Without --offline, gate 1 passes and the preview exits 5; nothing later runs."""
    result = _rollout(project, tmp_path, "--to", "staging")

    assert result.exit_code == ExitCode.MISSING_PULUMI_CLI
    assert "ok dev" in result.stderr
    assert "staging" not in result.stderr.replace("--to staging", "")
    state = json.loads((project / STATE_FILE).read_text(encoding="utf-8"))
    assert (state["environment"], state["completedStep"], state["status"]) == (
        "dev",
        "plan",
        "failed",
    )


def test_resume_after_the_catalog_changed_is_refused(project: Path, tmp_path: Path) -> None:
    """A rollout stopped at dev cannot resume once services.yaml changed."""
    _rollout(project, tmp_path, "--to", "staging")
    catalog = project / "stacks" / "services.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")

    result = _rollout(project, tmp_path, "--resume")

    assert result.exit_code == ExitCode.USAGE
    assert "stacks/services.yaml or a stack file changed" in result.stderr


def test_resume_of_a_state_naming_an_unknown_environment_names_it(
    project: Path, tmp_path: Path
) -> None:
    """A saved state naming an environment that does not exist is refused as corrupt, naming
    the environment, instead of being blamed on a changed stack file."""
    _rollout(project, tmp_path, "--offline", "--envs", "dev,staging")
    state = project / OFFLINE_STATE_FILE
    document = json.loads(state.read_text(encoding="utf-8"))
    document.update(environments=["dev", "qa"], environment="dev", status="failed")
    state.write_text(json.dumps(document), encoding="utf-8")

    result = _rollout(project, tmp_path, "--offline", "--resume")

    assert result.exit_code == ExitCode.USAGE, result.output
    [line] = result.stderr.strip().splitlines()
    assert "'qa', not among dev, staging, prod" in line
    assert "Delete the file and start the rollout again without --resume" in line
    assert "changed" not in line


def test_resume_continues_at_the_failed_gate(project: Path, tmp_path: Path) -> None:
    """--resume skips dev's passed gate 1 and retries its preview."""
    _rollout(project, tmp_path, "--to", "staging")

    result = _rollout(project, tmp_path, "--resume")

    assert result.exit_code == ExitCode.MISSING_PULUMI_CLI
    assert "gate 1" not in result.stderr


def test_a_rollout_while_another_runs_is_refused_with_exit_4(project: Path, tmp_path: Path) -> None:
    """A rollout started while another holds this working copy's state stops in one line."""
    with RolloutStateStore(project / STATE_FILE).held():
        result = _rollout(project, tmp_path, "--offline", "--envs", "dev")

    assert result.exit_code == ExitCode.STACK_LOCKED
    assert result.stderr.startswith("error: another rollout is running in this working copy")
    assert not (project / STATE_FILE).exists()


@pytest.mark.parametrize("resume", [False, True])
def test_a_refused_rollout_never_reads_the_running_ones_state(
    project: Path, tmp_path: Path, resume: bool
) -> None:
    """Refused because another runs, a rollout says so (exit 4) without reading its state."""
    state = project / STATE_FILE
    state.parent.mkdir(parents=True)
    state.write_text("{not json", encoding="utf-8")
    args = ("--offline", "--resume") if resume else ("--offline", "--envs", "dev")

    with RolloutStateStore(state).held():
        result = _rollout(project, tmp_path, *args)

    assert result.exit_code == ExitCode.STACK_LOCKED, result.output
    assert "Delete" not in result.stderr
    assert state.read_text(encoding="utf-8") == "{not json"


def test_a_latticework_path_that_is_a_file_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    """A `.latticework` that is not a directory is exit 2 naming it, not a traceback."""
    (project / ".latticework").write_text("", encoding="utf-8")

    result = _rollout(project, tmp_path, "--offline", "--envs", "dev")

    assert result.exit_code == ExitCode.USAGE, result.output
    assert "expected a writable directory for the rollout state" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--envs", "dev", "--to", "prod"), "found both"),
        (("--envs", "dev,dev"), "found dev twice"),
        (("--envs", "dev,qa"), "expected environments among dev, staging, prod, found 'qa'"),
        (("--resume",), "nothing to resume"),
        (
            ("--offline", "--envs", "dev", "--backend-url", "s3://state/latticework"),
            "--backend-url: expected no state backend with --offline",
        ),
        (
            ("--offline", "--resume", "--backend-url", "not a url"),
            "--backend-url: expected no state backend with --offline",
        ),
    ],
)
def test_bad_arguments_are_usage_errors(
    project: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """Conflicting, repeated or unknown environments, or nothing to resume, exit 2."""
    result = _rollout(project, tmp_path, *args)

    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr


@pytest.mark.parametrize(
    ("envs", "fix"),
    [
        ("dev,qa", "Correct or drop 'qa'"),
        ("dev,dev", "Name each environment once"),
        (",", "Name at least one environment"),
    ],
)
def test_a_bad_envs_list_says_how_to_fix_it(
    project: Path, tmp_path: Path, envs: str, fix: str
) -> None:
    """Each refusal of `--envs` ends with the fix, as the other usage errors do."""
    result = _rollout(project, tmp_path, "--offline", "--envs", envs)

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip().endswith(fix)


@pytest.mark.parametrize("backend_url", ["s3://state/latticework", "", "not a url"])
def test_offline_ignores_the_backend_url_of_the_environment(
    project: Path, tmp_path: Path, backend_url: str
) -> None:
    """LATTICEWORK_BACKEND_URL, set for the deploying jobs, is neither used nor checked by
    --offline, which keeps no Pulumi state."""
    empty_bin = tmp_path / "no-pulumi"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "LATTICEWORK_BACKEND_URL": backend_url}

    result = CliRunner().invoke(
        main, ["rollout", "--offline", "--envs", "dev", "--project-dir", str(project)], env=env
    )

    assert result.exit_code == ExitCode.OK, result.output


def test_environment_without_a_stack_file_is_a_usage_error(project: Path, tmp_path: Path) -> None:
    """A known environment whose stack file is missing is refused, naming the file."""
    (project / "stacks" / "Pulumi.staging.yaml").unlink()

    result = _rollout(project, tmp_path, "--offline", "--to", "prod")

    assert result.exit_code == ExitCode.USAGE
    assert "--to prod: expected a stack file for 'staging'" in result.stderr
    assert "Pulumi.staging.yaml" in result.stderr


def test_resume_from_outside_git_names_both_origins_in_full(project: Path, tmp_path: Path) -> None:
    """A rollout started in a git checkout, resumed outside one, names both without cutting."""
    _rollout(project, tmp_path, "--to", "staging")
    state_file = project / STATE_FILE
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state["commit"] = "0123456789abcdef0123456789abcdef01234567"
    state_file.write_text(json.dumps(state), encoding="utf-8")

    result = _rollout(project, tmp_path, "--resume")

    assert result.exit_code == ExitCode.USAGE
    assert "commit 0123456789ab but the checkout is at (not a git checkout);" in result.stderr


def _workflow_commands() -> list[list[str]]:
    workflow = yaml.safe_load(
        (PROJECT_DIR / ".github" / "workflows" / "latticework.yml").read_text(encoding="utf-8")
    )
    commands: list[list[str]] = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "").replace("\\\n", " ")
            for line in script.splitlines():
                words = shlex.split(line.split("||")[0].strip()) if "latticework " in line else []
                if words and words[0].endswith("bin/latticework"):
                    commands.append(words[1:])
    return commands


def test_example_workflow_uses_real_commands_and_options() -> None:
    """Every latticework command in the example CI workflow parses with this CLI's options."""
    commands = _workflow_commands()

    assert {words[0] for words in commands} == {"check", "rollout"}
    for words in commands:
        substituted = [word.replace('"$env"', "dev").replace("$env", "dev") for word in words]
        main.commands[substituted[0]].make_context(substituted[0], substituted[1:])


def test_example_workflow_triggers() -> None:
    """Pull requests check, main rolls out dev and staging, a tag rolls out prod with --yes."""
    commands = _workflow_commands()

    assert ["rollout", "--offline", "--format", "json"] in commands
    assert ["rollout", "--envs", "dev,staging"] in commands
    assert ["rollout", "--envs", "prod", "--yes"] in commands


@pytest.fixture
def scripted_pulumi(tmp_path: Path) -> dict[str, str]:
    """Environment for a rollout whose pulumi CLI is the scripted one, succeeding every step."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI, encoding="utf-8")
    fake.chmod(0o755)
    return {
        "PATH": str(bin_dir),
        "FAKE_PULUMI_LOG": str(tmp_path / "calls.jsonl"),
        "FAKE_PULUMI_EXIT": "0",
        **_event_log(tmp_path),
    }


def _rollout_with(project: Path, env: dict[str, str], *args: str) -> Result:
    full_env: dict[str, str | None] = {
        **env,
        "PULUMI_CONFIG_PASSPHRASE": "pass",
        "LATTICEWORK_BACKEND_URL": None,
    }
    return CliRunner().invoke(main, ["rollout", *args, "--project-dir", str(project)], env=full_env)


def test_approval_needed_without_yes_and_without_terminal_stops_with_exit_7(
    project: Path, scripted_pulumi: dict[str, str]
) -> None:
    """Prod requires approval; with no terminal and no --yes the rollout stops after gate 2."""
    result = _rollout_with(project, scripted_pulumi, "--envs", "prod")

    assert result.exit_code == ExitCode.GATE_FAILED
    assert "gate 3 (approval) stopped prod" in result.stderr
    assert "--yes" in result.stderr
    calls = Path(scripted_pulumi["FAKE_PULUMI_LOG"]).read_text(encoding="utf-8")
    assert '"preview"' in calls
    assert '"up"' not in calls


def test_verification_fails_when_planned_outputs_are_missing(
    project: Path, scripted_pulumi: dict[str, str]
) -> None:
    """After `up`, gate 4 compares the planned outputs with the stack's and names the missing."""
    result = _rollout_with(project, scripted_pulumi, "--envs", "dev")

    assert result.exit_code == ExitCode.GATE_FAILED
    assert "gate 4 (verify) failed for dev: output 'clusterName' missing" in result.stderr
    assert "s3cr3t" not in result.output


def test_json_format_reports_where_a_stopped_rollout_stands(
    project: Path, scripted_pulumi: dict[str, str]
) -> None:
    """With --format json a stopped rollout still prints its state and gates on stdout."""
    result = _rollout_with(project, scripted_pulumi, "--envs", "prod", "--format", "json")

    document = json.loads(result.stdout)
    assert result.exit_code == ExitCode.GATE_FAILED
    assert (document["status"], document["environment"], document["completedStep"]) == (
        "failed",
        "prod",
        "preview",
    )
    assert document["gates"][-1]["outcome"] == "failed"


def test_resume_after_pulumi_created_the_stack_is_not_refused(
    project: Path, scripted_pulumi: dict[str, str]
) -> None:
    """The first preview salts the new stack's file; --resume still continues at gate 4."""
    _rollout_with(project, scripted_pulumi, "--envs", "dev")
    salted = (project / "stacks" / "Pulumi.dev.yaml").read_text(encoding="utf-8")

    result = _rollout_with(project, scripted_pulumi, "--resume")

    assert salted.startswith("encryptionsalt:")
    assert result.exit_code == ExitCode.GATE_FAILED, result.output
    assert "gate 4 (verify) failed for dev" in result.stderr


def test_example_workflow_refuses_to_roll_out_without_a_shared_backend(tmp_path: Path) -> None:
    """Each deploying job stops before its rollout when LATTICEWORK_BACKEND_URL is empty."""
    workflow = yaml.safe_load(
        (PROJECT_DIR / ".github" / "workflows" / "latticework.yml").read_text(encoding="utf-8")
    )
    deploying = [job for job in workflow["jobs"].values() if "id-token" in job["permissions"]]
    bash = shutil.which("bash") or "/bin/bash"

    for job in deploying:
        runs = [step.get("run", "") for step in job["steps"]]
        guard = next(run for run in runs if "LATTICEWORK_BACKEND_URL" in run)
        rollout = next(run for run in runs if "latticework rollout" in run)
        completed = subprocess.run(
            [bash, "-e", "-c", guard],
            env={"PATH": "/usr/bin:/bin", "LATTICEWORK_BACKEND_URL": ""},
            capture_output=True,
            text=True,
            check=False,
        )

        assert runs.index(guard) < runs.index(rollout)
        assert completed.returncode != 0
        assert "::error::" in completed.stdout
    assert len(deploying) == 2


def test_an_offline_rollout_leaves_a_stopped_rollout_resumable(
    project: Path, tmp_path: Path
) -> None:
    """--offline after a failed deploying rollout keeps that one's state, and --resume works."""
    _rollout(project, tmp_path, "--envs", "dev,staging")
    stopped = (project / STATE_FILE).read_bytes()

    offline = _rollout(project, tmp_path, "--offline", "--envs", "dev,staging")
    resumed = _rollout(project, tmp_path, "--resume")

    assert offline.exit_code == ExitCode.OK, offline.output
    assert (project / OFFLINE_STATE_FILE).is_file()
    assert resumed.exit_code == ExitCode.MISSING_PULUMI_CLI, resumed.output
    assert "gate 1" not in resumed.stderr
    document = json.loads((project / STATE_FILE).read_text(encoding="utf-8"))
    assert json.loads(stopped)["offline"] is False
    assert (document["offline"], document["environment"], document["status"]) == (
        False,
        "dev",
        "failed",
    )


def test_a_stopped_offline_rollout_resumes_with_offline_resume(
    project: Path, tmp_path: Path
) -> None:
    """--offline --resume continues a stopped offline rollout from its own state file."""
    _rollout(project, tmp_path, "--envs", "dev,staging")
    program = project / "__main__.py"
    program.write_text(
        program.read_text(encoding="utf-8")
        + "\nif pulumi.get_stack() == 'staging' and Path('broken').exists():\n"
        "    raise RuntimeError('staging is broken')\n",
        encoding="utf-8",
    )
    (project / "broken").touch()
    stopped = _rollout(project, tmp_path, "--offline", "--envs", "dev,staging")
    (project / "broken").unlink()

    resumed = _rollout(project, tmp_path, "--offline", "--resume", "--format", "json")

    assert stopped.exit_code == ExitCode.PROGRAM_ERROR, stopped.output
    assert resumed.exit_code == ExitCode.OK, resumed.output
    assert [g["environment"] for g in json.loads(resumed.stdout)["gates"]] == ["staging"]
    assert json.loads((project / STATE_FILE).read_text(encoding="utf-8"))["offline"] is False


_BLOCKING_POLICIES = (
    "  latticework:policies:\n    enforcement: {secret-rotation-period: mandatory}\n"
    "    rotationMaxDays: 10\n"
)


def _break_policies(project: Path, environment: str) -> None:
    """Append a policies block that makes gate 1 fail for `environment`."""
    stack_file = project / "stacks" / f"Pulumi.{environment}.yaml"
    stack_file.write_text(stack_file.read_text(encoding="utf-8") + _BLOCKING_POLICIES)


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "deploying"])
def test_a_gate_1_failure_says_to_start_again_not_to_resume(
    project: Path, tmp_path: Path, offline: bool
) -> None:
    """A gate-1 stop comes from the files --resume refuses to see changed: start again."""
    _break_policies(project, "dev")
    args = ("--offline",) if offline else ()

    result = _rollout(project, tmp_path, *args, "--envs", "dev,staging")

    assert result.exit_code == ExitCode.GATE_FAILED, result.output
    assert "--resume" not in result.stderr
    command = f"latticework rollout {'--offline ' if offline else ''}--envs dev,staging"
    assert f"fix the stack, catalog or program and start it again: `{command}`" in result.stderr


def test_a_later_gate_failure_still_says_to_resume(project: Path, tmp_path: Path) -> None:
    """A stop after gate 1 (here gate 2, no pulumi CLI) keeps the --resume hint."""
    result = _rollout(project, tmp_path, "--envs", "dev")

    assert result.exit_code == ExitCode.MISSING_PULUMI_CLI
    assert "continue with `latticework rollout --resume`" in result.stderr


def _lose_ctrl_c_in_gate_1(
    monkeypatch: pytest.MonkeyPatch, environment: str, planned: list[str]
) -> None:
    """Gate 1 of `environment` receives a Ctrl-C in a finalizer, which Python only prints as
    ignored; `planned` records every environment the offline engine plans."""

    class LosingCtrlC(OfflineEngine):
        def preview(self, env: str) -> EngineResult:
            planned.append(env)
            if env == environment:
                FinalizedWith(KeyboardInterrupt())
            return super().preview(env)

    monkeypatch.setattr("latticework.cli.rollout.OfflineEngine", LosingCtrlC)


def test_ctrl_c_lost_in_a_gate_stops_before_the_next_environment(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lost in a finalizer during dev's gate 1 stops the rollout before staging as an
    ordinary Ctrl-C does: saved as interrupted, the resume hint printed, exit 130."""
    planned: list[str] = []
    _lose_ctrl_c_in_gate_1(monkeypatch, "dev", planned)

    result = _rollout(project, tmp_path, "--offline", "--envs", "dev,staging,prod")

    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert planned == ["dev"]
    assert "ok dev" in result.stderr
    assert "^C staging" in result.stderr
    assert "continue it with `latticework rollout --offline --resume`" in result.stderr
    assert result.stderr.endswith("error: interrupted\n")
    state = json.loads((project / OFFLINE_STATE_FILE).read_text(encoding="utf-8"))
    assert (state["environment"], state["status"]) == ("staging", "interrupted")


def test_a_gate_failure_after_a_lost_ctrl_c_keeps_exit_7(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate that fails after Ctrl-C was lost in a finalizer stops the rollout as that gate's
    failure, exit 7 with its hint, not as an interruption."""
    _break_policies(project, "dev")
    _lose_ctrl_c_in_gate_1(monkeypatch, "dev", [])

    result = _rollout(project, tmp_path, "--offline", "--envs", "dev,staging")

    assert result.exit_code == ExitCode.GATE_FAILED, result.output
    assert "start it again" in result.stderr
    assert "interrupted" not in result.stderr
    state = json.loads((project / OFFLINE_STATE_FILE).read_text(encoding="utf-8"))
    assert state["status"] == "failed"


def test_ctrl_c_lost_in_the_last_gate_ends_a_finished_rollout_as_interrupted(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lost during the last gate comes too late to stop anything: the rollout is saved
    as done and reported finished, and the command exits 130 with no resume hint."""
    _lose_ctrl_c_in_gate_1(monkeypatch, "staging", [])

    result = _rollout(project, tmp_path, "--offline", "--envs", "dev,staging")

    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert "finished at" in result.stdout
    assert "--resume" not in result.stderr
    assert result.stderr.endswith("error: interrupted\n")
    state = json.loads((project / OFFLINE_STATE_FILE).read_text(encoding="utf-8"))
    assert state["status"] == "done"
