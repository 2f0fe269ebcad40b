"""`python -m latticework` runs the CLI."""

from latticework.cli import main

main()
