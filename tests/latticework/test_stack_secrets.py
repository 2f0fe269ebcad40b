"""Plaintext values under secret-looking keys in stack files are rejected; `secure:` passes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from latticework.cli import main
from latticework.errors import ExitCode
from latticework.findings import PolicyReport
from latticework.stack_secrets import CHECK_NAME, find_plaintext_secrets, with_stack_secrets
from tests.components._samples import ALIAS_BOMB

PROJECT_DIR = Path(__file__).resolve().parents[2]
AWS_KEY_ID = "AKIA" + "ABCDEFGHIJKLMNOP"
PLAIN_PASSWORD = "Tr0ub4dor&3-horse"
NUMERIC_SECRET = "987654321987"


def _stack(tmp_path: Path, body: str, name: str = "Pulumi.dev.yaml") -> Path:
    stacks = tmp_path / "stacks"
    stacks.mkdir(exist_ok=True)
    (stacks / name).write_text(body, encoding="utf-8")
    return stacks


def test_sample_stacks_are_clean() -> None:
    """The committed dev, staging and prod stacks hold no plaintext secret."""
    assert find_plaintext_secrets(PROJECT_DIR / "stacks") == ()


@pytest.mark.parametrize(
    ("body", "key_path"),
    [
        (f"config:\n  aws:secretKey: {PLAIN_PASSWORD}\n", "aws:secretKey"),
        (f"config:\n  latticework:dbPassword: {PLAIN_PASSWORD}\n", "latticework:dbPassword"),
        (
            "config:\n  latticework:settings:\n    identitySource:\n"
            f"      clientSecret: {PLAIN_PASSWORD}\n",
            "latticework:settings.identitySource.clientSecret",
        ),
        (
            f"config:\n  latticework:apiTokens:\n    - {PLAIN_PASSWORD}\n",
            "latticework:apiTokens[0]",
        ),
        (f"config:\n  latticework:note: {AWS_KEY_ID}\n", "latticework:note"),
        (f"config:\n  aws:secretKey: {NUMERIC_SECRET}\n", "aws:secretKey"),
        (f"config:\n  myapp:dbPassword: {NUMERIC_SECRET}\n", "myapp:dbPassword"),
        (f'config:\n  aws:secretKey: "{NUMERIC_SECRET}"\n', "aws:secretKey"),
        (
            f"config:\n  latticework:pins:\n    adminPin: 1\n    dbPasswords: [{NUMERIC_SECRET}]\n",
            "latticework:pins.dbPasswords[0]",
        ),
    ],
)
def test_plaintext_secret_is_found_with_its_key_path(
    tmp_path: Path, body: str, key_path: str
) -> None:
    """A plaintext secret under a secret-like key, or a credential-like value, is a finding."""
    stacks = _stack(tmp_path, body)

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.key_path == key_path
    assert finding.file == stacks / "Pulumi.dev.yaml"
    assert "pulumi config set --secret" in finding.message


@pytest.mark.parametrize("secret", [PLAIN_PASSWORD, NUMERIC_SECRET])
def test_finding_never_carries_the_value(tmp_path: Path, secret: str) -> None:
    """Neither the finding nor its message repeats the secret value, a number included."""
    stacks = _stack(tmp_path, f"config:\n  aws:secretKey: {secret}\n")

    (finding,) = find_plaintext_secrets(stacks)

    assert secret not in finding.message
    assert secret not in repr(finding)


@pytest.mark.parametrize(
    "body",
    [
        "config:\n  aws:secretKey:\n    secure: AAABAHhc0aZ1cmV2YWx1ZQ==\n",
        "config:\n  latticework:settings:\n    dbPassword:\n      secure: AAABAFxyz==\n",
        "config:\n  latticework:policies:\n    enforcement:\n"
        "      secret-rotation-required: mandatory\n",
        "config:\n  latticework:dbPasswordArn: "
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:db-AbCdEf\n",
        "config:\n  latticework:apiTokenTtl: 3600\n",
        "config:\n  latticework:secretName: latticework/dev/orders/database\n",
        "config:\n  latticework:passwordRequired: true\n",
    ],
)
def test_encrypted_values_and_references_pass(tmp_path: Path, body: str) -> None:
    """`secure:` values, policy names, ARNs, numbers, booleans and secret names are no finding."""
    stacks = _stack(tmp_path, body)

    assert find_plaintext_secrets(stacks) == ()


def test_every_stack_file_is_checked_in_name_order(tmp_path: Path) -> None:
    """Each Pulumi.<env>.yaml is checked; findings come in file-name order."""
    _stack(tmp_path, f"config:\n  aws:secretKey: {PLAIN_PASSWORD}\n", "Pulumi.prod.yaml")
    stacks = _stack(tmp_path, f"config:\n  aws:accessKey: {PLAIN_PASSWORD}\n", "Pulumi.dev.yaml")

    findings = find_plaintext_secrets(stacks)

    assert [(f.file.name, f.key_path) for f in findings] == [
        ("Pulumi.dev.yaml", "aws:accessKey"),
        ("Pulumi.prod.yaml", "aws:secretKey"),
    ]


def test_only_stack_files_are_read(tmp_path: Path) -> None:
    """The catalog (services.yaml) is not a stack file and is left to the spec loader."""
    stacks = _stack(tmp_path, "config:\n  aws:region: eu-west-1\n")
    (stacks / "services.yaml").write_text(f"password: {PLAIN_PASSWORD}\n", encoding="utf-8")

    assert find_plaintext_secrets(stacks) == ()


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (
            f"config: [unclosed\n  aws:secretKey: {PLAIN_PASSWORD}\n",
            "a file that is not valid YAML",
        ),
        ("config:\n  - aws:secretKey\n", "a config that is not a map of keys to values"),
        (b"config:\n  aws:region: \xff\n", "a file that is not UTF-8 text"),
        (
            "config:\n  aws:defaultTags:\n"
            + "".join(f"    {line}\n" for line in ALIAS_BOMB.splitlines()),
            "a file whose aliases expand to more than 200,000 values",
        ),
        (b"# padding\n" * (900 * 1024), "a file larger than 8 MiB"),
        ("config:\n  foo:bar: " + "[" * 600 + "]" * 600 + "\n", "nested too deeply to read"),
    ],
    ids=["not-yaml", "config-not-a-map", "not-utf8", "alias-bomb", "too-large", "too-deep"],
)
def test_an_unreadable_stack_file_is_a_finding_not_a_pass(
    tmp_path: Path, body: str | bytes, found: str
) -> None:
    """`check --env dev` never loads prod's file, so an unreadable one must not pass unchecked."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    prod = stacks / "Pulumi.prod.yaml"
    if isinstance(body, bytes):
        prod.write_bytes(body)
    else:
        prod.write_text(body, encoding="utf-8")

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.file == prod
    assert finding.kind == "unreadable-stack-file"
    assert found in finding.message
    assert "cannot be checked for plaintext secrets" in finding.message
    assert PLAIN_PASSWORD not in finding.message


def _project_copy(tmp_path: Path) -> Path:
    """A copy of the project's program, stack files and policies that a test may edit."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy2(PROJECT_DIR / name, project / name)
    for name in ("stacks", "authz"):
        shutil.copytree(PROJECT_DIR / name, project / name)
    return project


@pytest.fixture
def project_with_plain_secret(tmp_path: Path) -> Path:
    """A project copy whose prod stack file holds a plaintext AWS secret key."""
    project = _project_copy(tmp_path)
    prod = project / "stacks" / "Pulumi.prod.yaml"
    prod.write_text(
        prod.read_text(encoding="utf-8").replace(
            "config:\n", f"config:\n  aws:secretKey: {PLAIN_PASSWORD}\n", 1
        ),
        encoding="utf-8",
    )
    return project


def test_with_stack_secrets_adds_the_rule_and_blocking_findings(
    project_with_plain_secret: Path,
) -> None:
    """The merged report gains this check's rule and one mandatory finding that blocks."""
    report = PolicyReport("dev", "latticework-guardrails", (), (), resources_checked=0)

    merged = with_stack_secrets(report, project_with_plain_secret / "stacks")

    assert [policy.name for policy in merged.policies] == [CHECK_NAME]
    (finding,) = merged.blocking
    assert finding.resource_name == "Pulumi.prod.yaml:config.aws:secretKey"


@pytest.mark.parametrize("check_format", ["sarif", "json"])
def test_check_rejects_a_plaintext_secret_in_any_stack_file(
    project_with_plain_secret: Path, check_format: str
) -> None:
    """`latticework check --env dev` exits 1 for a plaintext secret in prod's stack file."""
    result = CliRunner().invoke(
        main,
        [
            "check",
            "--env",
            "dev",
            "--format",
            check_format,
            "--project-dir",
            str(project_with_plain_secret),
        ],
    )

    assert result.exit_code == ExitCode.POLICY_VIOLATION
    assert PLAIN_PASSWORD not in result.output
    document = json.loads(result.stdout)
    if check_format == "sarif":
        rule_ids = {r["ruleId"] for run in document["runs"] for r in run["results"]}
    else:
        rule_ids = {finding["policy"] for finding in document["findings"]}
    assert CHECK_NAME in rule_ids


def test_a_credential_used_as_a_key_is_found_and_not_repeated(tmp_path: Path) -> None:
    """A key pasted as a YAML key is a finding whose key path hides that key."""
    stacks = _stack(tmp_path, f"config:\n  latticework:extra:\n    {AWS_KEY_ID}: enabled\n")

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.kind == "aws-access-key"
    assert finding.key_path == "latticework:extra.<a key that looks like a credential>"
    assert AWS_KEY_ID[:8] not in finding.message
    # There is no setting to encrypt: the fix is to remove the key and rotate it.
    assert "pulumi config set" not in finding.message
    assert finding.message.endswith("Remove it from the file and rotate that credential")


@pytest.mark.parametrize("pattern", ["^LICENSE_", "SECRET", "_KEY$", "ACCOUNT"])
def test_the_pack_configuration_is_not_read_as_secret_names(tmp_path: Path, pattern: str) -> None:
    """Keys of `latticework:policies` are pack settings, so `secretNamePatterns` is no secret."""
    body = (
        "config:\n  latticework:policies:\n"
        f"    secretNamePatterns: [{json.dumps(pattern)}]\n"
        "    rotationMaxDays: 90\n"
        "    allowedAccountIds: ['111122223333']\n"
        "    enforcement:\n      secret-rotation-period: mandatory\n"
    )
    stacks = _stack(tmp_path, body)

    assert find_plaintext_secrets(stacks) == ()


def test_a_credential_pasted_into_the_pack_configuration_is_still_found(tmp_path: Path) -> None:
    """Pack settings are exempt by name only: a value shaped like a credential is a finding."""
    body = f"config:\n  latticework:policies:\n    secretNamePatterns: [{AWS_KEY_ID}]\n"
    stacks = _stack(tmp_path, body)

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.key_path == "latticework:policies.secretNamePatterns[0]"
    assert finding.kind == "aws-access-key"
    assert AWS_KEY_ID not in finding.message


def test_only_the_pack_s_own_keys_are_exempt_by_name(tmp_path: Path) -> None:
    """A key the pack does not know (refused when that stack is planned) is still read as a
    name: checking another environment must not let its plaintext password through."""
    body = "config:\n  latticework:policies:\n    dbPassword: Sup3rS3cretValue\n"
    stacks = _stack(tmp_path, body)

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.key_path == "latticework:policies.dbPassword"
    assert "Sup3rS3cretValue" not in finding.message


def test_a_secret_under_the_enforcement_map_is_read_by_its_name(tmp_path: Path) -> None:
    """The enforcement map's keys are exempt only when they are policy names (or all)."""
    body = (
        "config:\n  latticework:policies:\n    enforcement:\n"
        "      all: advisory\n      dbPassword: Sup3rS3cretValue\n"
    )
    stacks = _stack(tmp_path, body)

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.key_path == "latticework:policies.enforcement.dbPassword"


def test_check_passes_with_the_documented_secret_name_patterns(tmp_path: Path) -> None:
    """The docs' own `secretNamePatterns: ["^LICENSE_"]` example passes `check --env dev`."""
    project = _project_copy(tmp_path)
    dev = project / "stacks" / "Pulumi.dev.yaml"
    with dev.open("a", encoding="utf-8") as stack_file:
        stack_file.write('  latticework:policies:\n    secretNamePatterns: ["^LICENSE_"]\n')

    result = CliRunner().invoke(
        main, ["check", "--env", "dev", "--format", "json", "--project-dir", str(project)]
    )

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert CHECK_NAME not in {finding["policy"] for finding in document["findings"]}


def test_a_named_pipe_among_the_stack_files_is_a_finding_without_waiting(tmp_path: Path) -> None:
    """Reading a FIFO would wait for a writer forever: it is reported as not a regular file."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    os.mkfifo(stacks / "Pulumi.prod.yaml")

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.kind == "unreadable-stack-file"
    assert "not a regular file (a named pipe)" in finding.message


GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"


@pytest.mark.parametrize(
    ("body", "key_path"),
    [
        (f"config:\n  aws:region: us-east-1\n{GITHUB_TOKEN}: 1\n", "<a key that looks like a"),
        (f"{GITHUB_TOKEN}: 1\n", "<a key that looks like a"),
        (f"config: {{}}\ndbPassword: {PLAIN_PASSWORD}\n", "dbPassword"),
    ],
    ids=["beside-config", "alone", "secret-name"],
)
def test_a_secret_at_the_top_level_outside_config_is_found(
    tmp_path: Path, body: str, key_path: str
) -> None:
    """A credential pasted as a top-level key (or a secret under a top-level name) of any
    stack file is a finding, although it sits outside `config:`; the key is never repeated."""
    stacks = _stack(tmp_path, body, "Pulumi.staging.yaml")

    (finding,) = find_plaintext_secrets(stacks)

    assert finding.key_path.startswith(key_path)
    assert GITHUB_TOKEN[:8] not in finding.message
    assert PLAIN_PASSWORD not in finding.message
    assert f"{finding.file}: {key_path}" in finding.message
    assert "config." not in finding.message


def test_pulumi_s_own_top_level_keys_are_not_findings(tmp_path: Path) -> None:
    """`encryptionsalt`, `encryptedkey` and `secretsprovider` are Pulumi's, never plaintext."""
    body = (
        "secretsprovider: awskms://alias/latticework\n"
        "encryptedkey: " + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTIzNDU2Nzg5MA==" + "\n"
        "encryptionsalt: v1:c2FsdA==:v1:aXY=:ZW5j\n"
        "config:\n  aws:region: us-east-1\n"
    )
    stacks = _stack(tmp_path, body)

    assert find_plaintext_secrets(stacks) == ()


def test_check_rejects_a_token_used_as_a_top_level_key_of_another_stack(tmp_path: Path) -> None:
    """`check --env dev` blocks a token pasted as a top-level key of staging's stack file,
    as `plan --env staging` does, without printing it."""
    project = _project_copy(tmp_path)
    staging = project / "stacks" / "Pulumi.staging.yaml"
    with staging.open("a", encoding="utf-8") as stack_file:
        stack_file.write(f"{GITHUB_TOKEN}: 1\n")

    result = CliRunner().invoke(
        main, ["check", "--env", "dev", "--format", "json", "--project-dir", str(project)]
    )

    assert result.exit_code == ExitCode.POLICY_VIOLATION, result.output
    assert GITHUB_TOKEN[:8] not in result.output
    document = json.loads(result.stdout)
    (finding,) = [f for f in document["findings"] if f["policy"] == CHECK_NAME]
    assert finding["resourceName"] == "Pulumi.staging.yaml:<a key that looks like a credential>"
