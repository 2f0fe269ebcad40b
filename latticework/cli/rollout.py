"""`latticework rollout`: promote through environments in order, one gate at a time.

    latticework rollout [--envs dev,staging,prod | --to prod] [--offline] [--yes]
                        [--resume] [--allow-replace] [--backend-url URL] [--format json]

Gate 1 (offline plan + policies) runs on the offline engine; previews and deployments run
on the Automation API engine. `--offline` runs gate 1 for every environment and nothing
else: a dry run for pull requests with no cloud account and no pulumi CLI. Progress is saved
in `.latticework/rollout.json` after every step (an `--offline` rollout's in
`.latticework/rollout-offline.json`, so a dry run never replaces a deploying rollout's
state); `--resume` continues where a failure or Ctrl-C stopped the previous rollout, and
`--offline --resume` the previous offline one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import click
from click.core import ParameterSource

from components.errors import SpecError
from components.spec import RolloutSettings, load_spec
from latticework.automation import check_backend_url, require_project
from latticework.cli._interrupts import raise_if_interrupted
from latticework.cli._options import ENVIRONMENTS, project_dir_option
from latticework.cli.deploy import make_engine, progress_printer
from latticework.cli.plan import find_project_dir
from latticework.engine import EngineResult, OfflineEngine
from latticework.errors import LatticeworkError, UsageError
from latticework.rollout import (
    LOCK_FILE,
    OFFLINE_STATE_FILE,
    STATE_FILE,
    GateReport,
    Rollout,
    RolloutRequest,
    RolloutState,
    RolloutStateStore,
    Step,
    rollout_identity,
    short_commit,
)

OutputFormat = Literal["text", "json"]
_OUTCOME_MARKS = {
    "passed": "ok",
    "skipped": "--",
    "failed": "!!",
    "interrupted": "^C",
}


def select_environments(
    stacks_dir: Path, envs: str | None, to_env: str | None, *, resume: bool
) -> tuple[str, ...] | None:
    """The environments in rollout order from `--envs` or `--to`; None to resume as saved."""
    if envs is not None and to_env is not None:
        raise UsageError("--envs and --to: expected one of them, found both. Pass only one")

    if envs is not None:
        selected = tuple(name.strip() for name in envs.split(",") if name.strip())
        if not selected:
            message = (
                f"--envs: expected a comma-separated list such as dev,staging, found {envs!r}. "
                "Name at least one environment"
            )
            raise UsageError(message)
    elif to_env is not None:
        selected = ENVIRONMENTS[: ENVIRONMENTS.index(to_env) + 1]
    elif resume:
        return None
    else:
        selected = tuple(
            env for env in ENVIRONMENTS if (stacks_dir / f"Pulumi.{env}.yaml").is_file()
        )

    unknown = [env for env in selected if env not in ENVIRONMENTS]
    if unknown:
        shown = ", ".join(repr(env) for env in unknown)
        message = (
            f"--envs: expected environments among {', '.join(ENVIRONMENTS)}, found "
            f"{shown}. Correct or drop {shown}"
        )
        raise UsageError(message)
    duplicates = sorted({env for env in selected if selected.count(env) > 1})
    if duplicates:
        message = (
            f"--envs: expected each environment once, found {', '.join(duplicates)} twice. "
            "Name each environment once"
        )
        raise UsageError(message)
    option = f"--to {to_env}" if to_env is not None else "--envs"
    for env in selected:
        stack_file = stacks_dir / f"Pulumi.{env}.yaml"
        if not stack_file.is_file():
            message = (
                f"{option}: expected a stack file for {env!r}, found no {stack_file}. Create "
                "it or leave the environment out"
            )
            raise UsageError(message)
    return selected


def _approver(environment: str, preview: EngineResult | None) -> bool:
    if preview is None:
        click.echo(f"{environment}: previewed before the rollout was resumed.", err=True)
    else:
        counts = {op: n for op, n in preview.change_counts().items() if op != "same"}
        shown = ", ".join(f"{n} to {op}" for op, n in counts.items()) or "no changes"
        click.echo(f"{environment}: {shown}.", err=True)
    return click.confirm(f"Deploy {environment}?", default=False, err=True)


def restart_command(
    environments: tuple[str, ...], *, offline: bool, assume_yes: bool, allow_replace: bool
) -> str:
    """The command that starts this rollout again from its first environment."""
    words = ["latticework", "rollout"]
    if offline:
        words.append("--offline")
    words += ["--envs", ",".join(environments)]
    if assume_yes:
        words.append("--yes")
    if allow_replace:
        words.append("--allow-replace")
    return " ".join(words)


def _reporter(restart: str, resume: str) -> tuple[list[GateReport], Callable[[GateReport], None]]:
    reports: list[GateReport] = []

    def report(gate: GateReport) -> None:
        reports.append(gate)
        if gate.outcome == "started":
            return
        mark = _OUTCOME_MARKS.get(gate.outcome, "--")
        detail = f"  {gate.detail}" if gate.detail and gate.outcome != "failed" else ""
        click.echo(
            f"{mark} {gate.environment:<8} {gate.step.label:<20} {gate.outcome}{detail}", err=True
        )
        if gate.outcome != "failed":
            return

        if gate.step is Step.PLAN:
            # Gate 1 fails on what the stack, catalog and program say; changing the first two
            # makes --resume refuse, since the rollout would no longer deploy what it checked.
            hint = f"fix the stack, catalog or program and start it again: `{restart}`"
        else:
            hint = f"fix the cause below and continue with `{resume}`"
        click.echo(f"   the rollout stopped at {gate.environment}; {hint}", err=True)

    return reports, report


@click.command(name="rollout")
@click.option(
    "--envs",
    help="Environments in the order given, comma-separated (e.g. dev,staging). Without --envs "
    "or --to: every environment that has a stack file.",
)
@click.option(
    "--to",
    "to_env",
    type=click.Choice(ENVIRONMENTS),
    help="Roll out every environment up to this one, in the order " + ", ".join(ENVIRONMENTS) + ".",
)
@click.option("--offline", is_flag=True, help="Gate 1 only, for every environment; no cloud.")
@click.option("--yes", is_flag=True, help="Approve environments that require approval.")
@click.option("--resume", is_flag=True, help="Continue the rollout a failure or Ctrl-C stopped.")
@click.option(
    "--allow-replace",
    is_flag=True,
    help="Let gate 2 pass a replacement or deletion of a protected resource type.",
)
@click.option(
    "--backend-url",
    envvar="LATTICEWORK_BACKEND_URL",
    show_envvar=True,
    help="State backend for the real engine (default: .latticework/state in the project). "
    "Refused with --offline, which keeps no Pulumi state; the variable is then ignored.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="text, or the rollout state and its gates as JSON on standard output (also when stopped).",
)
@project_dir_option
def command(
    envs: str | None,
    to_env: str | None,
    offline: bool,
    yes: bool,
    resume: bool,
    allow_replace: bool,
    backend_url: str | None,
    output_format: OutputFormat,
    project_dir: Path | None,
) -> None:
    """Roll out environment by environment: plan, preview, approval, up, verify.

    A failure stops before any later environment; exit 7 when a gate stops the rollout,
    130 on Ctrl-C. `--resume` continues from the saved gate, and refuses when the commit, the
    catalog or the stack file of an environment in the rollout changed since it started.
    """
    backend_url = _backend_url(backend_url, offline=offline)
    project = require_project(project_dir or find_project_dir())
    stacks_dir = project / "stacks"
    store = RolloutStateStore(
        project / (OFFLINE_STATE_FILE if offline else STATE_FILE), lock_path=project / LOCK_FILE
    )
    environments = select_environments(stacks_dir, envs, to_env, resume=resume)
    resume_command = f"latticework rollout{' --offline' if offline else ''} --resume"
    # Held from the first read of the state to the last, so that a rollout refused because
    # another runs never reads (or advises deleting) the running one's state.
    with store.held():
        saved = store.load() if resume else None
        rolled_out = environments or (saved.environments if saved is not None else ())
        identity = rollout_identity(project, rolled_out)

        restart = restart_command(
            rolled_out, offline=offline, assume_yes=yes, allow_replace=allow_replace
        )
        reports, report = _reporter(restart, resume_command)
        rollout = Rollout(
            plan_engine=OfflineEngine(project),
            deploy_engine=None
            if offline
            else make_engine(
                project_dir=project,
                backend_url=backend_url,
                on_progress=progress_printer(quiet=output_format == "json"),
            ),
            settings=lambda env: _rollout_settings(stacks_dir, env),
            store=store,
            approver=_approver,
            report=report,
            raise_if_interrupted=raise_if_interrupted,
        )
        request = RolloutRequest(
            environments=environments,
            offline=offline,
            assume_yes=yes,
            allow_replace=allow_replace,
            interactive=sys.stdin.isatty(),
            resume=resume,
        )
        try:
            state = rollout.run(request, identity)
        except KeyboardInterrupt:
            click.echo(f"rollout interrupted; continue it with `{resume_command}`", err=True)
            raise
        except (LatticeworkError, SpecError):
            # CI reads the JSON even when a gate stopped the rollout: print where it stopped.
            stopped = store.load()
            if output_format == "json" and stopped is not None and reports:
                _finish(stopped, reports, output_format)
            raise
        _finish(state, reports, output_format)


def _backend_url(value: str | None, *, offline: bool) -> str | None:
    """The checked `--backend-url`, or None for an `--offline` rollout, which has no use for
    one: given on the command line it is a usage error (it would suggest state is kept);
    from LATTICEWORK_BACKEND_URL, set for the deploying jobs, it is ignored unchecked."""
    if not offline:
        return None if value is None else check_backend_url(value)

    source = click.get_current_context().get_parameter_source("backend_url")
    if source is ParameterSource.COMMANDLINE:
        message = (
            "--backend-url: expected no state backend with --offline, found one: an offline "
            "rollout runs gate 1 only and keeps no Pulumi state, so the option would have no "
            "effect. Drop --backend-url, or drop --offline to deploy"
        )
        raise UsageError(message)
    return None


def _rollout_settings(stacks_dir: Path, environment: str) -> RolloutSettings:
    return load_spec(environment, stacks_dir=stacks_dir).settings.rollout


def _finish(state: RolloutState, reports: list[GateReport], output_format: OutputFormat) -> None:
    if output_format == "json":
        document = state.to_json()
        document["gates"] = [
            {
                "environment": r.environment,
                "step": r.step.value,
                "outcome": r.outcome,
                "detail": r.detail,
            }
            for r in reports
            if r.outcome != "started"
        ]
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return

    kind = "offline rollout (gate 1 only)" if state.offline else "rollout"
    commit = short_commit(state.identity.commit)
    click.echo(f"{kind} of {', '.join(state.environments)} finished at {commit}")


__all__ = ["command", "restart_command", "select_environments"]
