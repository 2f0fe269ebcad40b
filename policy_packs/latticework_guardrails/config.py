"""The pack's configuration: enforcement level per policy and the policies' thresholds.

Each environment sets it in its stack file under ``latticework:policies``::

    latticework:policies:
      enforcement: {secret-rotation-period: mandatory, all: advisory}
      rotationMaxDays: 90
      secretNamePatterns: ["^LICENSE_"]
      allowedOrganizationIds: [o-abc123def4]
      allowedAccountIds: ["111122223333"]

`PackConfig.to_pulumi_config()` turns it into the dict Pulumi's policy engine takes
(``{"<policy>": {"enforcementLevel": ..., "<property>": ...}}``): the offline evaluation
passes each policy its entry as `args.get_config()`, and a real preview gets the same dict
as a ``--policy-pack-config`` JSON file (`write_pulumi_config`), so both paths see identical
settings. When the stack names no allowed organisation or accounts, those of
``latticework:settings.allowedPrincipals`` are used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from components.errors import SpecError
from components.secret_patterns import is_safe_to_quote

if TYPE_CHECKING:
    from components.spec import StackSpec

ENFORCEMENT_LEVELS: Final = ("advisory", "mandatory", "disabled")
ALL_POLICIES: Final = "all"
DEFAULT_ROTATION_MAX_DAYS: Final = 90
_CONFIG_KEY: Final = "config.latticework:policies"
_SECURE_KEY: Final = "secure"
#: The keys of `latticework:policies`: the pack's settings, none of them a secret.
PACK_CONFIG_KEYS: Final = (
    "allowedAccountIds",
    "allowedOrganizationIds",
    "enforcement",
    "rotationMaxDays",
    "secretNamePatterns",
)
_ACCOUNT_ID: Final = re.compile(r"[0-9]{12}")
_ORGANIZATION_ID: Final = re.compile(r"o-[a-z0-9]{10,32}")

# Which policy takes which threshold; Pulumi rejects properties a policy's schema lacks.
ROTATION_PERIOD_POLICY: Final = "secret-rotation-period"
PLAINTEXT_SECRETS_POLICY: Final = "ecs-task-no-plaintext-secrets"
OPEN_PRINCIPAL_POLICY: Final = "lattice-auth-policy-scoped"


@dataclass(frozen=True, slots=True)
class PackConfig:
    """Validated pack settings of one environment."""

    enforcement: Mapping[str, str] = field(default_factory=dict)
    """Policy name (or ``all``) -> ``advisory`` | ``mandatory`` | ``disabled``."""
    rotation_max_days: int = DEFAULT_ROTATION_MAX_DAYS
    secret_name_patterns: tuple[str, ...] = ()
    allowed_organization_ids: tuple[str, ...] = ()
    allowed_account_ids: tuple[str, ...] = ()

    def to_pulumi_config(self) -> dict[str, Any]:
        """The policy-pack config in Pulumi's shape, for offline runs and real previews."""
        config: dict[str, Any] = {}
        if ALL_POLICIES in self.enforcement:
            config[ALL_POLICIES] = self.enforcement[ALL_POLICIES]

        properties: dict[str, dict[str, Any]] = {
            ROTATION_PERIOD_POLICY: {"rotationMaxDays": self.rotation_max_days},
            PLAINTEXT_SECRETS_POLICY: {"secretNamePatterns": list(self.secret_name_patterns)},
            OPEN_PRINCIPAL_POLICY: {
                "allowedOrganizationIds": list(self.allowed_organization_ids),
                "allowedAccountIds": list(self.allowed_account_ids),
            },
        }
        for policy_name, level in self.enforcement.items():
            if policy_name != ALL_POLICIES:
                properties.setdefault(policy_name, {})["enforcementLevel"] = level
        config.update(properties)
        return config

    def enforcement_level(self, policy_name: str, default: str) -> str:
        """The level configured for `policy_name`, else ``all``'s, else `default`."""
        return self.enforcement.get(policy_name, self.enforcement.get(ALL_POLICIES, default))


def parse_pack_config(
    raw: Mapping[str, Any] | None,
    *,
    policy_names: Sequence[str],
    source: Path | str = "Pulumi.<env>.yaml",
    default_organization_ids: Sequence[str] = (),
    default_account_ids: Sequence[str] = (),
) -> PackConfig:
    """Validate ``latticework:policies``; raises `SpecError` naming the file and the key."""
    document: Mapping[str, Any] = raw or {}
    if not isinstance(document, Mapping):
        _fail(source, "", "a mapping", type(document).__name__, "Write key: value pairs.")

    _refuse_encrypted(document, "", source)
    for key in document:
        if key not in PACK_CONFIG_KEYS:
            _fail(
                source,
                f".{_key(key)}",
                f"one of the keys {', '.join(PACK_CONFIG_KEYS)}",
                _found(key),
                "Remove the key or fix its spelling.",
            )

    organization_ids = _string_list(
        document, "allowedOrganizationIds", source, _ORGANIZATION_ID, "o-abc123def4"
    )
    account_ids = _string_list(document, "allowedAccountIds", source, _ACCOUNT_ID, "111122223333")
    return PackConfig(
        enforcement=_enforcement(document.get("enforcement"), policy_names, source),
        rotation_max_days=_rotation_max_days(document.get("rotationMaxDays"), source),
        secret_name_patterns=_patterns(document.get("secretNamePatterns"), source),
        allowed_organization_ids=organization_ids or tuple(default_organization_ids),
        allowed_account_ids=account_ids or tuple(default_account_ids),
    )


def pack_config_for(spec: StackSpec, *, policy_names: Sequence[str]) -> PackConfig:
    """The pack config of one loaded environment: the one reader for offline and real runs."""
    allowed = spec.settings.allowed_principals
    organization_ids = (allowed.organization_id,) if allowed.organization_id else ()
    return parse_pack_config(
        spec.policies,
        policy_names=policy_names,
        source=spec.stack_file,
        default_organization_ids=organization_ids,
        default_account_ids=allowed.account_ids,
    )


def write_pulumi_config(config: PackConfig, path: Path) -> Path:
    """Write the config as the JSON file ``pulumi preview --policy-pack-config`` reads."""
    path.write_text(json.dumps(config.to_pulumi_config(), indent=2, sort_keys=True) + "\n")
    return path


def _enforcement(raw: Any, policy_names: Sequence[str], source: Path | str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        _fail(
            source,
            ".enforcement",
            "a mapping of policy name to level",
            type(raw).__name__,
            "Write enforcement: {<policy-name>: mandatory}.",
        )

    levels: dict[str, str] = {}
    for policy_name, level in raw.items():
        if policy_name != ALL_POLICIES and policy_name not in policy_names:
            _fail(
                source,
                f".enforcement.{_key(policy_name)}",
                f"a policy of the pack ({', '.join(sorted(policy_names))}) or 'all'",
                _found(policy_name),
                "Use a policy name from docs/policies.md.",
            )
        if isinstance(level, bool):
            _fail(
                source,
                f".enforcement.{_key(policy_name)}",
                f"one of {', '.join(ENFORCEMENT_LEVELS)}",
                f"the boolean {str(level).lower()} (YAML reads an unquoted "
                f"{'on or yes' if level else 'off or no'} so)",
                "Write disabled to turn a policy off, or quote the level.",
            )
        if level not in ENFORCEMENT_LEVELS:
            _fail(
                source,
                f".enforcement.{_key(policy_name)}",
                f"one of {', '.join(ENFORCEMENT_LEVELS)}",
                _found(level),
                "Pick an enforcement level.",
            )
        levels[str(policy_name)] = str(level)
    return levels


def _rotation_max_days(raw: Any, source: Path | str) -> int:
    if raw is None:
        return DEFAULT_ROTATION_MAX_DAYS

    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 1000:
        _fail(
            source,
            ".rotationMaxDays",
            "a whole number of days from 1 to 1000",
            _found(raw),
            "Secrets Manager rotates at most every 1000 days; set e.g. rotationMaxDays: 90.",
        )
    return raw


def _patterns(raw: Any, source: Path | str) -> tuple[str, ...]:
    patterns = _as_list(raw, ".secretNamePatterns", source)
    for index, pattern in enumerate(patterns):
        if not is_safe_to_quote(repr(pattern)):
            # Refused, not just unquoted: the block is written into every plan.
            _fail(
                source,
                f".secretNamePatterns[{index}]",
                "a regular expression for secret names",
                _found(pattern) + " shaped like a credential",
                "Remove the credential from the stack file and rotate it.",
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            _fail(
                source,
                f".secretNamePatterns[{index}]",
                "a regular expression",
                f"{pattern!r} ({exc})",
                "Escape special characters or fix the expression.",
            )
    return patterns


def _string_list(
    document: Mapping[str, Any],
    key: str,
    source: Path | str,
    shape: re.Pattern[str],
    example: str,
) -> tuple[str, ...]:
    values = _as_list(document.get(key), f".{key}", source)
    for index, value in enumerate(values):
        if not shape.fullmatch(value):
            _fail(
                source,
                f".{key}[{index}]",
                f"an id shaped like {example}",
                _found(value),
                "Quote account ids so YAML keeps leading zeros.",
            )
    return values


def _as_list(raw: Any, key_path: str, source: Path | str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        _fail(source, key_path, "a list of strings", _found(raw), "Write a YAML list of strings.")
    return tuple(raw)


def _refuse_encrypted(value: Any, key_path: str, source: Path | str) -> None:
    """Refuse a `secure:` value anywhere in the block, named by its key path, never shown.

    No pack setting is a secret, and a checker cannot read ciphertext: the error describes
    it as the spec loader does ("an encrypted value (secure:)") instead of quoting it.
    """
    if isinstance(value, Mapping) and set(value) == {_SECURE_KEY}:
        _fail(
            source,
            key_path,
            "a plain-text setting (nothing in latticework:policies is secret)",
            "an encrypted value (secure:)",
            "Write the setting in plain text: `pulumi config set --path` without --secret.",
        )
    if isinstance(value, Mapping):
        for key, child in value.items():
            _refuse_encrypted(child, f"{key_path}.{_key(key)}", source)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_encrypted(item, f"{key_path}[{index}]", source)


def _key(key: Any) -> str:
    """A key for the key path, unless it might be a credential pasted in as a key."""
    return str(key) if is_safe_to_quote(repr(key)) else "<a key that looks like a credential>"


def _found(raw: Any) -> str:
    """What was found, quoted unless it might be a credential pasted into the block."""
    quoted = repr(raw)
    if is_safe_to_quote(quoted):
        return quoted
    if isinstance(raw, str):
        return f"a string of {len(raw)} characters"
    return f"a {type(raw).__name__} holding a value not shown (it looks like a credential)"


def _fail(source: Path | str, key_path: str, expected: str, found: str, fix: str) -> NoReturn:
    raise SpecError(source, f"{_CONFIG_KEY}{key_path}", expected, found, fix)


__all__ = [
    "ALL_POLICIES",
    "DEFAULT_ROTATION_MAX_DAYS",
    "ENFORCEMENT_LEVELS",
    "OPEN_PRINCIPAL_POLICY",
    "PACK_CONFIG_KEYS",
    "PLAINTEXT_SECRETS_POLICY",
    "ROTATION_PERIOD_POLICY",
    "PackConfig",
    "pack_config_for",
    "parse_pack_config",
    "write_pulumi_config",
]
