"""Every IAM policy, trust policy, key policy and Lattice auth policy latticework deploys.

Each function is pure: plain strings in, a plain `dict` out (``json.dumps`` it for AWS). The
components call them inside ``Output.apply``; the policy pack's tests and the local gateway of
`latticework dev` call them directly, so all of them judge the very same documents.

Resources are exact ARNs. The only ``"*"`` resources are where AWS defines ``"*"`` as "this
resource" (a KMS key policy, a secret's resource policy is given its own ARN instead) or has
no resource-level permissions at all (``ecr:GetAuthorizationToken``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

POLICY_VERSION = "2012-10-17"
LATTICE_INVOKE = "vpc-lattice-svcs:Invoke"
ECS_INFRASTRUCTURE_LATTICE_POLICY = "AmazonECSInfrastructureRolePolicyForVpcLattice"
"""The AWS managed policy ECS needs to register tasks as Lattice targets."""

#: What the PEP may ask Verified Permissions, and nothing else.
VERIFIED_PERMISSIONS_DECISIONS = (
    "verifiedpermissions:IsAuthorized",
    "verifiedpermissions:IsAuthorizedWithToken",
    "verifiedpermissions:BatchIsAuthorized",
    "verifiedpermissions:BatchIsAuthorizedWithToken",
)
SECRET_READ = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")

_PRIVATE_ECR_IMAGE = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?"
    r"/(?P<repository>[a-z0-9._/-]+?)(:[\w.-]+)?(@sha256:[0-9a-f]{64})?"
)
Document = dict[str, Any]


def _document(*statements: Document) -> Document:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def trust_policy(*, service_principal: str, account_id: str, source_arn: str) -> Document:
    """A role trust policy for an AWS service, scoped against the confused deputy problem.

    `source_arn` is the ARN pattern of the resources allowed to make the service assume the
    role, e.g. ``arn:aws:ecs:eu-west-1:111122223333:*``.
    """
    return _document(
        {
            "Sid": "AssumedByService",
            "Effect": "Allow",
            "Principal": {"Service": service_principal},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": source_arn},
            },
        }
    )


def task_role_policy(
    *,
    secret_arns: Sequence[str],
    kms_key_arn: str | None,
    region: str,
    policy_store_arn: str,
    callee_service_arns: Sequence[str],
) -> Document:
    """What a service's code may do: read its own secrets, ask its policy store, call peers.

    `kms_key_arn` is the key that encrypts the secrets; decrypting is allowed only through
    Secrets Manager. `callee_service_arns` are the Lattice services this one calls.
    """
    statements: list[Document] = [
        {
            "Sid": "AskPolicyStore",
            "Effect": "Allow",
            "Action": list(VERIFIED_PERMISSIONS_DECISIONS),
            "Resource": policy_store_arn,
        }
    ]
    if secret_arns:
        statements.append(
            {
                "Sid": "ReadOwnSecrets",
                "Effect": "Allow",
                "Action": list(SECRET_READ),
                "Resource": sorted(secret_arns),
            }
        )
    if secret_arns and kms_key_arn is not None:
        statements.append(
            {
                "Sid": "DecryptOwnSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    if callee_service_arns:
        statements.append(
            {
                "Sid": "InvokePeers",
                "Effect": "Allow",
                "Action": LATTICE_INVOKE,
                "Resource": [f"{arn}/*" for arn in sorted(callee_service_arns)],
            }
        )
    return _document(*statements)


def execution_role_policy(*, log_group_arn: str, image: str, partition: str) -> Document:
    """What ECS may do to start a service's task: write its logs, pull a private ECR image."""
    statements: list[Document] = [
        {
            "Sid": "WriteServiceLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:log-stream:*",
        }
    ]
    ecr = _PRIVATE_ECR_IMAGE.fullmatch(image)
    if ecr is not None:
        repository_arn = (
            f"arn:{partition}:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repository']}"
        )
        statements += [
            {
                "Sid": "PullServiceImage",
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Resource": repository_arn,
            },
            {
                # ecr:GetAuthorizationToken has no resource-level permissions.
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
        ]
    return _document(*statements)


def service_auth_policy(
    *, service_arn: str, caller_role_arns: Sequence[str], allowed_principals: Sequence[str]
) -> Document:
    """The Lattice auth policy of one service: exactly the callers the catalog names.

    `caller_role_arns` are the task role ARNs of the catalog services that call this one;
    `allowed_principals` the external IAM role ARNs the catalog lists under
    ``callers.iamPrincipals``. Requests must be SigV4-signed by one of them. The roles are
    matched on ``aws:PrincipalArn`` (which is the role's ARN for its assumed-role sessions)
    instead of in the Principal element: a caller is deployed after the services it calls,
    so the policy must hold before the caller's role exists, and a Principal element would
    also break silently if the role were recreated. With no callers at all the policy denies
    every request explicitly, so the service is reachable by nobody rather than by default.
    """
    principals = sorted({*caller_role_arns, *allowed_principals})
    resource = f"{service_arn}/*"
    if not principals:
        return _document(
            {
                "Sid": "NoCallers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": LATTICE_INVOKE,
                "Resource": resource,
            }
        )

    return _document(
        {
            "Sid": "CatalogCallers",
            "Effect": "Allow",
            "Principal": "*",
            "Action": LATTICE_INVOKE,
            "Resource": resource,
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": principals},
                "StringNotEqualsIgnoreCase": {"aws:PrincipalType": "anonymous"},
            },
        }
    )


def service_network_auth_policy(
    *,
    service_network_arn: str,
    organization_id: str | None,
    account_ids: Sequence[str],
    external_principals: Sequence[str] = (),
) -> Document:
    """The service network's auth policy: authenticated callers of the organisation/accounts.

    This is the outer gate; each service's own auth policy then names its callers.
    `external_principals` are the exact role ARNs the catalog lets in from elsewhere
    (``callers.iamPrincipals``); they pass this gate by ARN, never by their whole account.
    Lattice authorizes every request as ``service/<id>/<path>``, also against the network's
    policy, so the resource is the services of the network's own account and region.
    """
    resource = _services_of(service_network_arn)
    authenticated = {"StringNotEqualsIgnoreCase": {"aws:PrincipalType": "anonymous"}}
    statements: list[Document] = []
    if organization_id is not None:
        statements.append(
            {
                "Sid": "OrganizationCallers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": LATTICE_INVOKE,
                "Resource": resource,
                "Condition": {
                    **authenticated,
                    "StringEquals": {"aws:PrincipalOrgID": organization_id},
                },
            }
        )
    if account_ids:
        statements.append(
            {
                "Sid": "AccountCallers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": LATTICE_INVOKE,
                "Resource": resource,
                "Condition": {
                    **authenticated,
                    "StringEquals": {"aws:PrincipalAccount": sorted(account_ids)},
                },
            }
        )
    if not statements:
        message = "service_network_auth_policy needs an organization_id or account_ids"
        raise ValueError(message)

    if external_principals:
        statements.append(
            {
                "Sid": "CatalogExternalCallers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": LATTICE_INVOKE,
                "Resource": resource,
                "Condition": {
                    **authenticated,
                    "ArnEquals": {"aws:PrincipalArn": sorted(set(external_principals))},
                },
            }
        )
    return _document(*statements)


def _services_of(service_network_arn: str) -> str:
    """``arn:<partition>:vpc-lattice:<region>:<account>:service/*`` from a network's ARN."""
    parts = service_network_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "vpc-lattice" or not parts[5].startswith("servicenetwork/"):
        message = f"expected a VPC Lattice service network ARN, found {service_network_arn!r}"
        raise ValueError(message)
    return ":".join([*parts[:5], "service/*"])


def secret_resource_policy(*, secret_arn: str, account_id: str, reader_role_arn: str) -> Document:
    """A secret's resource policy: its service's task role may read it; no other account may.

    The reader is matched through ``aws:PrincipalArn`` rather than a `Principal` element so
    the policy can be attached before the role exists (the role's name is fixed by contract).
    """
    return _document(
        {
            "Sid": "OwnerTaskRoleReads",
            "Effect": "Allow",
            "Principal": {"AWS": account_id},
            "Action": list(SECRET_READ),
            "Resource": secret_arn,
            "Condition": {"ArnEquals": {"aws:PrincipalArn": reader_role_arn}},
        },
        {
            "Sid": "DenyOtherAccounts",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "secretsmanager:*",
            "Resource": secret_arn,
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account_id}},
        },
    )


def kms_key_policy(*, account_id: str, partition: str, region: str) -> Document:
    """The policy of the secrets' KMS key: the account administers it, Secrets Manager uses it.

    In a key policy ``"Resource": "*"`` means this key and nothing else.
    """
    return _document(
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "SecretsManagerUses",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                    "kms:CallerAccount": account_id,
                }
            },
        },
    )


def log_group_arn(*, partition: str, region: str, account_id: str, log_group_name: str) -> str:
    """The ARN of a CloudWatch log group (without the trailing ``:*``)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name}"


__all__ = [
    "ECS_INFRASTRUCTURE_LATTICE_POLICY",
    "LATTICE_INVOKE",
    "POLICY_VERSION",
    "SECRET_READ",
    "VERIFIED_PERMISSIONS_DECISIONS",
    "execution_role_policy",
    "kms_key_policy",
    "log_group_arn",
    "secret_resource_policy",
    "service_auth_policy",
    "service_network_auth_policy",
    "task_role_policy",
    "trust_policy",
]
