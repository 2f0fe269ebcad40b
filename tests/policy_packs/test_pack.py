"""Tests for the pack as Pulumi loads it and as latticework imports it."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import pulumi_policy
import pytest
import yaml
from pulumi_policy import EnforcementLevel, StackValidationPolicy

from components.errors import SpecError
from latticework.plan import SECRET_MASK
from policy_packs.latticework_guardrails import POLICIES, POLICY_PACK_NAME, policy_names
from policy_packs.latticework_guardrails._props import MASKED_VALUE
from policy_packs.latticework_guardrails.config import (
    PackConfig,
    parse_pack_config,
    write_pulumi_config,
)

PACK_DIR = Path(__file__).resolve().parents[2] / "policy_packs" / "latticework_guardrails"


class _RecordedPack:
    """Stands in for pulumi_policy.PolicyPack, whose constructor serves gRPC forever."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        _RecordedPack.calls.append(kwargs)


def test_pack_main_builds_the_same_policies_as_the_offline_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The PolicyPack that __main__ builds for Pulumi holds exactly the offline policy objects."""
    monkeypatch.setattr(pulumi_policy, "PolicyPack", _RecordedPack)
    _RecordedPack.calls.clear()
    entry_point = importlib.import_module("policy_packs.latticework_guardrails.__main__")

    entry_point.main()

    assert len(_RecordedPack.calls) == 1
    call = _RecordedPack.calls[0]
    assert call["name"] == POLICY_PACK_NAME
    assert [policy.name for policy in call["policies"]] == list(policy_names())
    assert all(a is b for a, b in zip(call["policies"], POLICIES, strict=True))
    assert call["enforcement_level"] is EnforcementLevel.MANDATORY


def test_importing_the_pack_main_does_not_start_a_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing __main__ under its module name constructs no PolicyPack."""
    monkeypatch.setattr(pulumi_policy, "PolicyPack", _RecordedPack)
    _RecordedPack.calls.clear()

    importlib.reload(importlib.import_module("policy_packs.latticework_guardrails.__main__"))

    assert _RecordedPack.calls == []


def test_policy_names_are_unique_kebab_case_with_one_sentence_descriptions() -> None:
    """Every policy has a unique kebab-case name and a one-sentence description."""
    names = policy_names()

    assert len(set(names)) == len(names) == 13
    for policy in POLICIES:
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", policy.name), policy.name
        assert policy.description.endswith(".")
        assert policy.description.count(". ") == 0, policy.description


def test_every_policy_sets_its_own_default_level() -> None:
    """Each policy states whether it is mandatory or advisory, so no pack default decides."""

    levels = {policy.name: policy.enforcement_level for policy in POLICIES}

    assert all(level is not None for level in levels.values())
    assert levels["secret-rotation-period"] is EnforcementLevel.ADVISORY
    assert levels["lattice-auth-policy-caller-narrowing"] is EnforcementLevel.ADVISORY
    assert levels["lattice-auth-type-iam"] is EnforcementLevel.MANDATORY


def test_stack_policies_are_the_graph_checks() -> None:
    """The checks that need other resources are stack policies; the rest are per resource."""

    stack_policies = {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)}

    assert stack_policies == {
        "lattice-auth-policy-attached",
        "lattice-auth-policy-active",
        "secret-rotation-required",
        "policy-store-schema-first",
        "ecs-service-behind-authenticated-lattice",
    }


def test_pulumi_policy_yaml_points_at_the_project_virtualenv() -> None:
    """PulumiPolicy.yaml declares the python runtime and the venv holding the project."""
    document = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())

    assert document["runtime"]["name"] == "python"
    assert (PACK_DIR / document["runtime"]["options"]["virtualenv"]).resolve() == (
        PACK_DIR.parents[1] / ".venv"
    )
    assert (PACK_DIR / "__main__.py").is_file()


def test_masked_value_matches_the_plan_mask() -> None:
    """The pack recognises the offline plan's secret mask (it may not import latticework)."""

    assert MASKED_VALUE == SECRET_MASK


def test_pack_config_defaults_and_pulumi_shape() -> None:
    """An empty block yields the defaults, in the shape pulumi's --policy-pack-config takes."""
    config = parse_pack_config(None, policy_names=policy_names(), default_account_ids=["1" * 12])

    pulumi_config = config.to_pulumi_config()

    assert config == PackConfig(allowed_account_ids=("1" * 12,))
    assert pulumi_config["secret-rotation-period"] == {"rotationMaxDays": 90}
    assert pulumi_config["lattice-auth-policy-scoped"]["allowedAccountIds"] == ["1" * 12]
    assert "all" not in pulumi_config


def test_pack_config_enforcement_and_thresholds() -> None:
    """Per-policy levels, 'all' and thresholds reach each policy's entry."""
    raw = {
        "enforcement": {"all": "advisory", "secret-rotation-period": "mandatory"},
        "rotationMaxDays": 30,
        "secretNamePatterns": ["^LICENSE_"],
        "allowedOrganizationIds": ["o-abc123def4"],
    }

    config = parse_pack_config(raw, policy_names=policy_names(), default_account_ids=["1" * 12])
    pulumi_config = config.to_pulumi_config()

    assert pulumi_config["all"] == "advisory"
    assert pulumi_config["secret-rotation-period"] == {
        "rotationMaxDays": 30,
        "enforcementLevel": "mandatory",
    }
    assert pulumi_config["ecs-task-no-plaintext-secrets"] == {"secretNamePatterns": ["^LICENSE_"]}
    assert config.enforcement_level("lattice-auth-type-iam", "mandatory") == "advisory"
    assert config.allowed_organization_ids == ("o-abc123def4",)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"rotationMaxDay": 30}, "config.latticework:policies.rotationMaxDay"),
        ({"enforcement": {"no-such-policy": "mandatory"}}, ".enforcement.no-such-policy"),
        (
            {"enforcement": {"secret-rotation-period": "fatal"}},
            ".enforcement.secret-rotation-period",
        ),
        ({"enforcement": ["mandatory"]}, ".enforcement"),
        ({"rotationMaxDays": 0}, ".rotationMaxDays"),
        ({"rotationMaxDays": "90"}, ".rotationMaxDays"),
        ({"rotationMaxDays": True}, ".rotationMaxDays"),
        ({"secretNamePatterns": ["(unclosed"]}, ".secretNamePatterns[0]"),
        ({"secretNamePatterns": "^X"}, ".secretNamePatterns"),
        ({"allowedAccountIds": [111122223333]}, ".allowedAccountIds"),
        ({"allowedOrganizationIds": ["org-1"]}, ".allowedOrganizationIds[0]"),
    ],
)
def test_pack_config_errors_name_the_file_and_key(raw: dict[str, Any], key: str) -> None:
    """A bad latticework:policies block is a SpecError naming the file and the key path."""

    with pytest.raises(SpecError) as raised:
        parse_pack_config(raw, policy_names=policy_names(), source="stacks/Pulumi.dev.yaml")

    assert raised.value.file == "stacks/Pulumi.dev.yaml"
    assert key in raised.value.key_path
    assert raised.value.fix


def test_a_level_yaml_read_as_a_boolean_says_so() -> None:
    """YAML 1.1 reads an unquoted `off` as false; the error says what happened and the fix."""
    with pytest.raises(SpecError) as raised:
        parse_pack_config(
            {"enforcement": {"all": False}},
            policy_names=policy_names(),
            source="stacks/Pulumi.dev.yaml",
        )

    assert raised.value.found == "the boolean false (YAML reads an unquoted off or no so)"
    assert "disabled" in raised.value.fix


@pytest.mark.parametrize(
    "raw",
    [
        {"allowedAccountIds": ["admin:hunter2xyz@db"]},
        {"allowedOrganizationIds": "admin:hunter2xyz@db"},
        {"rotationMaxDays": "ghp_hunter2xyz" + "a" * 30},
        {"enforcement": {"secret-rotation-period": "admin:hunter2xyz@db"}},
        {"secretNamePatterns": [1, "admin:hunter2xyz@db"]},
    ],
)
def test_pack_config_errors_never_quote_a_credential(raw: dict[str, Any]) -> None:
    """A credential pasted into latticework:policies is described, never repeated."""

    with pytest.raises(SpecError) as raised:
        parse_pack_config(raw, policy_names=policy_names(), source="stacks/Pulumi.dev.yaml")

    assert "hunter2xyz" not in str(raised.value)
    assert "hunter2xyz" not in repr(raised.value.args)


CREDENTIAL = "ghp_" + "abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize(
    "raw",
    [
        {"secretNamePatterns": [CREDENTIAL]},
        {"secretNamePatterns": ["admin:hunter2xyz@db"]},
        {"secretNamePatterns": [CREDENTIAL + "("]},
        {"enforcement": {CREDENTIAL: "mandatory"}},
        {"admin:hunter2xyz@db": 1},
    ],
)
def test_a_credential_in_the_pack_configuration_is_refused_and_never_quoted(
    raw: dict[str, Any],
) -> None:
    """A value or key shaped like a credential is refused (so no plan can carry it), and
    neither the message nor the key path repeats it."""
    with pytest.raises(SpecError) as raised:
        parse_pack_config(raw, policy_names=policy_names(), source="stacks/Pulumi.dev.yaml")

    assert "hunter2xyz" not in str(raised.value)
    assert CREDENTIAL[:12] not in str(raised.value)
    assert "hunter2xyz" not in raised.value.key_path


def test_write_pulumi_config_writes_the_policy_pack_config_file(tmp_path: Path) -> None:
    """The JSON file for --policy-pack-config holds exactly to_pulumi_config()."""
    config = PackConfig(rotation_max_days=45)

    path = write_pulumi_config(config, tmp_path / "policy-config.json")

    assert yaml.safe_load(path.read_text()) == config.to_pulumi_config()


def test_no_pack_module_shadows_a_standard_library_module() -> None:
    """No pack module shadows a stdlib one: Pulumi runs the pack with its directory on sys.path."""
    stems = {path.stem for path in PACK_DIR.glob("*.py")}

    shadowing = sorted(stems & sys.stdlib_module_names)

    assert shadowing == []


CIPHERTEXT = "v1:c2VjcmV0Y2lwaGVydGV4dA=="


@pytest.mark.parametrize(
    ("raw", "key", "found"),
    [
        ({"rotationMaxDays": {"secure": CIPHERTEXT}}, ".rotationMaxDays", "an encrypted value"),
        ({"allowedAccountIds": {"secure": CIPHERTEXT}}, ".allowedAccountIds", "an encrypted"),
        (
            {"secretNamePatterns": ["^X", {"secure": CIPHERTEXT}]},
            ".secretNamePatterns[1]",
            "an encrypted value",
        ),
        (
            {"enforcement": {"secret-rotation-period": {"secure": CIPHERTEXT}}},
            ".enforcement.secret-rotation-period",
            "an encrypted value",
        ),
        ({"secure": CIPHERTEXT}, "", "an encrypted value"),
    ],
    ids=["threshold", "list", "list-item", "level", "whole-block"],
)
def test_an_encrypted_pack_setting_is_described_not_quoted(
    raw: dict[str, Any], key: str, found: str
) -> None:
    """A `secure:` value in latticework:policies is named as an encrypted value (as the spec
    loader names one), never printed, and the fix says to write it in plain text."""
    with pytest.raises(SpecError) as raised:
        parse_pack_config(raw, policy_names=policy_names(), source="stacks/Pulumi.dev.yaml")

    assert raised.value.key_path == f"config.latticework:policies{key}"
    assert raised.value.found.startswith(found)
    assert "(secure:)" in raised.value.found
    assert CIPHERTEXT not in str(raised.value)
    assert "plain text" in raised.value.fix
