"""What a rollout deploys: the git commit and a digest of the catalog and stack files.

`--resume` refuses to continue when either changed since the rollout started: the earlier
environments were checked and deployed from the old inputs, so continuing would promote
something no gate has seen.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from latticework.rollout._state import RolloutIdentity

#: The commit recorded when the project is not a git checkout (or git is missing).
NO_COMMIT = "(not a git checkout)"


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


def catalog_digest(stacks_dir: Path, environments: Iterable[str]) -> str:
    """SHA-256 over the service catalog and the stack file of each environment.

    Files are hashed by name and content in a fixed order; a missing file counts as absent,
    so deleting one changes the digest too.
    """
    names = ["services.yaml", *sorted(f"Pulumi.{env}.yaml" for env in set(environments))]
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        path = stacks_dir / name
        content = path.read_bytes() if path.is_file() else b"(absent)"
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def rollout_identity(project_dir: Path, environments: Iterable[str]) -> RolloutIdentity:
    """The identity of a rollout of `environments` from `project_dir` as it is now."""
    return RolloutIdentity(
        commit=current_commit(project_dir),
        catalog_digest=catalog_digest(project_dir / "stacks", environments),
    )


__all__ = ["NO_COMMIT", "catalog_digest", "current_commit", "rollout_identity"]
