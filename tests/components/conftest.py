"""Shared fixtures: the sample environments planned offline, and a scratch project copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from latticework.offline import plan_environment
from latticework.plan import Plan
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


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    """The sample dev environment, planned once for the whole session."""
    return plan_environment("dev", project_dir=PROJECT_DIR)


@pytest.fixture(scope="session")
def staging_plan() -> Plan:
    """The sample staging environment (an existing VPC), planned once."""
    return plan_environment("staging", project_dir=PROJECT_DIR)


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    """The sample prod environment (protected, more replicas), planned once."""
    return plan_environment("prod", project_dir=PROJECT_DIR)
