"""`python -m latticework` runs the CLI."""

from latticework._console import run

run()
