"""The terminal rendering of policy findings: text stays text, and counts say what ran."""

from __future__ import annotations

from latticework.findings import MANDATORY, Finding, PolicyInfo, PolicyReport
from latticework.reports.findings_table import findings_renderable, render_findings_table


def _policy(name: str, enforcement: str) -> PolicyInfo:
    return PolicyInfo(name=name, description="A policy.", enforcement=enforcement, kind="resource")


def test_markup_in_a_message_is_printed_as_text_not_interpreted() -> None:
    """A message holding rich markup (e.g. from a YAML key) renders literally, never crashes."""
    finding = Finding(
        policy="stack-secrets-encrypted",
        enforcement=MANDATORY,
        message="stacks/Pulumi.dev.yaml: config.[/red][bold]: a plaintext value",
        urn=None,
        resource_type=None,
        resource_name="[/red]",
    )
    report = PolicyReport(
        environment="dev",
        pack="latticework-guardrails",
        policies=(_policy("stack-secrets-encrypted", MANDATORY),),
        findings=(finding,),
        resources_checked=1,
    )

    text = render_findings_table(report, width=300)

    assert "config.[/red][bold]: a plaintext value" in text
    assert "[/red]" in text


def test_the_clean_line_counts_only_the_policies_that_ran() -> None:
    """Disabled policies are not counted as passed; the line says how many were disabled."""
    report = PolicyReport(
        environment="dev",
        pack="latticework-guardrails",
        policies=(_policy("a", MANDATORY), _policy("b", "disabled"), _policy("c", "disabled")),
        findings=(),
        resources_checked=10,
    )

    line = str(findings_renderable(report))

    assert line == "latticework-guardrails: 1 policy passed (2 disabled) on 10 resources of dev"
