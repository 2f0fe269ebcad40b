"""The sample stacks as mutable documents, for tests that change one key at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
STACKS_DIR = PROJECT_DIR / "stacks"

Document = dict[str, Any]
Mutation = Callable[[Document], None]


def sample_catalog() -> Document:
    """A fresh, mutable copy of stacks/services.yaml."""
    loaded: Document = yaml.safe_load((STACKS_DIR / "services.yaml").read_text())
    return copy.deepcopy(loaded)


def sample_stack(env: str) -> Document:
    """A fresh, mutable copy of stacks/Pulumi.<env>.yaml."""
    loaded: Document = yaml.safe_load((STACKS_DIR / f"Pulumi.{env}.yaml").read_text())
    return loaded


def service(document: Document, name: str) -> Document:
    """The catalog entry called `name` inside a catalog document."""
    entries: list[Document] = document["services"]
    return next(entry for entry in entries if entry["name"] == name)


def settings(document: Document) -> Document:
    """The `latticework:settings` mapping inside a stack document."""
    found: Document = document["config"]["latticework:settings"]
    return found


def write_yaml(path: Path, document: Document) -> Path:
    """Write `document` to `path` as YAML and return the path."""
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
