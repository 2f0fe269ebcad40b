"""Classify a failed pulumi CLI run into latticework's error kinds.

The Automation API raises `CommandError` subclasses picked from the CLI's output; only the
concurrent-update case is told apart well enough to trust. Everything else is classified
here from the text the CLI printed and the policy events it emitted, so each failure kind
gets its own exit code and a one-line message that says what to do:

    the stack is locked        -> StackLockedError
    a mandatory policy failed  -> PolicyViolationError
    no cloud or backend creds  -> MissingCredentialsError
    anything else              -> ProgramError

The pulumi CLI's output never contains decrypted secrets (it prints `[secret]`), but the
message still carries only one line of it, cut to a bounded length.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from latticework.engine import PolicyFinding
from latticework.errors import (
    LatticeworkError,
    MissingCredentialsError,
    MissingPulumiCliError,
    PolicyViolationError,
    ProgramError,
    StackLockedError,
)

INSTALL_HINT = (
    "install it with `curl -fsSL https://get.pulumi.com | sh` (or `brew install pulumi`), "
    "put ~/.pulumi/bin on PATH and re-run; `latticework plan` and `latticework rollout "
    "--offline` need no pulumi CLI"
)

_LOCK_TEXTS = (
    "the stack is currently locked by",
    "[409] Conflict: Another update is currently in progress",
)
_CREDENTIAL_PATTERNS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"no valid credential sources",
        r"NoCredentialProviders",
        r"unable to validate AWS credentials",
        r"Invalid credentials configured",
        r"failed to refresh cached credentials",
        r"\bExpiredToken\b",
        r"\bInvalidClientTokenId\b",
        r"security token included in the request is (?:invalid|expired)",
        r"passphrase must be set with PULUMI_CONFIG_PASSPHRASE",
        r"incorrect passphrase",
        r"PULUMI_ACCESS_TOKEN",
        r"run `pulumi login`",
        r"\[401\] Unauthorized|401 Unauthorized",
    )
)
# `[mandatory]  pack v1  policy-name  (urn or type: name)` or `- [mandatory]  policy-name  (...)`
_POLICY_VIOLATION_LINE = re.compile(
    r"\[mandatory\]\s+(?:\S+\s+v\S+\s+)?([a-z0-9][a-z0-9-]*)\s+\(([^)]*)\)"
)
# `mandatory: [policy-name] message` in the Diagnostics section.
_POLICY_DIAGNOSTIC_LINE = re.compile(r"mandatory:\s+\[([a-z0-9][a-z0-9-]*)\]")
# Generic closing lines that say nothing about the cause.
_GENERIC_ERRORS = re.compile(
    r"^error:\s*(?:preview failed|update failed|destroy failed|refresh failed|"
    r"one or more errors occurred)?\s*$",
    re.IGNORECASE,
)
_MAX_DETAIL = 240


@dataclass(frozen=True, slots=True)
class CliOutput:
    """What a failed pulumi CLI run printed."""

    stdout: str = ""
    stderr: str = ""


def require_pulumi_cli(environ: Mapping[str, str] | None = None) -> str:
    """The path of the `pulumi` CLI on PATH, or `MissingPulumiCliError` with how to install it."""
    search_path = (environ if environ is not None else os.environ).get("PATH", os.defpath)
    found = shutil.which("pulumi", path=search_path)
    if found is None:
        message = f"the pulumi CLI is not on PATH: {INSTALL_HINT}"
        raise MissingPulumiCliError(message)
    return found


def classify_failure(
    *,
    environment: str,
    operation: str,
    output: CliOutput,
    findings: Iterable[PolicyFinding] = (),
    errors: Iterable[str] = (),
    concurrent_update: bool = False,
) -> LatticeworkError:
    """The latticework error for a failed CLI run, with a one-line message and the fix.

    `findings` and `errors` are what the event stream reported (policy events, error
    diagnostics); `concurrent_update` is true when the Automation API itself recognised the
    lock. The text of `output` is the fallback when the event stream said nothing.
    """
    where = f"{operation} of {environment!r}"
    text = f"{output.stderr}\n{output.stdout}"

    if concurrent_update or any(lock_text in text for lock_text in _LOCK_TEXTS):
        message = (
            f"{where}: the stack is locked by another update. Wait for it to finish; if no "
            "update is running, clear the stale lock with `pulumi cancel` (Pulumi Cloud) or "
            "delete the lock file under .pulumi/locks in the state backend"
        )
        return StackLockedError(message)

    violations = _mandatory_violations(findings, output.stdout)
    if violations:
        shown = ", ".join(violations[:5]) + (", ..." if len(violations) > 5 else "")
        message = (
            f"{where}: {len(violations)} mandatory policy violation(s): {shown}. Fix the "
            f"resources, or the pack configuration `latticework:policies` in "
            f"stacks/Pulumi.{environment}.yaml"
        )
        return PolicyViolationError(message)

    if any(pattern.search(text) for pattern in _CREDENTIAL_PATTERNS):
        detail = _cause(errors, text, prefer=_CREDENTIAL_PATTERNS)
        message = (
            f"{where}: missing or invalid credentials ({detail}). Set AWS credentials "
            "(AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an OIDC role in CI), "
            "PULUMI_CONFIG_PASSPHRASE for file or S3 state, PULUMI_ACCESS_TOKEN for Pulumi Cloud"
        )
        return MissingCredentialsError(message)

    detail = _cause(errors, text)
    return ProgramError(f"{where} failed: {detail}")


def _mandatory_violations(findings: Iterable[PolicyFinding], stdout: str) -> list[str]:
    seen: list[str] = []
    for finding in findings:
        if finding.is_mandatory:
            target = finding.resource_urn.rsplit("::", 1)[-1] if finding.resource_urn else "stack"
            seen.append(f"{finding.policy_name} ({target})")
    if seen:
        return seen

    for match in _POLICY_VIOLATION_LINE.finditer(stdout):
        seen.append(f"{match.group(1)} ({match.group(2).strip()})")
    if not seen:
        seen.extend(match.group(1) for match in _POLICY_DIAGNOSTIC_LINE.finditer(stdout))
    return seen


def _cause(errors: Iterable[str], text: str, prefer: tuple[re.Pattern[str], ...] = ()) -> str:
    lines = [line.strip() for line in errors if line.strip()]
    lines += [line.strip() for line in text.splitlines() if line.strip()]
    if prefer:
        for line in lines:
            if any(pattern.search(line) for pattern in prefer):
                return _one_line(line)

    for line in lines:
        if line.lower().startswith("error:") and not _GENERIC_ERRORS.match(line):
            return _one_line(line)
    for line in lines:
        if not _GENERIC_ERRORS.match(line):
            return _one_line(line)
    return "the pulumi CLI reported no cause; re-run with the pulumi CLI directly to see it"


def _one_line(line: str) -> str:
    line = re.sub(r"^error:\s*", "", line, flags=re.IGNORECASE)
    line = " ".join(line.split())
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 3] + "..."


__all__ = ["INSTALL_HINT", "CliOutput", "classify_failure", "require_pulumi_cli"]
