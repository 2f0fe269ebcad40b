"""The `latticework` command line.

Each command module under `latticework.cli` exposes a click command named `command` (or,
for several, a `commands` tuple); `_COMMAND_MODULES` lists them. Errors derived from
`LatticeworkError` and `SpecError` become a one-line message on stderr and their own exit
code; anything else is a bug and keeps its traceback. Ctrl-C is exit 130, one lost in a
finalizer included, unless the command failed meanwhile (its own code stands) or, like
`dev`, stops on it (see `latticework.cli._interrupts`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from components.errors import SpecError
from latticework.cli._interrupts import interrupts_kept
from latticework.errors import ExitCode, LatticeworkError

_COMMAND_MODULES: tuple[str, ...] = ("authz", "check", "deploy", "dev", "plan", "rollout")


class _LatticeworkGroup(click.Group):
    """A click group that turns expected failures into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with interrupts_kept():
                return super().invoke(ctx)
        except SpecError as exc:
            _fail(str(exc), ExitCode.USAGE)
        except LatticeworkError as exc:
            _fail(str(exc), exc.exit_code)
        except click.Abort:
            # click raises Abort for a prompt answered "no" (and for Ctrl-C at a prompt).
            _fail("declined: nothing was changed", ExitCode.DECLINED)
        except KeyboardInterrupt:
            _fail("interrupted", ExitCode.INTERRUPTED)


def _fail(message: str, code: ExitCode) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(int(code))


@click.group(cls=_LatticeworkGroup)
@click.version_option(package_name="latticework")
def main() -> None:
    """Plan, check and deploy microservices on ECS, VPC Lattice and Verified Permissions."""


for _module_name in _COMMAND_MODULES:
    _module = importlib.import_module(f"latticework.cli.{_module_name}")
    # A module with several commands (preview, up, ...) lists them in `commands`.
    for _command in getattr(_module, "commands", (_module.command,)):
        main.add_command(_command)

__all__ = ["main"]
