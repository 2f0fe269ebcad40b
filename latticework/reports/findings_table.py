"""Policy findings on the terminal: a table, or one line when every policy passed."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from latticework.findings import CHECKED_AT_UPDATE, MANDATORY, PolicyReport


def findings_renderable(report: PolicyReport) -> RenderableType:
    """The findings as a rich table (or one line when there are none)."""
    if not report.findings:
        return Text(
            f"{report.pack}: {len(report.policies)} policies passed on "
            f"{report.resources_checked} resources of {report.environment}",
            style="bold green",
        )

    table = Table(title=f"{report.pack} on {report.environment}", show_lines=False)
    table.add_column("level", no_wrap=True)
    table.add_column("policy", no_wrap=True)
    table.add_column("resource", overflow="fold")
    table.add_column("finding", overflow="fold")
    for finding in report.findings:
        if finding.status == CHECKED_AT_UPDATE:
            level = Text("at update", style="cyan")
        elif finding.enforcement == MANDATORY:
            level = Text("mandatory", style="bold red")
        else:
            level = Text("advisory", style="yellow")
        table.add_row(level, finding.policy, finding.resource_name or "(stack)", finding.message)
    return table


def render_findings_table(report: PolicyReport, *, width: int = 160) -> str:
    """The findings table as plain text (no colours)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(findings_renderable(report))
    return buffer.getvalue()


def findings_summary(report: PolicyReport) -> str:
    """One line: how many policies ran and how many findings of each kind they reported."""
    blocking = len(report.blocking)
    other = len(report.findings) - blocking
    return (
        f"{report.pack} on {report.environment}: {len(report.policies)} policies, "
        f"{blocking} mandatory violation(s), {other} advisory or checked-at-update finding(s)"
    )


__all__ = ["findings_renderable", "findings_summary", "render_findings_table"]
