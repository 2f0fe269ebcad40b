"""IamRole principals always carry `account` and `name`: the security team's partner forbid
reads `principal.account`, and without it the forbid errors and Cedar skips it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pep_runtime.enforcement import (
    Enforcer,
    EntityUid,
    HttpRequest,
    LocalCedarDecisionPoint,
    Principal,
    VerifiedPermissionsDecisionPoint,
)

from .conftest import make_config

REAL_AUTHZ = Path(__file__).resolve().parents[3] / "authz"
STORE = "PSEXAMPLEabcdefg111111"
PARTNER_STOREFRONT = (
    "Principal=arn:aws:sts::444455556666:assumed-role/storefront-api/s-1; Type=AWS_IAM"
)
OTHER_ACCOUNT_STOREFRONT = (
    "Principal=arn:aws:sts::999988887777:assumed-role/storefront-api/s-1; Type=AWS_IAM"
)
ROUTES = [
    {
        "method": "GET",
        "path": "/orders/{orderId}",
        "action": "GetOrder",
        "resource": {"type": "Order", "id": "{orderId}"},
    }
]


def _local_enforcer() -> Enforcer:
    config = make_config(document={"routes": ROUTES}, authz_dir=REAL_AUTHZ)
    return Enforcer(config, LocalCedarDecisionPoint(REAL_AUTHZ, namespace="Latticework"))


def _get(enforcer: Enforcer, identity: str) -> Any:
    return enforcer.check(
        HttpRequest("GET", b"/orders/ord-1", {"x-amzn-lattice-identity": [identity]})
    )


def test_the_partners_role_reads_through_its_grant_with_the_real_policies() -> None:
    """The partner account's storefront role reads an order through its template link."""
    outcome = _get(_local_enforcer(), PARTNER_STOREFRONT)

    assert (outcome.status, outcome.reason) == (200, "allow")
    assert outcome.principal.attributes == {"account": "444455556666", "name": "storefront-api"}
    assert outcome.result.determining_policies == ("storefront-reads",)


def test_a_role_of_another_account_is_denied_by_the_partner_forbid() -> None:
    """The same role name in another account is denied by the forbid itself, not by an error."""
    outcome = _get(_local_enforcer(), OTHER_ACCOUNT_STOREFRONT)

    assert (outcome.status, outcome.reason) == (403, "deny")
    assert outcome.result.errors == ()
    assert outcome.result.determining_policies == ("external-roles-from-partner-account",)


def test_verified_permissions_gets_the_roles_attributes() -> None:
    """In Verified Permissions mode the IamRole entity is sent with account and name."""
    client = boto3.client(
        "verifiedpermissions",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    config = make_config(
        document={"routes": ROUTES}, env={"LATTICEWORK_PEP_MODE": "verified-permissions"}
    )
    decision_point = VerifiedPermissionsDecisionPoint(
        policy_store_id=STORE, namespace="Latticework", client=client
    )
    enforcer = Enforcer(config, decision_point)
    role = {
        "entityType": "Latticework::IamRole",
        "entityId": "arn:aws:iam::999988887777:role/storefront-api",
    }
    expected = {
        "policyStoreId": STORE,
        "principal": role,
        "action": {"actionType": "Latticework::Action", "actionId": "GetOrder"},
        "resource": {"entityType": "Latticework::Order", "entityId": "ord-1"},
        "entities": {
            "entityList": [
                {
                    "identifier": role,
                    "attributes": {
                        "account": {"string": "999988887777"},
                        "name": {"string": "storefront-api"},
                    },
                }
            ]
        },
    }
    answer = {
        "decision": "DENY",
        "determiningPolicies": [{"policyId": "external-roles-from-partner-account"}],
        "errors": [],
    }

    with Stubber(client) as stubber:
        stubber.add_response("is_authorized", answer, expected)
        outcome = _get(enforcer, OTHER_ACCOUNT_STOREFRONT)
        stubber.assert_no_pending_responses()

    assert outcome.status == 403


def test_a_role_principal_built_without_attributes_gets_them_from_its_arn() -> None:
    """An application's IamRole principal without attributes gets account and name."""
    principal = Principal(
        EntityUid("Latticework::IamRole", "arn:aws:iam::444455556666:role/team/storefront-api")
    )

    assert principal.attributes == {"account": "444455556666", "name": "storefront-api"}
    assert json.loads(principal.cache_key)[2] == principal.attributes


@pytest.mark.parametrize(
    ("role_id", "attributes", "message"),
    [
        ("storefront-api", {}, "must be a role ARN"),
        ("arn:aws:iam::\u066444455556666:role/storefront-api", {}, "must be a role ARN"),
        ("arn:aws:iam::444455556666:role/store\u00e9", {}, "must be a role ARN"),
        (
            "arn:aws:iam::444455556666:role/storefront-api",
            {"account": "999988887777"},
            "attribute account is '999988887777' but the ARN says '444455556666'",
        ),
    ],
)
def test_a_role_principal_that_cannot_carry_true_attributes_is_refused(
    role_id: str, attributes: dict[str, str], message: str
) -> None:
    """A role id that is no ARN, or attributes that contradict it, are refused."""
    with pytest.raises(ValueError, match=message):
        Principal(EntityUid("Latticework::IamRole", role_id), attributes=attributes)
