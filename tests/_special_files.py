"""Things that are not regular files, put where a test expects one."""

from __future__ import annotations

import os
from pathlib import Path


def replace_with(path: Path, kind: str) -> None:
    """Put `kind`, "a named pipe" or "a directory", where `path` is."""
    path.unlink(missing_ok=True)
    if kind == "a named pipe":
        os.mkfifo(path)
    else:
        path.mkdir()
