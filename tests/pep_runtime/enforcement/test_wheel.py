"""The pep_runtime wheel installs alone into a fresh virtual environment, without Pulumi."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[3] / "pep_runtime"

IMPORT_CHECK = """
import importlib, importlib.util, pkgutil, sys
import pep_runtime
from pep_runtime.enforcement import Enforcer, EnforcementMiddleware, WsgiEnforcementMiddleware
modules = [info.name for info in pkgutil.walk_packages(pep_runtime.__path__, "pep_runtime.")]
for name in modules:
    importlib.import_module(name)
assert importlib.util.find_spec("pulumi") is None, "pulumi is installed"
assert not any(name.startswith("pulumi") for name in sys.modules), "pulumi was imported"
print(len(modules), pep_runtime.__file__)
"""


def _run(*command: str | Path, cwd: Path) -> str:
    completed = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def _metadata(wheel: Path) -> dict[str, str]:
    """The wheel's METADATA headers (the README follows them as the body)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    headers = text.split("\n\n", 1)[0]
    return dict(line.split(": ", 1) for line in headers.splitlines() if ": " in line)


def test_wheel_installs_and_imports_without_pulumi(tmp_path: Path) -> None:
    """One pip command installs the wheel and its dependencies; every module imports; the
    package README is its description."""
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        "dist",
        PACKAGE_DIR,
        cwd=tmp_path,
    )
    wheels = list((tmp_path / "dist").glob("latticework_pep_runtime-*.whl"))
    _run(sys.executable, "-m", "venv", "--without-pip", "venv", cwd=tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", str(python))

    _run(*pip, "install", "-q", "--no-compile", *wheels, cwd=tmp_path)
    output = _run(python, "-c", IMPORT_CHECK, cwd=tmp_path)

    assert len(wheels) == 1
    assert _metadata(wheels[0]).get("Description-Content-Type") == "text/markdown"
    count, location = output.split()
    assert int(count) >= 10
    assert location.startswith(str(tmp_path / "venv"))
