"""What a rollout deploys: the git commit and a digest of the catalog and stack files.

`--resume` refuses to continue when either changed since the rollout started: the earlier
environments were checked and deployed from the old inputs, so continuing would promote
something no gate has seen.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import yaml

from latticework.rollout._state import RolloutIdentity

#: The commit recorded when the project is not a git checkout (or git is missing).
NO_COMMIT = "(not a git checkout)"
#: Top-level keys the pulumi CLI itself writes into a stack file (`stack init` adds the
#: passphrase provider's salt), which change nothing about what is deployed.
_PULUMI_MANAGED_KEYS = frozenset({"encryptionsalt", "encryptedkey", "secretsprovider"})


def current_commit(project_dir: Path) -> str:
    """The commit checked out in `project_dir`, or `NO_COMMIT`."""
    git = shutil.which("git")
    if git is None:
        return NO_COMMIT

    completed = subprocess.run(  # noqa: S603 - fixed arguments, git from PATH
        [git, "rev-parse", "HEAD"],
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        return NO_COMMIT
    return completed.stdout.strip()


def short_commit(commit: str) -> str:
    """A commit as messages show it: its first 12 characters, or `NO_COMMIT` whole."""
    return commit if commit == NO_COMMIT else commit[:12]


def catalog_digest(stacks_dir: Path, environments: Iterable[str]) -> str:
    """SHA-256 over the service catalog and the stack file of each environment.

    Files are hashed by name and content in a fixed order; a missing file counts as absent,
    so deleting one changes the digest too. The catalog counts byte for byte; a stack file
    counts by its settings, without the keys the pulumi CLI writes into it itself, so the
    first preview of a new stack (which adds `encryptionsalt`) does not block `--resume`.
    """
    stack_names = sorted(f"Pulumi.{env}.yaml" for env in set(environments))
    digest = hashlib.sha256()
    for name in ["services.yaml", *stack_names]:
        digest.update(name.encode() + b"\0")
        path = stacks_dir / name
        content = path.read_bytes() if path.is_file() else b"(absent)"
        if name in stack_names and path.is_file():
            content = _stack_settings_content(content)
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def _stack_settings_content(content: bytes) -> bytes:
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError:
        # Unreadable settings stop gate 1 anyway; until then they count byte for byte.
        return content
    if not isinstance(document, dict):
        return content

    settings = {
        str(key): value for key, value in document.items() if key not in _PULUMI_MANAGED_KEYS
    }
    return json.dumps(settings, sort_keys=True, default=str).encode()


def rollout_identity(project_dir: Path, environments: Iterable[str]) -> RolloutIdentity:
    """The identity of a rollout of `environments` from `project_dir` as it is now."""
    return RolloutIdentity(
        commit=current_commit(project_dir),
        catalog_digest=catalog_digest(project_dir / "stacks", environments),
    )


__all__ = [
    "NO_COMMIT",
    "catalog_digest",
    "current_commit",
    "rollout_identity",
    "short_commit",
]
