"""Errors raised while loading the stack settings and the service catalog.

Hierarchy::

    SpecError            a stack or catalog file is invalid; names file, key path, expected,
                         found and the fix

The CLI maps `SpecError` to exit code 2; the Pulumi program lets it propagate, so
`pulumi up` fails with the same message.
"""

from __future__ import annotations

from pathlib import Path


class SpecError(Exception):
    """A stack settings or service catalog file is invalid.

    The message reads ``<file>: <key path>: expected <expected>, found <found>. <fix>``, so
    one line tells the user where, what and how to fix it. `found` must never be a secret
    value: callers pass a description ("a value that looks like an AWS access key").
    """

    def __init__(
        self, file: Path | str, key_path: str, expected: str, found: str, fix: str
    ) -> None:
        self.file = str(file)
        self.key_path = key_path
        self.expected = expected
        self.found = found
        self.fix = fix
        message = f"{self.file}: {key_path}: expected {expected}, found {found}. {fix}"
        super().__init__(message)


__all__ = ["SpecError"]
