"""`latticework plan`: plan one environment offline and report it as a tree, JSON or Mermaid.

The command is four steps, each a function another step can be slotted between:
`policy_config` validates the stack's `latticework:policies` before any program code runs,
`build_plan` runs the offline engine, `render_plan` turns the Plan into text, and
`write_report` prints it or writes it where `--output` says (see `latticework.cli._output`).
The policy pack runs on the plan before the report is written, so a failure to evaluate it
leaves no report behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click
from rich.console import Console

from components.spec import load_spec
from latticework.automation import require_project
from latticework.cli._interrupts import raise_if_interrupted
from latticework.cli._options import (
    env_option,
    output_option,
    project_dir_option,
    services_option,
)
from latticework.cli._output import check_output, write_atomically
from latticework.offline import plan_environment
from latticework.plan import Plan
from latticework.policy_eval import evaluate_plan, raise_on_blocking
from latticework.reports import plan_renderable, render_json, render_mermaid, render_table
from latticework.reports.findings_table import findings_renderable, findings_summary
from policy_packs.latticework_guardrails import policy_names
from policy_packs.latticework_guardrails.config import PackConfig, pack_config_for

ReportFormat = Literal["table", "json", "mermaid"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("table", "json", "mermaid")

_PROJECT_FILE = "Pulumi.yaml"
_STACKS_DIR = "stacks"
_PIPED_WIDTH = 120
"""Columns of a table on a pipe or file: rich's 80 would cut long resource types."""


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` (default: the working directory) holding
    Pulumi.yaml; `start` itself when there is none, so the engine names what is missing."""
    origin = (start or Path.cwd()).resolve()
    for candidate in (origin, *origin.parents):
        if (candidate / _PROJECT_FILE).is_file():
            return candidate
    return origin


def nearest_project_dir() -> Path:
    """The project a command runs on without --project-dir: `find_project_dir()`, or a
    `UsageError` naming the working directory when no directory up holds Pulumi.yaml."""
    return require_project(find_project_dir())


def policy_config(env: str, *, project_dir: Path, services_file: Path | None = None) -> PackConfig:
    """The environment's policy pack config, read and validated from its stack file.

    Raises `SpecError` (exit 2) for a bad stack or catalog file or `latticework:policies`
    block, before any program code runs and before any report is printed or written.
    """
    spec = load_spec(env, stacks_dir=project_dir / _STACKS_DIR, services_file=services_file)
    return pack_config_for(spec, policy_names=policy_names())


def build_plan(env: str, *, project_dir: Path, services_file: Path | None = None) -> Plan:
    """Run the project's program for `env` under the offline engine."""
    return plan_environment(env, project_dir=project_dir, services_file=services_file)


def render_plan(plan: Plan, report_format: ReportFormat) -> str:
    """The plan as text in one of `REPORT_FORMATS`."""
    if report_format == "json":
        return render_json(plan)
    if report_format == "mermaid":
        return render_mermaid(plan)
    return render_table(plan)


def write_report(plan: Plan, report_format: ReportFormat, output: Path | None) -> None:
    """Print the report, or write it to `output` so that the file is whole or untouched."""
    if output is not None:
        write_atomically(output, render_plan(plan, report_format))
        click.echo(f"wrote the {plan.environment} plan ({report_format}) to {output}", err=True)
        return

    if report_format == "table":
        stdout_console().print(plan_renderable(plan))
        return

    click.echo(render_plan(plan, report_format), nl=False)


def stdout_console(piped_width: int = _PIPED_WIDTH) -> Console:
    """A console on standard output, `piped_width` columns wide when that is not a terminal
    (CI logs, `> plan.txt`), as wide as `--output` writes the same table."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = piped_width
    return console


@click.command(name="plan")
@env_option("The environment (stack) to plan.")
@services_option("Plan")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(REPORT_FORMATS),
    default="table",
    show_default=True,
    help="table: resource tree per component; json: the documented plan schema; "
    "mermaid: the call graph.",
)
@output_option
@project_dir_option
def command(
    env: str,
    services_file: Path | None,
    report_format: ReportFormat,
    output: Path | None,
    project_dir: Path | None,
) -> None:
    """Plan an environment offline: every AWS resource the program would create.

    Runs the same __main__.py that `pulumi up` runs, under the Pulumi SDK's mock monitor,
    with no cloud account and no pulumi CLI, then runs the CrossGuard pack on the plan.
    Exit 0 on success, 1 when a mandatory policy fails, 2 on a usage or spec error, 3 when
    the Pulumi program fails, 130 on Ctrl-C.
    """
    project = project_dir or nearest_project_dir()
    if output is not None:
        check_output(output)
    pack_config = policy_config(env, project_dir=project, services_file=services_file)
    plan = build_plan(env, project_dir=project, services_file=services_file)
    # The policy pack runs on every plan, as it would on `pulumi preview --policy-pack`.
    policy_report = evaluate_plan(plan, config=pack_config)

    # A Ctrl-C lost in a finalizer so far stops the command here, before any report.
    raise_if_interrupted()
    write_report(plan, report_format, output)
    if report_format == "table" and output is None:
        stdout_console().print(findings_renderable(policy_report))
    else:
        click.echo(findings_summary(policy_report), err=True)
    raise_on_blocking(policy_report)


__all__ = [
    "REPORT_FORMATS",
    "ReportFormat",
    "build_plan",
    "command",
    "find_project_dir",
    "nearest_project_dir",
    "policy_config",
    "render_plan",
    "stdout_console",
    "write_report",
]
