"""The terminal form of a Plan: a tree of resources per component, with counts.

Each component shows how many AWS resources it holds (its own children and everything
below them); each AWS resource shows its type and the id the engine gave it. A table of
resource types with counts closes the report.
"""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from latticework.plan import Plan, PlannedResource


def plan_renderable(plan: Plan) -> RenderableType:
    """The plan as rich renderables: the resource tree, then the counts by type."""
    return Group(_resource_tree(plan), _type_table(plan))


def render_table(plan: Plan, *, width: int = 120) -> str:
    """The plan as plain text (no colours), as `plan_renderable` prints it."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(plan_renderable(plan))
    return buffer.getvalue()


def _resource_tree(plan: Plan) -> Tree:
    aws_resources = sum(1 for resource in plan.resources if resource.custom)
    title = Text.assemble(
        (f"{plan.project}/{plan.stack}", "bold"),
        f"  {plan.region}  account {plan.account_id}  ",
        (f"{aws_resources} resources", "bold green"),
        f" in {len(plan.components())} components",
    )
    tree = Tree(title)
    totals = _custom_totals(plan)
    for resource in sorted(plan.roots(), key=_display_order):
        _add(tree, plan, resource, totals)
    return tree


def _custom_totals(plan: Plan) -> dict[str, int]:
    # AWS resources under each component, counted bottom-up along the parent links.
    totals: Counter[str] = Counter()
    for resource in plan.resources:
        if not resource.custom:
            continue
        parent = resource.parent_urn
        seen: set[str] = set()
        while parent is not None and parent not in seen:
            seen.add(parent)
            totals[parent] += 1
            parent = plan.resource(parent).parent_urn if parent in plan else None
    return dict(totals)


def _add(branch: Tree, plan: Plan, resource: PlannedResource, totals: dict[str, int]) -> None:
    if resource.is_component:
        label = Text.assemble(
            (resource.name, "bold cyan"),
            f"  {resource.type}  ",
            (f"{totals.get(resource.urn, 0)} resources", "green"),
        )
        node = branch.add(label)
        children = sorted(plan.children(resource.urn), key=_display_order)
        for child in children:
            _add(node, plan, child, totals)
        return

    suffix = "  (read)" if resource.read else ""
    branch.add(
        Text.assemble(resource.name, (f"  {resource.type}", "dim"), f"  {resource.id}{suffix}")
    )


def _display_order(resource: PlannedResource) -> tuple[bool, str, str]:
    # Components first, then resources, each alphabetically by name.
    return (resource.custom, resource.name, resource.type)


def _type_table(plan: Plan) -> Table:
    counts = Counter(resource.type for resource in plan.resources if resource.custom)
    table = Table(title="Resources by type", title_justify="left")
    table.add_column("type")
    table.add_column("count", justify="right")
    for resource_type, count in sorted(counts.items()):
        table.add_row(resource_type, str(count))
    table.add_row(Text("total", style="bold"), Text(str(sum(counts.values())), style="bold"))
    return table


__all__ = ["plan_renderable", "render_table"]
