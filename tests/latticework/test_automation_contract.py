"""The Automation API engine against a real pulumi CLI; skipped where none is on PATH.

These tests need the `pulumi` CLI (and, for the preview, the AWS provider plugin). A skip
here means the real engine was not exercised on this machine: it is not a pass.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from latticework.automation import STATE_DIR, AutomationEngine, AutomationSettings
from latticework.errors import MissingCredentialsError, UsageError

PROJECT_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="no pulumi CLI on PATH"),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this project with its own (empty) state directory."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(PROJECT_DIR / name, tmp_path / name)
    for name in ("components", "stacks", "authz", "policy_packs"):
        shutil.copytree(PROJECT_DIR / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(PROJECT_DIR / ".venv")
    return tmp_path


def _settings(project: Path) -> AutomationSettings:
    environ = dict(os.environ)
    environ["PULUMI_CONFIG_PASSPHRASE"] = "contract-test-passphrase"
    return AutomationSettings(project_dir=project, environ=environ)


def test_outputs_of_a_stack_never_created_is_refused_without_creating_it(project: Path) -> None:
    """Reading outputs in the project's empty file backend says no stack is there, makes none."""
    engine = AutomationEngine(_settings(project))

    with pytest.raises(UsageError, match="no stack 'dev' in the file://"):
        engine.outputs("dev")

    assert (project / STATE_DIR).is_dir()
    assert not [path for path in (project / STATE_DIR).rglob("dev.json*")]


def test_preview_without_aws_credentials_is_missing_credentials(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real preview with every AWS credential source removed fails as missing credentials."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(project / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(project / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    engine = AutomationEngine(_settings(project))

    with pytest.raises(MissingCredentialsError, match="credentials"):
        engine.preview("dev")
