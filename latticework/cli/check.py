"""`latticework check`: plan an environment offline and run the policy pack on it, for CI.

Exit 0 when no mandatory policy fails (advisory findings are reported, not fatal), 1 when
one does, 2 on a usage or spec error, 3 when the Pulumi program fails, 130 on Ctrl-C.
``--format sarif`` is for GitHub code scanning,
``--format junit`` for CI test reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import click

from latticework.cli._interrupts import raise_if_interrupted
from latticework.cli._options import env_option, output_option, project_dir_option, services_option
from latticework.cli._output import check_output, write_atomically
from latticework.cli.plan import build_plan, nearest_project_dir, policy_config, stdout_console
from latticework.findings import PolicyReport
from latticework.plan import Plan
from latticework.policy_eval import evaluate_plan, raise_on_blocking
from latticework.reports.findings_table import (
    FINDINGS_WIDTH,
    findings_renderable,
    render_findings_table,
)
from latticework.reports.junit import render_junit
from latticework.reports.sarif import SourceLocator, render_sarif
from latticework.stack_secrets import with_stack_secrets

CheckFormat = Literal["table", "json", "sarif", "junit"]
CHECK_FORMATS: tuple[CheckFormat, ...] = ("table", "json", "sarif", "junit")


def source_locator(plan: Plan, root: Path) -> SourceLocator:
    """Where SARIF results point: the plan's catalog and stack file, relative to `root`."""
    if plan.spec is None:
        stack_file = root / "stacks" / f"Pulumi.{plan.environment}.yaml"
        services_file = root / "stacks" / "services.yaml"
    else:
        stack_file = plan.spec.stack_file
        services_file = plan.spec.services_file
    return SourceLocator(
        root=root,
        stack_file=stack_file,
        services_file=services_file,
        service_names=[service.name for service in plan.services],
    )


def render_check(report: PolicyReport, check_format: CheckFormat, locator: SourceLocator) -> str:
    """The report as text in one of `CHECK_FORMATS`."""
    if check_format == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if check_format == "sarif":
        return render_sarif(report, locator)
    if check_format == "junit":
        return render_junit(report)
    return render_findings_table(report)


@click.command(name="check")
@env_option("The environment (stack) to check.")
@services_option("Check")
@click.option(
    "--format",
    "check_format",
    type=click.Choice(CHECK_FORMATS),
    default="table",
    show_default=True,
    help="table: findings on the terminal; json: the findings document; sarif: SARIF 2.1.0 "
    "for GitHub code scanning; junit: JUnit XML for CI test reports.",
)
@output_option
@project_dir_option
def command(
    env: str,
    services_file: Path | None,
    check_format: CheckFormat,
    output: Path | None,
    project_dir: Path | None,
) -> None:
    """Plan an environment offline and run the CrossGuard pack on it (for CI).

    Exit 0 when every mandatory policy passes, 1 when one fails, 2 on a usage or spec error,
    3 when the Pulumi program fails, 130 on Ctrl-C.
    """
    project = project_dir or nearest_project_dir()
    if output is not None:
        check_output(output)
    pack_config = policy_config(env, project_dir=project, services_file=services_file)
    plan = build_plan(env, project_dir=project, services_file=services_file)
    # Plaintext secrets in any stack file fail the check like a mandatory policy.
    report = with_stack_secrets(evaluate_plan(plan, config=pack_config), project / "stacks")
    locator = source_locator(plan, project)
    # A Ctrl-C lost in a finalizer so far stops the command here, before any report.
    raise_if_interrupted()

    if output is not None:
        write_atomically(output, render_check(report, check_format, locator))
        click.echo(
            f"wrote {len(report.findings)} finding(s) for {env} ({check_format}) to {output}",
            err=True,
        )
    elif check_format == "table":
        stdout_console(FINDINGS_WIDTH).print(findings_renderable(report))
    else:
        click.echo(render_check(report, check_format, locator), nl=False)

    raise_on_blocking(report)


__all__ = [
    "CHECK_FORMATS",
    "CheckFormat",
    "command",
    "render_check",
    "source_locator",
]
