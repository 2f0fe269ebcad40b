"""Secrets: one Secrets Manager secret per declared secret, KMS-encrypted, rotated, fenced."""

from __future__ import annotations

from latticework.plan import Plan
from tests.components._samples import (
    SECRET,
    inputs_of,
    named,
    outputs_of,
    policy_document,
    resources_of,
)

ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"


def test_one_secret_per_declared_secret(dev_plan: Plan) -> None:
    """payments declares two secrets; they are named latticework/<env>/<service>/<secret>."""
    names = sorted(str(inputs_of(secret)["name"]) for secret in resources_of(dev_plan, SECRET))

    assert names == ["latticework/dev/payments/database", "latticework/dev/payments/psp-api-key"]


def test_secrets_are_encrypted_with_the_environment_key(dev_plan: Plan) -> None:
    """Every secret uses the environment's rotating KMS key, never the AWS managed key."""
    key = named(dev_plan, "aws:kms/key:Key", "dev-secrets-key")

    assert inputs_of(key)["enableKeyRotation"] is True
    for secret in resources_of(dev_plan, SECRET):
        assert inputs_of(secret)["kmsKeyId"] == outputs_of(key)["arn"]


def test_no_secret_value_is_planned(dev_plan: Plan) -> None:
    """latticework creates secrets, never their values: no SecretVersion is planned."""
    versions = dev_plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")

    assert versions == ()


def test_rotation_follows_the_catalog_period(dev_plan: Plan) -> None:
    """Each secret rotates through the stack's function every rotationDays of the catalog."""
    rotations = {planned.name: inputs_of(planned) for planned in resources_of(dev_plan, ROTATION)}

    assert {
        name: rotation["rotationRules"]["automaticallyAfterDays"]
        for name, rotation in rotations.items()
    } == {
        "dev-secrets-payments-database": 30,
        "dev-secrets-payments-psp-api-key": 90,
    }
    assert {rotation["rotationLambdaArn"] for rotation in rotations.values()} == {
        "arn:aws:lambda:eu-west-1:111122223333:function:latticework-rotate-postgres"
    }


def test_resource_policy_admits_the_owner_and_denies_other_accounts(dev_plan: Plan) -> None:
    """Only payments' task role is allowed to read; every other account is denied outright."""
    secret = named(dev_plan, SECRET, "dev-secrets-payments-database")
    owner_role = named(dev_plan, "aws:iam/role:Role", "payments-task-role")

    policy = policy_document(named(dev_plan, SECRET_POLICY, "dev-secrets-payments-database"))

    allow, deny = policy["Statement"]
    assert allow["Condition"] == {"ArnEquals": {"aws:PrincipalArn": outputs_of(owner_role)["arn"]}}
    assert allow["Resource"] == deny["Resource"] == outputs_of(secret)["arn"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": "111122223333"}}


def test_prod_keeps_deleted_keys_and_secrets_recoverable_longest(prod_plan: Plan) -> None:
    """Protected environments use AWS's longest recovery windows and protect=True."""
    key = named(prod_plan, "aws:kms/key:Key", "prod-secrets-key")

    assert inputs_of(key)["deletionWindowInDays"] == 30
    assert key.protect
    for secret in resources_of(prod_plan, SECRET):
        assert inputs_of(secret)["recoveryWindowInDays"] == 30
        assert secret.protect
