"""Policy findings on the terminal: a table, or one line when every policy passed."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from latticework.findings import CHECKED_AT_UPDATE, DISABLED, MANDATORY, PolicyReport

FINDINGS_WIDTH = 160
"""Columns of the findings table written to a file or pipe."""


def findings_renderable(report: PolicyReport) -> RenderableType:
    """The findings as a rich table (or one line when there are none)."""
    if not report.findings:
        ran, disabled = _ran_and_disabled(report)
        policies = "policy" if ran == 1 else "policies"
        disabled_note = f" ({disabled} disabled)" if disabled else ""
        return Text(
            f"{report.pack}: {ran} {policies} passed{disabled_note} on "
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
        # Cells are Text, never markup: messages and names can hold user text such as "[/red]".
        table.add_row(
            level,
            Text(finding.policy),
            Text(finding.resource_name or "(stack)"),
            Text(finding.message),
        )
    return table


def render_findings_table(report: PolicyReport, *, width: int = FINDINGS_WIDTH) -> str:
    """The findings table as plain text (no colours)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(findings_renderable(report))
    return buffer.getvalue()


def findings_summary(report: PolicyReport) -> str:
    """One line: how many policies ran and how many findings of each kind they reported."""
    blocking = len(report.blocking)
    other = len(report.findings) - blocking
    ran, disabled = _ran_and_disabled(report)
    disabled_note = f" ({disabled} disabled)" if disabled else ""
    return (
        f"{report.pack} on {report.environment}: {ran} policies{disabled_note}, "
        f"{blocking} mandatory violation(s), {other} advisory or checked-at-update finding(s)"
    )


def _ran_and_disabled(report: PolicyReport) -> tuple[int, int]:
    """How many policies ran and how many were disabled by the pack's configuration."""
    disabled = sum(1 for policy in report.policies if policy.enforcement == DISABLED)
    return len(report.policies) - disabled, disabled


__all__ = [
    "FINDINGS_WIDTH",
    "findings_renderable",
    "findings_summary",
    "render_findings_table",
]
