"""The benchmarks under bench/ answer `--help` with their usage instead of running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(path.name for path in _BENCH.glob("*.py")))
def test_help_prints_the_usage_and_exits_0_without_measuring(script: str) -> None:
    """`--help` prints usage and the benchmark's one-line summary, and measures nothing."""
    result = subprocess.run(
        [sys.executable, str(_BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")
    assert "PASS" not in result.stdout
