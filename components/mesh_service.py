"""One catalog service on ECS Fargate behind VPC Lattice, with everything it needs.

A `MeshService` builds, for one service: a log group; a task role (its own secrets, its
policy store's decision calls, invoking the peers it calls), an execution role (its logs and
image) and an ECS infrastructure role for Lattice; a security group that admits the service
port only from the region's VPC Lattice prefix list; the Lattice target group, service
(AWS_IAM), listener, service-network association and auth policy naming exactly the callers
of the catalog; a task definition with a named port mapping; and the ECS service, in private
subnets without public IPs, registered with Lattice through `vpc_lattice_configurations`.

The container's environment carries references only (docs/contracts.md): secret ARNs, the
policy store id, the peers' Lattice URLs, the caller-role map and its own name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam_documents, naming
from components.spec import ServiceSpec

PORT_NAME = "http"
"""The name of the container's port mapping; Lattice targets the task through it."""
_LISTENER_PORT = 443


@dataclass(frozen=True, slots=True)
class MeshServiceArgs:
    """What one service is built from: its catalog entry and the environment around it."""

    env: str
    region: str
    account_id: str
    service: ServiceSpec
    desired_count: int
    cluster_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    service_network_id: pulumi.Input[str]
    lattice_prefix_list_id: pulumi.Input[str]
    policy_store_id: pulumi.Input[str]
    policy_store_arn: pulumi.Input[str]
    secret_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Logical secret name -> secret ARN, for the secrets this service declares."""
    kms_key_arn: pulumi.Input[str] | None = None
    caller_role_arns: Mapping[str, str] = field(default_factory=dict)
    """Calling service name -> its task role ARN."""
    peers: Mapping[str, MeshServicePeer] = field(default_factory=dict)
    """Called service name -> its Lattice service ARN and URL."""
    log_retention_days: int = 30
    protect: bool = False


@dataclass(frozen=True, slots=True)
class MeshServicePeer:
    """What a caller needs of a service it calls."""

    lattice_service_arn: pulumi.Input[str]
    url: pulumi.Input[str]


class MeshService(pulumi.ComponentResource):
    """A catalog service: ECS Fargate tasks reachable only through the Lattice service network."""

    lattice_service_arn: pulumi.Output[str]
    lattice_service_id: pulumi.Output[str]
    url: pulumi.Output[str]
    """``https://`` + the Lattice service's DNS name: what peers call."""
    task_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: MeshServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("latticework:components:MeshService", name, None, opts)

        service = args.service
        partition = naming.partition_of(args.region)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=naming.service_log_group_name(args.env, service.name),
            retention_in_days=args.log_retention_days,
            deletion_protection_enabled=args.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        task_role, task_policy = self._task_role(name, args, partition)
        execution_role, execution_policy = self._execution_role(name, args, partition, log_group)
        infrastructure_role, infrastructure_policy = self._infrastructure_role(
            name, args, partition
        )

        target_group = self._target_group(name, args)
        lattice_service = aws.vpclattice.Service(
            f"{name}-lattice-service",
            name=naming.lattice_service_name(args.env, service.name),
            auth_type="AWS_IAM",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._route_to_target_group(name, lattice_service, target_group, args)
        self._auth_policy(name, lattice_service, args)
        self.url = lattice_service.dns_entries.apply(_url_of)

        task_definition = self._task_definition(name, args, task_role, execution_role, log_group)
        security_group = self._security_group(name, args)
        aws.ecs.Service(
            f"{name}-service",
            name=service.name,
            cluster=args.cluster_arn,
            task_definition=task_definition.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.private_subnet_ids,
                security_groups=[security_group.id],
                assign_public_ip=False,
            ),
            vpc_lattice_configurations=[
                aws.ecs.ServiceVpcLatticeConfigurationArgs(
                    role_arn=infrastructure_role.arn,
                    target_group_arn=target_group.arn,
                    port_name=PORT_NAME,
                )
            ],
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            enable_ecs_managed_tags=True,
            enable_execute_command=False,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            tags={"latticework:service": service.name, "latticework:environment": args.env},
            # Tasks need their roles' permissions when they start: the execution role's to
            # create the log stream, the task role's for the PEP's first decisions, and the
            # infrastructure role's for ECS to register them as Lattice targets.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[execution_policy, task_policy, infrastructure_policy]
            ),
        )

        self.lattice_service_arn = lattice_service.arn
        self.lattice_service_id = lattice_service.id
        self.task_role_arn = task_role.arn
        self.register_outputs(
            {
                "lattice_service_arn": self.lattice_service_arn,
                "url": self.url,
                "task_role_arn": self.task_role_arn,
            }
        )

    def _task_role(
        self, name: str, args: MeshServiceArgs, partition: str
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The role the service's code runs as; its policy names exact ARNs only."""
        role = aws.iam.Role(
            f"{name}-task-role",
            name=naming.task_role_name(args.env, args.service.name),
            assume_role_policy=_ecs_trust_policy(args, partition, "ecs-tasks.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        secret_names = sorted(args.secret_arns)
        peer_names = sorted(args.peers)
        policy = pulumi.Output.all(
            policy_store_arn=args.policy_store_arn,
            kms_key_arn=args.kms_key_arn,
            secret_arns=[args.secret_arns[secret] for secret in secret_names],
            callee_arns=[args.peers[peer].lattice_service_arn for peer in peer_names],
        ).apply(
            lambda resolved: json.dumps(
                iam_documents.task_role_policy(
                    secret_arns=resolved["secret_arns"],
                    kms_key_arn=resolved["kms_key_arn"],
                    region=args.region,
                    policy_store_arn=resolved["policy_store_arn"],
                    callee_service_arns=resolved["callee_arns"],
                )
            )
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=role.id,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role, role_policy

    def _execution_role(
        self,
        name: str,
        args: MeshServiceArgs,
        partition: str,
        log_group: aws.cloudwatch.LogGroup,
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The role ECS starts the task with: write its log group, pull its image."""
        role = aws.iam.Role(
            f"{name}-exec-role",
            name=naming.execution_role_name(args.env, args.service.name),
            assume_role_policy=_ecs_trust_policy(args, partition, "ecs-tasks.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-exec-policy",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    iam_documents.execution_role_policy(
                        log_group_arn=_without_wildcard_suffix(arn),
                        image=args.service.image,
                        partition=partition,
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role, role_policy

    def _infrastructure_role(
        self, name: str, args: MeshServiceArgs, partition: str
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
        """The role ECS uses to register and deregister the tasks as Lattice targets."""
        role = aws.iam.Role(
            f"{name}-infra-role",
            name=naming.infrastructure_role_name(args.env, args.service.name),
            assume_role_policy=_ecs_trust_policy(args, partition, "ecs.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-infra-policy",
            role=role.name,
            policy_arn=(
                f"arn:{partition}:iam::aws:policy/{iam_documents.ECS_INFRASTRUCTURE_LATTICE_POLICY}"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role, attachment

    def _target_group(self, name: str, args: MeshServiceArgs) -> aws.vpclattice.TargetGroup:
        service = args.service
        return aws.vpclattice.TargetGroup(
            f"{name}-target-group",
            name=naming.lattice_service_name(args.env, service.name),
            type="IP",
            config=aws.vpclattice.TargetGroupConfigArgs(
                port=service.port,
                protocol="HTTP",
                protocol_version="HTTP1",
                vpc_identifier=args.vpc_id,
                ip_address_type="IPV4",
                health_check=aws.vpclattice.TargetGroupConfigHealthCheckArgs(
                    enabled=True,
                    path=service.health_check_path,
                    protocol="HTTP",
                    port=service.port,
                    matcher=aws.vpclattice.TargetGroupConfigHealthCheckMatcherArgs(value="200-299"),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _route_to_target_group(
        self,
        name: str,
        lattice_service: aws.vpclattice.Service,
        target_group: aws.vpclattice.TargetGroup,
        args: MeshServiceArgs,
    ) -> None:
        """An HTTPS listener forwarding everything to the tasks; the service joins the network."""
        child = pulumi.ResourceOptions(parent=self)
        aws.vpclattice.Listener(
            f"{name}-listener",
            name="https",
            protocol="HTTPS",
            port=_LISTENER_PORT,
            service_identifier=lattice_service.id,
            default_action=aws.vpclattice.ListenerDefaultActionArgs(
                forwards=[
                    aws.vpclattice.ListenerDefaultActionForwardArgs(
                        target_groups=[
                            aws.vpclattice.ListenerDefaultActionForwardTargetGroupArgs(
                                target_group_identifier=target_group.id, weight=100
                            )
                        ]
                    )
                ]
            ),
            opts=child,
        )
        aws.vpclattice.ServiceNetworkServiceAssociation(
            f"{name}-association",
            service_identifier=lattice_service.id,
            service_network_identifier=args.service_network_id,
            opts=child,
        )

    def _auth_policy(
        self, name: str, lattice_service: aws.vpclattice.Service, args: MeshServiceArgs
    ) -> None:
        """Exactly the callers of the catalog: caller services' task roles and IAM roles."""
        caller_role_arns = [
            args.caller_role_arns[caller] for caller in sorted(args.caller_role_arns)
        ]
        aws.vpclattice.AuthPolicy(
            f"{name}-auth-policy",
            resource_identifier=lattice_service.arn,
            policy=lattice_service.arn.apply(
                lambda arn: json.dumps(
                    iam_documents.service_auth_policy(
                        service_arn=arn,
                        caller_role_arns=caller_role_arns,
                        allowed_principals=args.service.callers.iam_principals,
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if not caller_role_arns and not args.service.callers.iam_principals:
            pulumi.log.warn(
                f"{args.service.name} names no callers: its auth policy denies every request",
                resource=self,
            )

    def _security_group(self, name: str, args: MeshServiceArgs) -> aws.ec2.SecurityGroup:
        """Admit the service port from VPC Lattice only, so its identity headers are real."""
        port = args.service.port
        return aws.ec2.SecurityGroup(
            f"{name}-sg",
            name=f"latticework-{args.env}-{args.service.name}",
            description=f"{args.service.name}: port {port} from VPC Lattice only",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="VPC Lattice managed prefix list",
                    protocol="tcp",
                    from_port=port,
                    to_port=port,
                    prefix_list_ids=[args.lattice_prefix_list_id],
                )
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="HTTPS to AWS APIs, image registries and Lattice peers",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _task_definition(
        self,
        name: str,
        args: MeshServiceArgs,
        task_role: aws.iam.Role,
        execution_role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
    ) -> aws.ecs.TaskDefinition:
        service = args.service
        secret_names = sorted(args.secret_arns)
        peer_names = sorted(args.peers)
        container_definitions = pulumi.Output.all(
            policy_store_id=args.policy_store_id,
            log_group=log_group.name,
            secret_arns=[args.secret_arns[secret] for secret in secret_names],
            peer_urls=[args.peers[peer].url for peer in peer_names],
        ).apply(
            lambda resolved: json.dumps(
                [
                    container_definition(
                        args,
                        policy_store_id=resolved["policy_store_id"],
                        log_group_name=resolved["log_group"],
                        secret_arns=dict(zip(secret_names, resolved["secret_arns"], strict=True)),
                        peer_urls=dict(zip(peer_names, resolved["peer_urls"], strict=True)),
                    )
                ]
            )
        )
        return aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"latticework-{args.env}-{service.name}",
            cpu=str(service.cpu),
            memory=str(service.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            task_role_arn=task_role.arn,
            execution_role_arn=execution_role.arn,
            container_definitions=container_definitions,
            opts=pulumi.ResourceOptions(parent=self),
        )


def container_definition(
    args: MeshServiceArgs,
    *,
    policy_store_id: str,
    log_group_name: str,
    secret_arns: Mapping[str, str],
    peer_urls: Mapping[str, str],
) -> dict[str, Any]:
    """The service's container definition, from resolved plain strings.

    Its environment holds the catalog's plain variables and the LATTICEWORK_* references of
    docs/contracts.md, never a secret value.
    """
    service = args.service
    environment: dict[str, str] = dict(service.environment)
    environment |= {
        "LATTICEWORK_SERVICE_NAME": service.name,
        "LATTICEWORK_ENVIRONMENT": args.env,
        "LATTICEWORK_POLICY_STORE_ID": policy_store_id,
        "LATTICEWORK_PEP_MODE": "verified-permissions",
        "LATTICEWORK_BEHIND_LATTICE": "true",
        "LATTICEWORK_CALLER_ROLES": json.dumps(
            {arn: caller for caller, arn in sorted(args.caller_role_arns.items())},
            sort_keys=True,
        ),
        "AWS_REGION": args.region,
    }
    environment |= {naming.secret_env_var(secret): arn for secret, arn in secret_arns.items()}
    environment |= {naming.service_url_env_var(peer): url for peer, url in peer_urls.items()}
    return {
        "name": service.name,
        "image": service.image,
        "essential": True,
        "portMappings": [
            {
                "name": PORT_NAME,
                "containerPort": service.port,
                "protocol": "tcp",
                "appProtocol": "http",
            }
        ],
        "environment": [
            {"name": variable, "value": value} for variable, value in sorted(environment.items())
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group_name,
                "awslogs-region": args.region,
                "awslogs-stream-prefix": service.name,
            },
        },
    }


def _ecs_trust_policy(args: MeshServiceArgs, partition: str, service_principal: str) -> str:
    """Trust `service_principal`, only on behalf of this account's ECS resources in the region."""
    return json.dumps(
        iam_documents.trust_policy(
            service_principal=service_principal,
            account_id=args.account_id,
            source_arn=f"arn:{partition}:ecs:{args.region}:{args.account_id}:*",
        )
    )


def _url_of(dns_entries: Sequence[Any]) -> str:
    """``https://`` + the first DNS name Lattice gives the service."""
    first = dns_entries[0]
    domain_name = first["domain_name"] if isinstance(first, Mapping) else first.domain_name
    return f"https://{domain_name}"


def _without_wildcard_suffix(log_group_arn: str) -> str:
    """Log group ARNs sometimes end in ``:*``; the documents add their own suffixes."""
    return log_group_arn.removesuffix(":*")


__all__ = ["PORT_NAME", "MeshService", "MeshServiceArgs", "MeshServicePeer", "container_definition"]
