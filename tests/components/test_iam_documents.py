"""IAM and Lattice auth policy documents, built from plain strings."""

from __future__ import annotations

import json

import pytest

from components import iam_documents

SERVICE_ARN = "arn:aws:vpc-lattice:eu-west-1:111122223333:service/svc-0123456789abcdef0"
ORDERS_ROLE = "arn:aws:iam::111122223333:role/latticework-dev-orders-task"
STOREFRONT_ROLE = "arn:aws:iam::444455556666:role/storefront-api"
STORE_ARN = "arn:aws:verifiedpermissions::111122223333:policy-store/PSexample"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:latticework/dev/p/db-AbCdEf"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_service_auth_policy_allows_exactly_the_named_callers() -> None:
    """Callers' task roles and external principals are matched by role ARN, sorted, deduplicated.

    The roles are matched through ``aws:PrincipalArn`` rather than the Principal element, so the
    policy holds before a caller's role exists and keeps holding if the role is recreated.
    """
    policy = iam_documents.service_auth_policy(
        service_arn=SERVICE_ARN,
        caller_role_arns=[ORDERS_ROLE, ORDERS_ROLE],
        allowed_principals=[STOREFRONT_ROLE],
    )

    (statement,) = policy["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == "*"
    assert statement["Condition"]["ArnEquals"] == {
        "aws:PrincipalArn": [ORDERS_ROLE, STOREFRONT_ROLE]
    }
    assert statement["Action"] == "vpc-lattice-svcs:Invoke"
    assert statement["Resource"] == f"{SERVICE_ARN}/*"


def test_service_auth_policy_without_callers_denies_everyone() -> None:
    """No callers means an explicit deny, never an allow-all or an empty policy."""
    policy = iam_documents.service_auth_policy(
        service_arn=SERVICE_ARN, caller_role_arns=[], allowed_principals=[]
    )

    (statement,) = policy["Statement"]

    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"


def test_documents_are_json_serialisable_and_pure() -> None:
    """The same inputs give byte-identical JSON, ready for AWS."""

    def build() -> dict[str, object]:
        return iam_documents.service_auth_policy(
            service_arn=SERVICE_ARN, caller_role_arns=[ORDERS_ROLE], allowed_principals=[]
        )

    first, second = json.dumps(build()), json.dumps(build())

    assert first == second
    assert json.loads(first)["Version"] == "2012-10-17"


@pytest.mark.parametrize(
    ("organization_id", "account_ids", "sids"),
    [
        ("o-abc123def4", [], ["OrganizationCallers"]),
        (None, ["111122223333"], ["AccountCallers"]),
        ("o-abc123def4", ["111122223333"], ["OrganizationCallers", "AccountCallers"]),
    ],
)
def test_service_network_policy_limits_to_org_or_accounts(
    organization_id: str | None, account_ids: list[str], sids: list[str]
) -> None:
    """Each allowed scope is its own statement, and each demands an authenticated caller."""
    policy = iam_documents.service_network_auth_policy(
        service_network_arn="arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-1",
        organization_id=organization_id,
        account_ids=account_ids,
    )

    statements = policy["Statement"]

    assert [statement["Sid"] for statement in statements] == sids
    assert all(
        statement["Condition"]["StringNotEqualsIgnoreCase"] == {"aws:PrincipalType": "anonymous"}
        for statement in statements
    )


def test_service_network_policy_targets_the_services_lattice_authorizes() -> None:
    """Lattice authorizes a request as service/<id>/<path>, so the network gate names services.

    A resource under ``servicenetwork/...`` would match no request and deny every call.
    """
    policy = iam_documents.service_network_auth_policy(
        service_network_arn="arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-1",
        organization_id="o-abc123def4",
        account_ids=["111122223333"],
    )

    resources = {statement["Resource"] for statement in policy["Statement"]}

    assert resources == {"arn:aws:vpc-lattice:eu-west-1:111122223333:service/*"}


def test_service_network_policy_admits_the_catalogs_external_callers_exactly() -> None:
    """External roles the catalog names pass the network gate by exact ARN, not by account."""
    storefront = "arn:aws:iam::444455556666:role/storefront-api"

    policy = iam_documents.service_network_auth_policy(
        service_network_arn="arn:aws:vpc-lattice:eu-west-1:111122223333:servicenetwork/sn-1",
        organization_id=None,
        account_ids=["111122223333"],
        external_principals=[storefront],
    )

    external = [s for s in policy["Statement"] if s["Sid"] == "CatalogExternalCallers"]
    assert len(external) == 1
    assert external[0]["Condition"]["ArnEquals"] == {"aws:PrincipalArn": [storefront]}
    assert "444455556666" not in json.dumps(
        [s for s in policy["Statement"] if s["Sid"] != "CatalogExternalCallers"]
    )


def test_service_network_policy_refuses_to_admit_nobody_silently() -> None:
    """Without an organisation or an account the builder raises instead of allowing '*'."""
    with pytest.raises(ValueError, match="organization_id or account_ids"):
        iam_documents.service_network_auth_policy(
            service_network_arn="arn:aws:vpc-lattice:eu-west-1:1:servicenetwork/sn-1",
            organization_id=None,
            account_ids=[],
        )


def test_task_role_policy_names_exact_resources() -> None:
    """Secrets, key, store and peers appear by exact ARN; KMS only through Secrets Manager."""
    policy = iam_documents.task_role_policy(
        secret_arns=[SECRET_ARN],
        kms_key_arn=KEY_ARN,
        region="eu-west-1",
        policy_store_arn=STORE_ARN,
        callee_service_arns=[SERVICE_ARN],
    )

    statements = {statement["Sid"]: statement for statement in policy["Statement"]}

    assert statements["AskPolicyStore"]["Resource"] == STORE_ARN
    assert statements["ReadOwnSecrets"]["Resource"] == [SECRET_ARN]
    assert statements["DecryptOwnSecrets"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    assert statements["InvokePeers"]["Resource"] == [f"{SERVICE_ARN}/*"]
    assert all(statement["Effect"] == "Allow" for statement in statements.values())


def test_task_role_policy_without_secrets_or_peers_only_asks_the_store() -> None:
    """A service with no secrets and no peers gets the decision calls and nothing else."""
    policy = iam_documents.task_role_policy(
        secret_arns=[],
        kms_key_arn=KEY_ARN,
        region="eu-west-1",
        policy_store_arn=STORE_ARN,
        callee_service_arns=[],
    )

    assert [statement["Sid"] for statement in policy["Statement"]] == ["AskPolicyStore"]
    assert policy["Statement"][0]["Action"] == list(iam_documents.VERIFIED_PERMISSIONS_DECISIONS)


@pytest.mark.parametrize(
    "pin",
    [":1.2.3", "@sha256:" + "a" * 64, ":1.2.3@sha256:" + "a" * 64],
    ids=["tag", "digest", "both"],
)
def test_execution_role_pulls_a_private_ecr_image_by_repository(pin: str) -> None:
    """A private ECR image, pinned by tag, digest or both, adds pull rights on its repository."""
    policy = iam_documents.execution_role_policy(
        log_group_arn="arn:aws:logs:eu-west-1:111122223333:log-group:/latticework/dev/x",
        image=f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/orders{pin}",
        partition="aws",
    )

    statements = {statement["Sid"]: statement for statement in policy["Statement"]}

    assert statements["PullServiceImage"]["Resource"] == (
        "arn:aws:ecr:eu-west-1:111122223333:repository/team/orders"
    )
    assert statements["WriteServiceLogs"]["Resource"].endswith("/latticework/dev/x:log-stream:*")


def test_execution_role_for_a_public_image_has_no_ecr_rights() -> None:
    """A public image needs no ECR permissions at all."""
    policy = iam_documents.execution_role_policy(
        log_group_arn="arn:aws:logs:eu-west-1:111122223333:log-group:/x",
        image="public.ecr.aws/latticework/orders:1.4.2",
        partition="aws",
    )

    assert [statement["Sid"] for statement in policy["Statement"]] == ["WriteServiceLogs"]


def test_trust_policy_guards_against_the_confused_deputy() -> None:
    """Only the named service may assume the role, and only for the account's resources."""
    policy = iam_documents.trust_policy(
        service_principal="ecs-tasks.amazonaws.com",
        account_id="111122223333",
        source_arn="arn:aws:ecs:eu-west-1:111122223333:*",
    )

    (statement,) = policy["Statement"]

    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}


def test_secret_resource_policy_matches_the_owner_by_principal_arn() -> None:
    """The owner is matched by aws:PrincipalArn, so the policy works before the role exists."""
    policy = iam_documents.secret_resource_policy(
        secret_arn=SECRET_ARN, account_id="111122223333", reader_role_arn=ORDERS_ROLE
    )

    allow, deny = policy["Statement"]

    assert allow["Condition"] == {"ArnEquals": {"aws:PrincipalArn": ORDERS_ROLE}}
    assert deny["Effect"] == "Deny"
    assert {allow["Resource"], deny["Resource"]} == {SECRET_ARN}
