"""Shared fixture: a scratch copy of the project to plan variants of."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.components._samples import PROJECT_DIR, STACKS_DIR


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the program, stacks and authz files that a test may change freely."""
    project = tmp_path / "project"
    project.mkdir()
    for file_name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / file_name, project / file_name)
    shutil.copytree(STACKS_DIR, project / "stacks")
    shutil.copytree(PROJECT_DIR / "authz", project / "authz")
    return project
