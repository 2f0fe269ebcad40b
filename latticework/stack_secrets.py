"""Reject plaintext secrets in the stack files: a secret there must be a `secure:` value.

Pulumi stack files (`stacks/Pulumi.<env>.yaml`) are committed. A value under a key that says
it holds a secret (`aws:secretKey`, `latticework:settings.identitySource.clientSecret`, a
`dbPassword` anywhere) must be encrypted with `pulumi config set --secret`, which stores
`{secure: <ciphertext>}`; a number of 8 digits or more there counts as plaintext too (a
numeric token is still a secret). A value that looks like a credential under any key (an AWS
access key id, a PEM private key, a URL with a password, a token) is rejected too, and so is
such a key.

The detector is `components.secret_patterns`, the same one the spec loader and the policy
pack use. Findings name the file and the key path and never carry the value. Keys outside
`config:` are read too (a token pasted as a top-level key is still committed), except the
values of Pulumi's own top-level keys (`encryptionsalt`, ...), which are never plaintext.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from components._strict_yaml import (
    HIDDEN_KEY,
    MAX_YAML_BYTES,
    MAX_YAML_VALUES,
    expands_too_far,
    read_regular_file,
)
from components.secret_patterns import SecretMatch, classify_setting, match_secret_value
from components.spec import PULUMI_OWN_STACK_KEYS
from latticework.findings import MANDATORY, Finding, PolicyInfo, PolicyReport
from policy_packs.latticework_guardrails import policy_names
from policy_packs.latticework_guardrails.config import ALL_POLICIES, PACK_CONFIG_KEYS

#: The id of this check in reports (SARIF rule id, JUnit test name).
CHECK_NAME = "stack-secrets-encrypted"
CHECK_DESCRIPTION = "Secrets in stacks/Pulumi.*.yaml are `secure:` values, never plaintext."
#: The finding kind of a stack file that cannot be read, so cannot be checked.
UNREADABLE_KIND = "unreadable-stack-file"
_SECURE_KEY = "secure"
_CONFIG_KEY = "config"
# NOTE: `latticework:policies` is the pack's own configuration, and none of its settings
# (PACK_CONFIG_KEYS) holds a secret: `secretNamePatterns` names secrets, the enforcement map's
# keys are policy names (`secret-rotation-required`). Those names are not read as a secret's
# name; values are still checked for credential shapes, and a key the pack does not know
# (refused only when that stack is planned) is read like any other.
_PACK_CONFIG_KEY = "latticework:policies"
_ENFORCEMENT = "enforcement"
_SETTING_KEYS = frozenset(PACK_CONFIG_KEYS) - {_ENFORCEMENT}
_ENFORCEMENT_KEYS = frozenset({ALL_POLICIES, *policy_names()})


@dataclass(frozen=True, slots=True)
class StackSecretFinding:
    """A plaintext secret in a stack file: where it is and what it looks like, never its value."""

    file: Path
    key_path: str
    kind: str
    description: str
    in_config: bool = True
    """Whether `key_path` is under `config:` (else it starts at the file's top level)."""

    @property
    def location(self) -> str:
        """The key path from the file's top level."""
        return f"{_CONFIG_KEY}.{self.key_path}" if self.in_config else self.key_path

    @property
    def message(self) -> str:
        """One line: the file, the key path, what was found and the fix."""
        if self.kind == UNREADABLE_KIND:
            return (
                f"{self.file}: expected a Pulumi stack file with a `config:` map, found "
                f"{self.description}, so it cannot be checked for plaintext secrets. Fix the "
                "file (`pulumi config` rewrites it cleanly)"
            )
        if not self.in_config:
            return (
                f"{self.file}: {self.key_path}: expected only config, "
                f"{', '.join(sorted(PULUMI_OWN_STACK_KEYS))} at the top level and no secret, found "
                f"{self.description}. Remove it from the file and rotate it; a secret setting "
                "belongs under config, set with `pulumi config set --secret`"
            )
        if self.key_path.endswith(HIDDEN_KEY):
            # The key is the credential: there is no setting to store it under.
            return (
                f"{self.file}: config.{self.key_path}: expected a setting's name, found "
                f"{self.description}. Remove it from the file and rotate that credential"
            )
        return (
            f"{self.file}: config.{self.key_path}: expected a `secure:` value, found "
            f"{self.description}. Remove it from the file and run `pulumi config set --secret "
            f"{self.key_path.split('.')[0]} ...` (with --path for a nested key), then rotate it"
        )


def find_plaintext_secrets(stacks_dir: Path) -> tuple[StackSecretFinding, ...]:
    """Every plaintext secret in `stacks_dir/Pulumi.*.yaml`, files in name order.

    A file that cannot be read as a stack file is a finding too (fail closed): `check --env
    dev` never loads prod's file, so the spec loader would not report it.
    """
    findings: list[StackSecretFinding] = []
    for stack_file in sorted(stacks_dir.glob("Pulumi.*.yaml")):
        document, problem = _read_config(stack_file)
        if problem:
            findings.append(StackSecretFinding(stack_file, "", UNREADABLE_KIND, problem))
            continue

        # `plan` refuses any other top-level key, but only for the environment it plans.
        outside_config = {
            key: (None if key in PULUMI_OWN_STACK_KEYS else value)
            for key, value in document.items()
            if key != _CONFIG_KEY
        }
        for in_config, values in ((True, document.get(_CONFIG_KEY, {})), (False, outside_config)):
            for key_path, match in _walk(values, ()):
                findings.append(
                    StackSecretFinding(
                        file=stack_file,
                        key_path=".".join(key_path),
                        kind=match.kind,
                        description=match.description,
                        in_config=in_config,
                    )
                )
    return tuple(findings)


def _read_config(stack_file: Path) -> tuple[Mapping[Any, Any], str]:
    """The file's top-level map with a `config` map (or none), or a description of why it
    cannot be read (never its text)."""
    try:
        # Not `open()`: a named pipe would block until a writer came, here forever.
        content = read_regular_file(stack_file, MAX_YAML_BYTES)
        if len(content) > MAX_YAML_BYTES:
            return {}, f"a file larger than {MAX_YAML_BYTES >> 20} MiB"
        document = yaml.safe_load(content.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "a file that is not UTF-8 text"
    except OSError as exc:
        return {}, f"a file that cannot be read ({exc.strerror})"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return {}, f"a file that is not valid YAML{where}"
    except RecursionError:
        return {}, "a file whose values are nested too deeply to read"

    if document is None:
        return {}, ""
    if expands_too_far(document):
        return {}, f"a file whose aliases expand to more than {MAX_YAML_VALUES:,} values"
    if not isinstance(document, Mapping):
        return {}, "a file whose top level is not a map"
    config = document.get(_CONFIG_KEY)
    if config is not None and not isinstance(config, Mapping):
        return {}, "a config that is not a map of keys to values"
    return document, ""


def with_stack_secrets(report: PolicyReport, stacks_dir: Path) -> PolicyReport:
    """`report` plus this check: its rule, and a mandatory finding per plaintext secret.

    Every stack file is checked, not only the report's environment: a committed secret is
    exposed whichever environment it belongs to.
    """
    findings = tuple(
        Finding(
            policy=CHECK_NAME,
            enforcement=MANDATORY,
            message=finding.message,
            urn=None,
            resource_type=None,
            resource_name=(
                f"{finding.file.name}:{finding.location}" if finding.key_path else finding.file.name
            ),
        )
        for finding in find_plaintext_secrets(stacks_dir)
    )
    info = PolicyInfo(CHECK_NAME, CHECK_DESCRIPTION, MANDATORY, "stack")
    return replace(
        report, policies=(*report.policies, info), findings=(*report.findings, *findings)
    )


def _walk(
    value: Any, path: tuple[str, ...], *, named: bool = True
) -> Iterator[tuple[tuple[str, ...], SecretMatch]]:
    if isinstance(value, Mapping):
        if set(value) == {_SECURE_KEY}:
            return
        # The pack's own names: its settings, and the policy names that key its enforcement
        # map (whose other keys are read like any).
        exempt: frozenset[str] = frozenset()
        if path == (_PACK_CONFIG_KEY,):
            exempt = _SETTING_KEYS
        elif path == (_PACK_CONFIG_KEY, _ENFORCEMENT):
            exempt = _ENFORCEMENT_KEYS
        for key, child in value.items():
            key_match = match_secret_value(str(key))
            if key_match is not None:
                # The key is the secret: the key path must not repeat it.
                yield (*path, HIDDEN_KEY), key_match
                continue
            # Below one of the pack's own settings nothing is a secret's name; a key the pack
            # does not know is read like any other.
            child_named = named and key not in exempt
            yield from _walk(child, (*path, str(key)), named=child_named)
        return

    if isinstance(value, list):
        for index, item in enumerate(value):
            # A list item is named after its list: `clientSecrets[0]` is still a secret.
            item_path = (*path[:-1], f"{path[-1]}[{index}]") if path else (f"[{index}]",)
            yield from _walk(item, item_path, named=named)
        return

    # A long number counts too: under `aws:secretKey` or `dbPassword` it is the secret.
    name = path[-1].split(":")[-1].split("[")[0] if named and path else ""
    match = classify_setting(name, value)
    if match is not None:
        yield path, match


__all__ = [
    "CHECK_DESCRIPTION",
    "CHECK_NAME",
    "UNREADABLE_KIND",
    "StackSecretFinding",
    "find_plaintext_secrets",
    "with_stack_secrets",
]
