"""Errors of the latticework CLI and engines, and the exit code each maps to.

Hierarchy::

    LatticeworkError                 base; carries `exit_code`
    +-- UsageError                   bad arguments or input files            (exit 2)
    +-- PolicyViolationError         a mandatory policy failed               (exit 1)
    +-- ProgramError                 the Pulumi program itself failed        (exit 3)
    +-- StackLockedError             another update or rollout holds it      (exit 4)
    +-- MissingPulumiCliError        no `pulumi` on PATH                     (exit 5)
    +-- MissingCredentialsError      no cloud credentials                    (exit 6)
    +-- GateFailedError              a rollout gate stopped the rollout      (exit 7)

A confirmation prompt answered "no" exits 8 (`ExitCode.DECLINED`): nothing was changed.

`components.errors.SpecError` (a bad stack or catalog file) also maps to exit 2; it lives
in `components` because the Pulumi program raises it and may not import this package.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the `latticework` CLI; each failure kind has its own."""

    OK = 0
    POLICY_VIOLATION = 1
    USAGE = 2
    PROGRAM_ERROR = 3
    STACK_LOCKED = 4
    MISSING_PULUMI_CLI = 5
    MISSING_CREDENTIALS = 6
    GATE_FAILED = 7
    DECLINED = 8
    INTERRUPTED = 130


class LatticeworkError(Exception):
    """Base of every error the CLI reports as a one-line message instead of a traceback."""

    exit_code: ExitCode = ExitCode.PROGRAM_ERROR


class UsageError(LatticeworkError):
    """Bad command-line arguments or input files."""

    exit_code = ExitCode.USAGE


class PolicyViolationError(LatticeworkError):
    """At least one mandatory policy failed."""

    exit_code = ExitCode.POLICY_VIOLATION


class ProgramError(LatticeworkError):
    """The Pulumi program raised, or an engine could not run it."""

    exit_code = ExitCode.PROGRAM_ERROR


class StackLockedError(LatticeworkError):
    """Another update holds the stack's lock, or another rollout this working copy's state."""

    exit_code = ExitCode.STACK_LOCKED


class MissingPulumiCliError(LatticeworkError):
    """The `pulumi` CLI is not on PATH."""

    exit_code = ExitCode.MISSING_PULUMI_CLI


class MissingCredentialsError(LatticeworkError):
    """No cloud credentials were found for the engine."""

    exit_code = ExitCode.MISSING_CREDENTIALS


class GateFailedError(LatticeworkError):
    """A rollout gate (plan, preview, approval, verification) stopped the rollout."""

    exit_code = ExitCode.GATE_FAILED


__all__ = [
    "ExitCode",
    "GateFailedError",
    "LatticeworkError",
    "MissingCredentialsError",
    "MissingPulumiCliError",
    "PolicyViolationError",
    "ProgramError",
    "StackLockedError",
    "UsageError",
]
