"""`latticework preview|up|destroy|refresh|drift|outputs --env E`: the real engine, one stack.

Each command runs this project through Pulumi's Automation API (`AutomationEngine`): the
stack named after the environment (only `preview` and `up` create it), in the file backend
under the project unless `--backend-url` says otherwise, with the local policy pack
attached to `preview` and `up`. Progress goes to standard error as the engine reports it;
the closing summary (changes, policy findings, outputs with secrets masked) goes to
standard output as text or, with `--format json`, one JSON document.

Failures exit with their own code and one line: policy violation 1, program error 3, stack
locked 4, missing pulumi CLI 5, missing credentials 6 (see `latticework.errors`); `drift
--exit-code` exits 1 when it finds drift.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import click

from components.spec import load_spec
from latticework.automation import (
    AutomationEngine,
    AutomationSettings,
    check_backend_url,
    require_project,
)
from latticework.cli._options import env_option, project_dir_option
from latticework.cli.plan import find_project_dir
from latticework.engine import (
    EngineResult,
    ProgressEvent,
    ProgressListener,
    StackOutput,
)
from latticework.errors import ExitCode, LatticeworkError, PolicyViolationError, UsageError

OutputFormat = Literal["text", "json"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("text", "json")
_PROGRESS_MARKS = {"step": "..", "done": "ok", "failed": "!!", "diagnostic": "--", "policy": "**"}


def progress_printer(*, quiet: bool = False) -> ProgressListener:
    """A listener that prints each progress event as one line on standard error."""

    def show(event: ProgressEvent) -> None:
        if quiet and event.kind in {"step", "done"}:
            return
        click.echo(f"  {_PROGRESS_MARKS.get(event.kind, '--')} {event.message}", err=True)

    return show


def backend_url_option(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> str | None:
    """Click callback: a given `--backend-url` must name a backend the pulumi CLI knows."""
    del context, parameter
    return None if value is None else check_backend_url(value)


def make_engine(
    *, project_dir: Path | None, backend_url: str | None, on_progress: ProgressListener
) -> AutomationEngine:
    """The Automation API engine for the project at (or above) the working directory."""
    settings = AutomationSettings(
        project_dir=project_dir or find_project_dir(),
        backend_url=backend_url,
        environ=dict(os.environ),
    )
    return AutomationEngine(settings, on_progress=on_progress)


def summary_text(result: EngineResult) -> str:
    """The closing summary: counts per operation, the findings, the outputs (secrets masked)."""
    counts = result.change_counts()
    changed = {op: n for op, n in counts.items() if op != "same"}
    lines = [
        f"{result.operation.value} of {result.environment}: "
        + (", ".join(f"{n} to {op}" for op, n in changed.items()) or "no changes")
        + (f" ({counts['same']} unchanged)" if "same" in counts else "")
    ]
    if result.findings:
        lines.append(f"policy findings ({len(result.findings)}):")
        lines += [
            f"  [{f.enforcement_level}] {f.policy_name}"
            f"{' on ' + f.resource_urn.rsplit('::', 1)[-1] if f.resource_urn else ''}: "
            f"{f.message.splitlines()[0] if f.message else ''}"
            for f in result.findings
        ]
    else:
        lines.append("policy findings: none")
    if result.outputs:
        lines.append("outputs:")
        lines += outputs_lines(result.outputs)
    return "\n".join(lines)


def outputs_lines(outputs: Mapping[str, StackOutput]) -> list[str]:
    """One `name: value` line per output, secrets masked."""
    return [
        f"  {name}: {json.dumps(output.display(), default=str)}"
        for name, output in sorted(outputs.items())
    ]


def _report(result: EngineResult, output_format: OutputFormat) -> None:
    if output_format == "json":
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True, default=str))
    else:
        click.echo(summary_text(result))

    if result.mandatory_findings:
        names = ", ".join(sorted({f.policy_name for f in result.mandatory_findings}))
        message = f"{result.operation.value} of {result.environment}: mandatory policy " + (
            f"violation(s): {names}"
        )
        raise PolicyViolationError(message)


def _confirm(need: str, *, question: str) -> None:
    """Ask `question` at the terminal (declining aborts); with no terminal, say --yes is needed."""
    if not sys.stdin.isatty():
        raise UsageError(f"{need} and there is no terminal to ask: re-run with --yes")
    click.confirm(question, abort=True, err=True)


def _common_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        env_option("The environment, which is also the stack name."),
        click.option(
            "--backend-url",
            envvar="LATTICEWORK_BACKEND_URL",
            show_envvar=True,
            callback=backend_url_option,
            help="State backend (s3://bucket/prefix, https://api.pulumi.com, file://...). "
            "Default: file backend in .latticework/state under the project.",
        ),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(OUTPUT_FORMATS),
            default="text",
            show_default=True,
            help="text, or one JSON document on standard output.",
        ),
        project_dir_option,
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _engine(
    project_dir: Path | None, backend_url: str | None, output_format: OutputFormat
) -> AutomationEngine:
    return make_engine(
        project_dir=project_dir,
        backend_url=backend_url,
        on_progress=progress_printer(quiet=output_format == "json"),
    )


@click.command(name="preview")
@_common_options
def preview_command(
    env: str, backend_url: str | None, output_format: OutputFormat, project_dir: Path | None
) -> None:
    """Preview an environment for real, with the policy pack attached; change nothing."""
    result = _engine(project_dir, backend_url, output_format).preview(env)
    _report(result, output_format)


@click.command(name="up")
@_common_options
@click.option(
    "--yes",
    is_flag=True,
    help="Deploy an environment whose stack settings require approval without asking.",
)
def up_command(
    env: str,
    backend_url: str | None,
    output_format: OutputFormat,
    project_dir: Path | None,
    yes: bool,
) -> None:
    """Deploy an environment with the policy pack attached (a mandatory violation stops it).

    An environment whose stack settings require approval (`rollout.requireApproval`) is
    deployed only after a person confirms at the terminal, or with --yes.
    """
    project = require_project(project_dir or find_project_dir())
    settings = load_spec(env, stacks_dir=project / "stacks").settings.rollout
    if settings.require_approval and not yes:
        _confirm(
            f"up of {env} needs approval (rollout.requireApproval in stacks/Pulumi.{env}.yaml)",
            question=f"Deploy {env}?",
        )

    result = _engine(project, backend_url, output_format).up(env)
    _report(result, output_format)


@click.command(name="destroy")
@_common_options
@click.option("--yes", is_flag=True, help="Destroy without asking (for automation).")
def destroy_command(
    env: str,
    backend_url: str | None,
    output_format: OutputFormat,
    project_dir: Path | None,
    yes: bool,
) -> None:
    """Delete every resource of an environment; the stack and its history remain."""
    if not yes:
        _confirm(
            f"destroy of {env} needs confirmation", question=f"Delete every resource of {env}?"
        )

    result = _engine(project_dir, backend_url, output_format).destroy(env)
    _report(result, output_format)


@click.command(name="refresh")
@_common_options
def refresh_command(
    env: str, backend_url: str | None, output_format: OutputFormat, project_dir: Path | None
) -> None:
    """Update the stack's state from what exists in the cloud."""
    result = _engine(project_dir, backend_url, output_format).refresh(env)
    _report(result, output_format)


class DriftFoundError(LatticeworkError):
    """`drift --exit-code` found resources changed outside Pulumi."""

    # 1, as `git diff --exit-code`: a difference was found; failures keep their own codes.
    exit_code = ExitCode.POLICY_VIOLATION


@click.command(name="drift")
@_common_options
@click.option(
    "--exit-code",
    "fail_on_drift",
    is_flag=True,
    help="Exit 1 when drift is found (for CI), after printing it as usual.",
)
def drift_command(
    env: str,
    backend_url: str | None,
    output_format: OutputFormat,
    project_dir: Path | None,
    fail_on_drift: bool,
) -> None:
    """Show what changed in the cloud outside Pulumi, without changing the state."""
    result = _engine(project_dir, backend_url, output_format).drift(env)
    if output_format == "json":
        document = result.to_json()
        document["drifted"] = len(result.changes)
        click.echo(json.dumps(document, indent=2, sort_keys=True, default=str))
    elif not result.changes:
        click.echo(f"no drift in {env}")
    else:
        click.echo(f"drift in {env} ({len(result.changes)} resource(s)):")
        for change in result.changes:
            click.echo(f"  {change.operation}: {change.resource_type} {change.name}")

    if fail_on_drift and result.changes:
        message = (
            f"drift in {env}: {len(result.changes)} resource(s) changed outside Pulumi. "
            f"Run `latticework refresh --env {env}` to accept the cloud's state, or "
            f"`latticework up --env {env}` to restore the program's"
        )
        raise DriftFoundError(message)


@click.command(name="outputs")
@_common_options
def outputs_command(
    env: str, backend_url: str | None, output_format: OutputFormat, project_dir: Path | None
) -> None:
    """Print an environment's stack outputs; secret outputs are masked."""
    outputs = _engine(project_dir, backend_url, output_format).outputs(env)
    if output_format == "json":
        document = {name: output.display() for name, output in sorted(outputs.items())}
        click.echo(json.dumps(document, indent=2, sort_keys=True, default=str))
        return

    click.echo("\n".join([f"outputs of {env}:", *outputs_lines(outputs)]))


#: Every command of this module; the CLI group registers each.
commands: tuple[click.Command, ...] = (
    preview_command,
    up_command,
    destroy_command,
    refresh_command,
    drift_command,
    outputs_command,
)
#: The module's first command, for registries that take one `command` per module.
command = preview_command

__all__ = [
    "OUTPUT_FORMATS",
    "DriftFoundError",
    "backend_url_option",
    "command",
    "commands",
    "make_engine",
    "outputs_lines",
    "progress_printer",
    "summary_text",
]
