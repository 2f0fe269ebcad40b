"""Command-line options that several commands share, declared once so they read the same."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from latticework.environments import ENVIRONMENTS

_Function = TypeVar("_Function", bound=Callable[..., Any])
_Decorator = Callable[[_Function], _Function]


def env_option(help_text: str) -> _Decorator[Any]:
    """``--env``: one of `ENVIRONMENTS`, required."""
    return click.option("--env", required=True, type=click.Choice(ENVIRONMENTS), help=help_text)


def services_option(verb: str) -> _Decorator[Any]:
    """``--services FILE``: another catalog instead of ``stacks/services.yaml``."""
    return click.option(
        "--services",
        "services_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"{verb} with this service catalog instead of stacks/services.yaml.",
    )


STANDARD_OUTPUT = Path("/dev/stdout")
"""What `--output -` stands for: the descriptor standard output is, wherever it is redirected."""


class _ReportPath(click.Path):
    """A report file path, or `-` for standard output.

    Refused before any file is made: an empty path, since `Path("")` would mean `.`, and one
    whose last part names a directory (`reports/`, `reports/.`), since `Path` would drop the
    slash and a file `reports` would be written.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return super().convert(value, param, ctx)

        if value == "-":
            return STANDARD_OUTPUT
        if value == "":
            self.fail(
                "expected a file path, found an empty one. Name a file such as plan.json, or "
                "leave --output out to print the report",
                param,
                ctx,
            )
        if os.path.basename(value) in ("", ".", ".."):
            example = os.path.normpath(os.path.join(value, "plan.json"))
            self.fail(
                f"expected a file path, found {value}, which names a directory. Name a file, "
                f"such as {example}, or leave --output out to print the report",
                param,
                ctx,
            )

        return super().convert(value, param, ctx)


output_option = click.option(
    "--output",
    type=_ReportPath(dir_okay=False, path_type=Path),
    help="Write the report to this file (atomically) instead of standard output; "
    "- (or /dev/stdout) is standard output, written where the shell redirected it.",
)
"""``--output PATH``: where a report goes instead of standard output."""

project_dir_option = click.option(
    "--project-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The Pulumi project (default: the nearest directory with Pulumi.yaml).",
)
"""``--project-dir DIR``: the Pulumi project; commands look upward for it by default."""

__all__ = [
    "ENVIRONMENTS",
    "STANDARD_OUTPUT",
    "env_option",
    "output_option",
    "project_dir_option",
    "services_option",
]
