"""The `latticework` console script and `python -m latticework`.

The CLI's commands import the Pulumi SDK and the engines before the first argument is read.
Ctrl-C during that second ends as Ctrl-C during a command does (a one-line message, exit
130). While the imports run, Ctrl-C is only recorded: raised inside them, it can be caught
and turned into an import error by a library's bare `except`, or swallowed in a callback.
Once the command has ended, Ctrl-C ends the process by the signal itself, as it does
anyway during most of the interpreter's shutdown.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from latticework.errors import ExitCode


def run() -> None:
    """Load the CLI and run it."""
    interrupted: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        interrupted.append(signum)

    previous = signal.signal(signal.SIGINT, record)
    try:
        from latticework.cli import main
    except KeyboardInterrupt:  # raised by a handler installed over ours while loading
        interrupted.append(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        sys.stderr.write("error: interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED))

    try:
        main()
    finally:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            # The command is over. During the interpreter's shutdown a KeyboardInterrupt
            # could only be printed as ignored, and the exit would be 0: let Ctrl-C end the
            # process by the signal instead (status 130 to a shell).
            signal.signal(signal.SIGINT, signal.SIG_DFL)
