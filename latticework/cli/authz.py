"""`latticework authz`: validate, test and format the Cedar files under `authz/`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from components.authz_files import load_authz
from components.spec import SERVICES_FILE_NAME
from latticework.authz import (
    authz_format_targets,
    check_read_files,
    format_file,
    load_cases,
    render_schema,
    run_cases,
    validate_authz,
)
from latticework.cli.plan import find_project_dir
from latticework.errors import PolicyViolationError, UsageError

_AUTHZ_DIR_NAME = "authz"
_PROJECT_FILE = "Pulumi.yaml"
_CATALOG = Path("stacks") / SERVICES_FILE_NAME


def _in_project(relative: Path) -> Path:
    """`relative` inside the nearest project (as `plan` finds it), as seen from here."""
    return Path(os.path.relpath(find_project_dir() / relative))


def _default_authz_dir() -> Path:
    """`authz/` of the nearest project, or a `UsageError` when no directory up is one."""
    if not (find_project_dir() / _PROJECT_FILE).is_file():
        message = (
            f"{Path.cwd()}: expected a Pulumi project ({_PROJECT_FILE}) here or in a parent "
            "directory, found none. Run from the latticework project or pass --authz-dir"
        )
        raise UsageError(message)
    return _in_project(Path(_AUTHZ_DIR_NAME))


def _authz_dir_option(function: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--authz-dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=_default_authz_dir,
        show_default=f"{_AUTHZ_DIR_NAME}/ of the nearest directory with Pulumi.yaml",
        help="The authorization files (schema, policies, templates, links, tests).",
    )(function)


@click.group(name="authz")
def command() -> None:
    """Validate, test and format the Cedar schema and policies under authz/."""


@command.command()
@_authz_dir_option
@click.option(
    "--schema",
    "schema_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Check every existing policy against this proposed schema instead of schema.json.",
)
@click.option(
    "--catalog",
    "catalog_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"Service catalog whose routes must fit the schema [default: {_CATALOG} of the "
    "project, skipped when absent].",
)
def validate(authz_dir: Path, schema_file: Path | None, catalog_file: Path | None) -> None:
    """Validate every policy, template and link against the schema; exit 2 on any problem."""
    if catalog_file is None and _in_project(_CATALOG).is_file():
        catalog_file = _in_project(_CATALOG)
    report = validate_authz(authz_dir, schema_file=schema_file, catalog_file=catalog_file)
    for problem in report.problems:
        click.echo(str(problem))
    if not report.ok or report.files is None:
        raise UsageError(f"{len(report.problems)} problem(s) in {authz_dir}")

    files = report.files
    routes = (
        f"; the routes of {catalog_file} fit the schema"
        if catalog_file is not None
        else f"; no service catalog checked ({_in_project(_CATALOG)} not found)"
    )
    click.echo(
        f"{authz_dir}: {len(files.policies)} policies, {len(files.templates)} templates, "
        f"{len(files.links)} links valid against {files.schema_file}{routes}"
    )


@command.command(name="test")
@_authz_dir_option
def test_command(authz_dir: Path) -> None:
    """Run every decision case in authz/tests/*.yaml; exit 1 when a case fails.

    Exit 2 when a case cannot be decided as written (a type or action the schema does not
    declare, a context or entity that does not fit it, an unknown policy id).
    """
    authz = load_authz(authz_dir)
    cases = load_cases(authz_dir)
    if not cases:
        raise UsageError(f"no decision cases in {authz_dir}/tests/*.yaml")

    report = run_cases(authz, cases)
    for result in report.results:
        if not result.passed:
            click.echo(result.failure_line())
    click.echo(report.summary())
    if report.invalid:
        # A case Cedar cannot decide is a broken test file, not a failing policy.
        message = (
            f"{report.invalid} decision case(s) in {authz_dir / 'tests'} do not fit the schema "
            "or name unknown policies; fix them as each line above says"
        )
        raise UsageError(message)
    if report.failed:
        raise PolicyViolationError(f"{report.failed} authorization test case(s) failed")


@command.command(name="format")
@_authz_dir_option
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: list the files that are not formatted and exit 2 if there are any.",
)
def format_command(authz_dir: Path, check: bool) -> None:
    """Format schema.json and the .cedar files with Cedar's formatter (or --check them).

    Also regenerates schema.cedarschema, the human-readable rendering of schema.json.
    """
    unformatted: list[Path] = []
    results = [format_file(path) for path in authz_format_targets(authz_dir)]
    results.append(render_schema(authz_dir))
    results.extend(check_read_files(authz_dir))
    # dict.fromkeys: schema.json is read for itself and for its rendering; name it once.
    problems = list(
        dict.fromkeys(f"{result.path}: {result.problem}" for result in results if result.problem)
    )
    if problems:
        # Nothing is rewritten unless every file can be formatted.
        raise UsageError("\n".join(problems))

    for result in results:
        if not result.changed or result.formatted is None:
            continue
        unformatted.append(result.path)
        if check:
            click.echo(f"would reformat {result.path}")
        else:
            _rewrite(result.path, result.formatted)
            click.echo(f"reformatted {result.path}")

    if check and unformatted:
        raise UsageError(
            f"{len(unformatted)} file(s) not formatted; run `latticework authz format`"
        )
    if not unformatted:
        click.echo(f"{authz_dir}: all files formatted")


def _rewrite(path: Path, text: str) -> None:
    """Replace `path` with `text`, or raise `UsageError` naming the file and the reason."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        message = (
            f"{path}: expected a writable file, found {exc.strerror or type(exc).__name__}. "
            "Make it writable and run `latticework authz format` again"
        )
        raise UsageError(message) from exc


__all__ = ["command"]
