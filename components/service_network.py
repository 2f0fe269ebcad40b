"""The environment's VPC Lattice service network: IAM auth, its auth policy, access logs.

Every catalog service joins this network. Its auth policy is the outer gate: only
authenticated principals of the environment's organisation or accounts, and the exact
external roles the catalog names, get through; each service's own auth policy then names
the callers it accepts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam_documents


@dataclass(frozen=True, slots=True)
class ServiceNetworkArgs:
    """What the service network is built from."""

    env: str
    vpc_id: pulumi.Input[str]
    organization_id: str | None
    account_ids: Sequence[str]
    external_principals: Sequence[str] = ()
    """Exact role ARNs from outside the organisation/accounts that the catalog lets call."""
    log_retention_days: int = 30
    protect: bool = False
    """Protect the service network and its access logs from `pulumi destroy`."""


class ServiceNetwork(pulumi.ComponentResource):
    """A Lattice service network (AWS_IAM) associated with the environment's VPC."""

    service_network_id: pulumi.Output[str]
    service_network_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ServiceNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("latticework:components:ServiceNetwork", name, None, opts)

        child = pulumi.ResourceOptions(parent=self)
        protected = pulumi.ResourceOptions(parent=self, protect=args.protect)
        network = aws.vpclattice.ServiceNetwork(
            f"{name}-network", name=f"latticework-{args.env}", auth_type="AWS_IAM", opts=protected
        )
        aws.vpclattice.AuthPolicy(
            f"{name}-auth-policy",
            resource_identifier=network.arn,
            policy=network.arn.apply(
                lambda arn: json.dumps(
                    iam_documents.service_network_auth_policy(
                        service_network_arn=arn,
                        organization_id=args.organization_id,
                        account_ids=args.account_ids,
                        external_principals=args.external_principals,
                    )
                )
            ),
            opts=child,
        )
        aws.vpclattice.ServiceNetworkVpcAssociation(
            f"{name}-vpc",
            service_network_identifier=network.id,
            vpc_identifier=args.vpc_id,
            opts=child,
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/latticework/{args.env}/lattice-access",
            retention_in_days=args.log_retention_days,
            deletion_protection_enabled=args.protect,
            opts=protected,
        )
        aws.vpclattice.AccessLogSubscription(
            f"{name}-access-logs",
            resource_identifier=network.arn,
            destination_arn=access_logs.arn,
            opts=child,
        )

        self.service_network_id = network.id
        self.service_network_arn = network.arn
        self.register_outputs(
            {
                "service_network_id": self.service_network_id,
                "service_network_arn": self.service_network_arn,
            }
        )


__all__ = ["ServiceNetwork", "ServiceNetworkArgs"]
