"""One whole environment, composed from its validated spec.

`Environment` builds the shared layer (network, ECS cluster, Lattice service network,
Verified Permissions policy store, secrets) and then one `MeshService` per catalog service,
peers before their callers: a caller's container needs its peers' Lattice URLs, while the
callers' task role ARNs come from the contract's naming rule (`components.naming`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import naming
from components.cluster import Cluster, ClusterArgs
from components.mesh_service import MeshService, MeshServiceArgs, MeshServicePeer
from components.network import Network, NetworkArgs
from components.policy_store import PolicyStore, PolicyStoreArgs
from components.secrets import Secrets, SecretsArgs
from components.service_network import ServiceNetwork, ServiceNetworkArgs
from components.spec import StackSpec

# Log retention: a year where the environment is protected, a month elsewhere.
_PROTECTED_LOG_RETENTION_DAYS = 365
_LOG_RETENTION_DAYS = 30


@dataclass(frozen=True, slots=True)
class EnvironmentArgs:
    """What the environment is built from."""

    spec: StackSpec
    authz_dir: Path
    """The `authz/` directory whose schema and policies go into the policy store."""


class Environment(pulumi.ComponentResource):
    """Everything one environment runs, from the VPC to each service's auth policy."""

    services: dict[str, MeshService]
    policy_store_id: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    service_network_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("latticework:components:Environment", name, None, opts)

        spec = args.spec
        settings = spec.settings
        protect = spec.protected
        log_retention_days = _PROTECTED_LOG_RETENTION_DAYS if protect else _LOG_RETENTION_DAYS
        child = pulumi.ResourceOptions(parent=self)

        network = Network(
            f"{name}-network",
            NetworkArgs(
                settings=settings.network, protect=protect, stack_file=str(spec.stack_file)
            ),
            child,
        )
        cluster = Cluster(f"{name}-cluster", ClusterArgs(env=spec.env), child)
        service_network = ServiceNetwork(
            f"{name}-service-network",
            ServiceNetworkArgs(
                env=spec.env,
                vpc_id=network.vpc_id,
                organization_id=settings.allowed_principals.organization_id,
                account_ids=settings.allowed_principals.account_ids,
                external_principals=sorted(
                    {
                        principal
                        for service in spec.catalog.services
                        for principal in service.callers.iam_principals
                    }
                ),
                log_retention_days=log_retention_days,
                protect=protect,
            ),
            child,
        )
        policy_store = PolicyStore(
            f"{name}-authz",
            PolicyStoreArgs(
                authz_dir=args.authz_dir,
                identity_source=settings.identity_source,
                deletion_protection=protect,
                catalog=spec.catalog,
                services_file=spec.services_file,
            ),
            child,
        )
        secrets = Secrets(
            f"{name}-secrets",
            SecretsArgs(
                env=spec.env,
                region=spec.region,
                account_id=settings.account_id,
                secrets={service.name: service.secrets for service in spec.catalog.services},
                rotation_function_arn=settings.rotation_function_arn,
                protect=protect,
            ),
            child,
        )
        lattice_prefix_list = aws.ec2.get_managed_prefix_list_output(
            name=f"com.amazonaws.{spec.region}.vpc-lattice",
            opts=pulumi.InvokeOutputOptions(parent=self),
        )

        partition = naming.partition_of(spec.region)
        task_role_arns = {
            service: naming.role_arn(
                partition=partition,
                account_id=settings.account_id,
                role_name=naming.task_role_name(spec.env, service),
            )
            for service in spec.catalog.names
        }
        self.services = {}
        for service in spec.catalog.callees_first():
            peers = {
                callee: MeshServicePeer(
                    lattice_service_arn=self.services[callee].lattice_service_arn,
                    url=self.services[callee].url,
                )
                for callee in spec.catalog.callees_of(service.name)
            }
            self.services[service.name] = MeshService(
                service.name,
                MeshServiceArgs(
                    env=spec.env,
                    region=spec.region,
                    account_id=settings.account_id,
                    service=service,
                    desired_count=spec.desired_count(service),
                    cluster_arn=cluster.cluster_arn,
                    vpc_id=network.vpc_id,
                    private_subnet_ids=network.private_subnet_ids,
                    service_network_id=service_network.service_network_id,
                    lattice_prefix_list_id=lattice_prefix_list.id,
                    policy_store_id=policy_store.policy_store_id,
                    policy_store_arn=policy_store.policy_store_arn,
                    secret_arns=secrets.secret_arns.get(service.name, {}),
                    kms_key_arn=secrets.kms_key_arn,
                    caller_role_arns={
                        caller: task_role_arns[caller] for caller in service.callers.services
                    },
                    peers=peers,
                    log_retention_days=log_retention_days,
                    protect=protect,
                ),
                child,
            )

        if settings.rollout.require_approval:
            pulumi.log.info(
                f"{spec.env} requires approval before a rollout reaches it", resource=self
            )
        self.policy_store_id = policy_store.policy_store_id
        self.cluster_name = cluster.cluster_name
        self.service_network_id = service_network.service_network_id
        self.register_outputs(
            {
                "policy_store_id": self.policy_store_id,
                "cluster_name": self.cluster_name,
                "service_network_id": self.service_network_id,
                "service_urls": {service: mesh.url for service, mesh in self.services.items()},
            }
        )


__all__ = ["Environment", "EnvironmentArgs"]
