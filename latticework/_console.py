"""The `latticework` console script and `python -m latticework`.

The CLI's commands import the Pulumi SDK and the engines before the first argument is read;
Ctrl-C during that second ends as Ctrl-C during a command does (a one-line message, exit
130), not with a traceback through the import machinery.
"""

from __future__ import annotations

import sys

from latticework.errors import ExitCode


def run() -> None:
    """Load the CLI and run it."""
    try:
        from latticework.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED))

    main()
