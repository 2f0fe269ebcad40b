"""Renderings of a Plan: a terminal tree, a stable JSON document and a Mermaid call graph."""

from latticework.reports.json import SCHEMA_VERSION, plan_document, render_json
from latticework.reports.mermaid import render_mermaid
from latticework.reports.table import plan_renderable, render_table

__all__ = [
    "SCHEMA_VERSION",
    "plan_document",
    "plan_renderable",
    "render_json",
    "render_mermaid",
    "render_table",
]
