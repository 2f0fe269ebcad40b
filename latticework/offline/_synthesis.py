"""Outputs the offline engine answers for each resource type, in real AWS formats.

A real deployment would learn ids, ARNs and DNS names from AWS; offline, each type has a
synthesiser that builds them in the shape AWS uses (``vpc-`` and 17 hex digits, ARNs with the
right service, partition, region, account and resource path, Lattice DNS names under
``vpc-lattice-svcs.<region>.on.aws``, Secrets Manager ARNs with their 6-character suffix).
Everything derives from the resource's URN, so the same program gives the same answers.

A type without a synthesiser gets an id and ARN in the generic ``<module>-<hex>`` form.
An existing resource the program reads keeps the id it was read by, and the outputs built
from an id use it; other outputs are synthesised as for a new resource.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.runtime.rpc import unwrap_rpc_secret

from latticework.offline._identifiers import AwsLocation, IdentifierSource

ResourceLookup = Callable[[str], Mapping[str, Any] | None]
"""Finds the outputs of an already planned resource by its id or ARN."""


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """A resource registration as the synthesisers see it."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    existing_id: str | None = None
    """The id of an existing resource the program reads (`Resource.get`), else None."""


class _Synthesis:
    """The helpers a synthesiser uses: ids from the URN, inputs, location and lookups."""

    __slots__ = ("ids", "location", "lookup", "request")

    def __init__(
        self, request: SynthesisRequest, location: AwsLocation, lookup: ResourceLookup
    ) -> None:
        self.request = request
        self.location = location
        self.lookup = lookup
        self.ids = IdentifierSource(request.urn)

    def own_id(self, prefix: str) -> str:
        """The resource's id: the one given for a read, else ``<prefix>-`` and 17 hex digits."""
        return self.request.existing_id or self.ids.resource_id(prefix)

    def name_id(self) -> str:
        """The name of a resource whose id is its name: the id given for a read, else the
        input name or Pulumi's auto-name."""
        if self.request.existing_id and self.input("name") is None:
            return self.request.existing_id
        return self.autoname()

    def input(self, key: str, default: Any = None) -> Any:
        """An input value with any secret wrapper removed (for deriving ids, never stored)."""
        value = self.request.inputs.get(key)
        return default if value is None else unwrap_rpc_secret(value)

    def text(self, key: str, default: str = "") -> str:
        """An input value as text."""
        value = self.input(key)
        return default if value is None else str(value)

    def autoname(self, key: str = "name", *, separator: str = "-") -> str:
        """The input name, or Pulumi's auto-name: logical name plus 7 hex digits."""
        explicit = self.input(key)
        if explicit is not None:
            return str(explicit)

        prefix = self.input(f"{key}Prefix")
        if prefix is not None:
            return f"{prefix}{self.ids.hex(26, 'name-prefix')}"

        return f"{self.request.name}{separator}{self.ids.hex(7, 'autoname')}"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """An ARN in the environment's partition and account."""
        return self.location.arn(service, resource, regional=regional)

    def referenced(self, key: str) -> Mapping[str, Any]:
        """The outputs of the planned resource an input refers to by id or ARN (or {})."""
        reference = self.text(key)
        found = self.lookup(reference) if reference else None
        return found or {}


Outputs = dict[str, Any]
_Synthesiser = Callable[[_Synthesis], tuple[str, Outputs]]
_SYNTHESISERS: dict[str, _Synthesiser] = {}


def _handles(*resource_types: str) -> Callable[[_Synthesiser], _Synthesiser]:
    def register(synthesiser: _Synthesiser) -> _Synthesiser:
        for resource_type in resource_types:
            _SYNTHESISERS[resource_type] = synthesiser
        return synthesiser

    return register


def synthesised_types() -> frozenset[str]:
    """The resource types that get type-specific outputs."""
    return frozenset(_SYNTHESISERS)


def synthesise(
    request: SynthesisRequest, location: AwsLocation, lookup: ResourceLookup
) -> tuple[str, dict[str, Any]]:
    """The id and the full output state (inputs plus synthesised values) of one resource."""
    synthesis = _Synthesis(request, location, lookup)
    synthesiser = _SYNTHESISERS.get(request.type, _generic)
    resource_id, synthesised = synthesiser(synthesis)

    outputs: dict[str, Any] = dict(request.inputs)
    outputs.update(synthesised)
    return resource_id, outputs


def _generic(synthesis: _Synthesis) -> tuple[str, Outputs]:
    # NOTE: a type nobody taught the engine still gets a plausible id and ARN, so programs
    # that read them keep working; its real id format may differ.
    module = synthesis.request.type.split(":")[1].split("/")[0]
    resource_id = synthesis.own_id(module)
    kind = synthesis.request.type.rsplit(":", 1)[-1].lower()
    return resource_id, {"arn": synthesis.arn(module, f"{kind}/{resource_id}")}


# --- EC2 ---------------------------------------------------------------------------------


def _ec2_resource(prefix: str, arn_kind: str) -> _Synthesiser:
    def synthesiser(synthesis: _Synthesis) -> tuple[str, Outputs]:
        resource_id = synthesis.own_id(prefix)
        outputs: Outputs = {
            "arn": synthesis.arn("ec2", f"{arn_kind}/{resource_id}"),
            "ownerId": synthesis.location.account_id,
        }
        return resource_id, outputs

    return synthesiser


_handles("aws:ec2/internetGateway:InternetGateway")(_ec2_resource("igw", "internet-gateway"))
_handles("aws:ec2/natGateway:NatGateway")(_ec2_resource("nat", "natgateway"))
_handles("aws:ec2/routeTable:RouteTable")(_ec2_resource("rtb", "route-table"))
_handles("aws:ec2/networkAcl:NetworkAcl")(_ec2_resource("acl", "network-acl"))
_handles("aws:ec2/vpcEndpoint:VpcEndpoint")(_ec2_resource("vpce", "vpc-endpoint"))
_handles("aws:ec2/flowLog:FlowLog")(_ec2_resource("fl", "vpc-flow-log"))
_handles("aws:ec2/managedPrefixList:ManagedPrefixList")(_ec2_resource("pl", "prefix-list"))


@_handles("aws:ec2/vpc:Vpc")
def _vpc(synthesis: _Synthesis) -> tuple[str, Outputs]:
    vpc_id = synthesis.own_id("vpc")
    return vpc_id, {
        "arn": synthesis.arn("ec2", f"vpc/{vpc_id}"),
        "ownerId": synthesis.location.account_id,
        "defaultSecurityGroupId": synthesis.ids.resource_id("sg", "default-sg"),
        "defaultRouteTableId": synthesis.ids.resource_id("rtb", "main-rtb"),
        "mainRouteTableId": synthesis.ids.resource_id("rtb", "main-rtb"),
        "defaultNetworkAclId": synthesis.ids.resource_id("acl", "default-acl"),
        "dhcpOptionsId": synthesis.ids.resource_id("dopt", "dhcp"),
        "instanceTenancy": synthesis.text("instanceTenancy", "default"),
        "enableDnsSupport": synthesis.input("enableDnsSupport", True),
    }


@_handles("aws:ec2/subnet:Subnet")
def _subnet(synthesis: _Synthesis) -> tuple[str, Outputs]:
    subnet_id = synthesis.own_id("subnet")
    zone = synthesis.text("availabilityZone", f"{synthesis.location.region}a")
    return subnet_id, {
        "arn": synthesis.arn("ec2", f"subnet/{subnet_id}"),
        "ownerId": synthesis.location.account_id,
        "availabilityZone": zone,
        "mapPublicIpOnLaunch": synthesis.input("mapPublicIpOnLaunch", False),
    }


@_handles("aws:ec2/eip:Eip")
def _elastic_ip(synthesis: _Synthesis) -> tuple[str, Outputs]:
    allocation_id = synthesis.own_id("eipalloc")
    # 203.0.113.0/24 is TEST-NET-3: a documentation range that never routes anywhere.
    address = f"203.0.113.{int(synthesis.ids.digits(3, 'eip')) % 254 + 1}"
    return allocation_id, {
        "arn": synthesis.arn("ec2", f"elastic-ip/{allocation_id}"),
        "allocationId": allocation_id,
        "publicIp": address,
        "domain": "vpc",
    }


@_handles("aws:ec2/routeTableAssociation:RouteTableAssociation")
def _route_table_association(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.own_id("rtbassoc"), {}


@_handles("aws:ec2/route:Route")
def _route(synthesis: _Synthesis) -> tuple[str, Outputs]:
    route_table = synthesis.text("routeTableId", "rtb")
    return f"r-{route_table}{synthesis.ids.digits(10, 'route')}", {"state": "active"}


@_handles("aws:ec2/securityGroup:SecurityGroup")
def _security_group(synthesis: _Synthesis) -> tuple[str, Outputs]:
    group_id = synthesis.own_id("sg")
    return group_id, {
        "arn": synthesis.arn("ec2", f"security-group/{group_id}"),
        "name": synthesis.autoname(),
        "ownerId": synthesis.location.account_id,
    }


@_handles(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
def _security_group_rule(synthesis: _Synthesis) -> tuple[str, Outputs]:
    rule_id = synthesis.own_id("sgr")
    return rule_id, {
        "arn": synthesis.arn("ec2", f"security-group-rule/{rule_id}"),
        "securityGroupRuleId": rule_id,
    }


@_handles("aws:ec2/securityGroupRule:SecurityGroupRule")
def _legacy_security_group_rule(synthesis: _Synthesis) -> tuple[str, Outputs]:
    rule_id = synthesis.ids.resource_id("sgr")
    return f"sgrule-{synthesis.ids.digits(10, 'sgrule')}", {"securityGroupRuleId": rule_id}


# --- ECS ---------------------------------------------------------------------------------


@_handles("aws:ecs/cluster:Cluster")
def _ecs_cluster(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    arn = synthesis.arn("ecs", f"cluster/{name}")
    return arn, {"arn": arn, "name": name}


@_handles("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders")
def _ecs_capacity_providers(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.text("clusterName").rsplit("/", 1)[-1], {}


@_handles("aws:ecs/taskDefinition:TaskDefinition")
def _ecs_task_definition(synthesis: _Synthesis) -> tuple[str, Outputs]:
    family = synthesis.text("family", synthesis.request.name)
    without_revision = synthesis.arn("ecs", f"task-definition/{family}")
    return family, {
        "arn": f"{without_revision}:1",
        "arnWithoutRevision": without_revision,
        "revision": 1,
    }


@_handles("aws:ecs/service:Service")
def _ecs_service(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    cluster_name = synthesis.text("cluster", "default").rsplit("/", 1)[-1]
    arn = synthesis.arn("ecs", f"service/{cluster_name}/{name}")
    return arn, {"arn": arn, "name": name}


# --- IAM ---------------------------------------------------------------------------------


@_handles("aws:iam/role:Role")
def _iam_role(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.name_id()
    path = synthesis.text("path", "/")
    return name, {
        "name": name,
        "path": path,
        "arn": synthesis.arn("iam", f"role{path}{name}", regional=False),
        "uniqueId": "AROA" + synthesis.ids.alphanumeric(17, "unique-id", upper_only=True),
        "maxSessionDuration": synthesis.input("maxSessionDuration", 3600),
    }


@_handles("aws:iam/policy:Policy")
def _iam_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    path = synthesis.text("path", "/")
    arn = synthesis.arn("iam", f"policy{path}{name}", regional=False)
    return arn, {
        "name": name,
        "path": path,
        "arn": arn,
        "policyId": "ANPA" + synthesis.ids.alphanumeric(17, "policy-id", upper_only=True),
    }


@_handles("aws:iam/rolePolicy:RolePolicy")
def _iam_role_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    return f"{synthesis.text('role')}:{name}", {"name": name}


@_handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _iam_role_policy_attachment(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return f"{synthesis.text('role')}-{synthesis.ids.digits(26, 'attachment')}", {}


# --- KMS ---------------------------------------------------------------------------------


@_handles("aws:kms/key:Key")
def _kms_key(synthesis: _Synthesis) -> tuple[str, Outputs]:
    key_id = synthesis.ids.uuid("kms-key")
    return key_id, {"keyId": key_id, "arn": synthesis.arn("kms", f"key/{key_id}")}


@_handles("aws:kms/alias:Alias")
def _kms_alias(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    target = synthesis.text("targetKeyId")
    target_arn = target if target.startswith("arn:") else synthesis.arn("kms", f"key/{target}")
    return name, {
        "name": name,
        "arn": synthesis.arn("kms", name),
        "targetKeyArn": target_arn,
    }


@_handles("aws:kms/keyPolicy:KeyPolicy")
def _kms_key_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.text("keyId"), {}


# --- Secrets Manager ---------------------------------------------------------------------


@_handles("aws:secretsmanager/secret:Secret")
def _secret(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    suffix = synthesis.ids.alphanumeric(6, "secret-suffix")
    arn = synthesis.arn("secretsmanager", f"secret:{name}-{suffix}")
    return arn, {"arn": arn, "name": name}


@_handles("aws:secretsmanager/secretVersion:SecretVersion")
def _secret_version(synthesis: _Synthesis) -> tuple[str, Outputs]:
    secret_arn = synthesis.text("secretId")
    version_id = synthesis.ids.uuid("secret-version")
    return f"{secret_arn}|{version_id}", {
        "arn": secret_arn,
        "versionId": version_id,
        "versionStages": synthesis.input("versionStages", ["AWSCURRENT"]),
    }


@_handles("aws:secretsmanager/secretPolicy:SecretPolicy")
def _secret_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.text("secretArn"), {}


@_handles("aws:secretsmanager/secretRotation:SecretRotation")
def _secret_rotation(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.text("secretId"), {"rotationEnabled": True}


# --- CloudWatch Logs, Lambda, S3 ---------------------------------------------------------


@_handles("aws:cloudwatch/logGroup:LogGroup")
def _log_group(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.name_id()
    return name, {"name": name, "arn": synthesis.arn("logs", f"log-group:{name}")}


@_handles("aws:lambda/function:Function")
def _lambda_function(synthesis: _Synthesis) -> tuple[str, Outputs]:
    name = synthesis.autoname()
    arn = synthesis.arn("lambda", f"function:{name}")
    invoke_path = f"2015-03-31/functions/{arn}/invocations"
    return name, {
        "name": name,
        "arn": arn,
        "qualifiedArn": f"{arn}:1",
        "version": "1",
        "invokeArn": (
            f"arn:{synthesis.location.partition}:apigateway:{synthesis.location.region}"
            f":lambda:path/{invoke_path}"
        ),
    }


@_handles("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def _s3_bucket(synthesis: _Synthesis) -> tuple[str, Outputs]:
    bucket = synthesis.autoname("bucket")
    return bucket, {
        "bucket": bucket,
        "arn": f"arn:{synthesis.location.partition}:s3:::{bucket}",
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": (
            f"{bucket}.s3.{synthesis.location.region}.{synthesis.location.dns_suffix}"
        ),
        "region": synthesis.location.region,
    }


# --- VPC Lattice -------------------------------------------------------------------------


def _lattice_resource(prefix: str, arn_kind: str) -> _Synthesiser:
    def synthesiser(synthesis: _Synthesis) -> tuple[str, Outputs]:
        resource_id = synthesis.own_id(prefix)
        return resource_id, {
            "arn": synthesis.arn("vpc-lattice", f"{arn_kind}/{resource_id}"),
            "status": "ACTIVE",
        }

    return synthesiser


_handles("aws:vpclattice/serviceNetwork:ServiceNetwork")(_lattice_resource("sn", "servicenetwork"))
_handles("aws:vpclattice/serviceNetworkVpcAssociation:ServiceNetworkVpcAssociation")(
    _lattice_resource("snva", "servicenetworkvpcassociation")
)
_handles("aws:vpclattice/targetGroup:TargetGroup")(_lattice_resource("tg", "targetgroup"))


def _lattice_dns_entry(synthesis: _Synthesis, service_name: str, service_id: str) -> Outputs:
    # AWS names a service `<name>-<id digits>.<7 hex>.vpc-lattice-svcs.<region>.on.aws`; the
    # 7-hex label is per account and region, so every service of an environment shares it.
    account_label = IdentifierSource(
        f"{synthesis.location.account_id}/{synthesis.location.region}"
    ).hex(7, "lattice-dns")
    domain = (
        f"{service_name}-{service_id.removeprefix('svc-')}.{account_label}"
        f".vpc-lattice-svcs.{synthesis.location.region}.on.aws"
    )
    hosted_zone = "Z" + synthesis.ids.alphanumeric(13, "hosted-zone", upper_only=True)
    return {"domainName": domain, "hostedZoneId": hosted_zone}


@_handles("aws:vpclattice/service:Service")
def _lattice_service(synthesis: _Synthesis) -> tuple[str, Outputs]:
    service_id = synthesis.own_id("svc")
    name = synthesis.autoname()
    return service_id, {
        "name": name,
        "arn": synthesis.arn("vpc-lattice", f"service/{service_id}"),
        "status": "ACTIVE",
        "dnsEntries": [_lattice_dns_entry(synthesis, name, service_id)],
    }


@_handles("aws:vpclattice/serviceNetworkServiceAssociation:ServiceNetworkServiceAssociation")
def _lattice_service_association(synthesis: _Synthesis) -> tuple[str, Outputs]:
    association_id = synthesis.own_id("snsa")
    service = synthesis.referenced("serviceIdentifier")
    return association_id, {
        "arn": synthesis.arn("vpc-lattice", f"servicenetworkserviceassociation/{association_id}"),
        "status": "ACTIVE",
        "createdBy": synthesis.location.account_id,
        "dnsEntries": list(service.get("dnsEntries", [])),
    }


@_handles("aws:vpclattice/listener:Listener")
def _lattice_listener(synthesis: _Synthesis) -> tuple[str, Outputs]:
    listener_id = synthesis.ids.resource_id("listener")
    service = synthesis.referenced("serviceIdentifier")
    service_id = str(service.get("id", synthesis.text("serviceIdentifier")))
    service_arn = str(service.get("arn", synthesis.arn("vpc-lattice", f"service/{service_id}")))
    return f"{service_id}/{listener_id}", {
        "listenerId": listener_id,
        "arn": f"{service_arn}/listener/{listener_id}",
        "serviceArn": service_arn,
        "serviceId": service_id,
    }


@_handles("aws:vpclattice/authPolicy:AuthPolicy")
def _lattice_auth_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.text("resourceIdentifier"), {"state": "Active"}


@_handles("aws:vpclattice/resourcePolicy:ResourcePolicy")
def _lattice_resource_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.text("resourceArn"), {}


@_handles("aws:vpclattice/accessLogSubscription:AccessLogSubscription")
def _lattice_access_logs(synthesis: _Synthesis) -> tuple[str, Outputs]:
    subscription_id = synthesis.own_id("als")
    target = synthesis.referenced("resourceIdentifier")
    return subscription_id, {
        "arn": synthesis.arn("vpc-lattice", f"accesslogsubscription/{subscription_id}"),
        "resourceArn": str(target.get("arn", synthesis.text("resourceIdentifier"))),
        "resourceId": str(target.get("id", synthesis.text("resourceIdentifier"))),
    }


@_handles("aws:vpclattice/targetGroupAttachment:TargetGroupAttachment")
def _lattice_target_attachment(synthesis: _Synthesis) -> tuple[str, Outputs]:
    return synthesis.own_id("tga"), {}


# --- Verified Permissions ----------------------------------------------------------------


def _verified_permissions_id(synthesis: _Synthesis, salt: str) -> str:
    return synthesis.ids.alphanumeric(22, salt)


@_handles("aws:verifiedpermissions/policyStore:PolicyStore")
def _policy_store(synthesis: _Synthesis) -> tuple[str, Outputs]:
    store_id = _verified_permissions_id(synthesis, "policy-store")
    return store_id, {
        "policyStoreId": store_id,
        "arn": synthesis.arn("verifiedpermissions", f"policy-store/{store_id}", regional=False),
    }


@_handles("aws:verifiedpermissions/schema:Schema")
def _policy_store_schema(synthesis: _Synthesis) -> tuple[str, Outputs]:
    definition = synthesis.input("definition") or {}
    namespaces: list[str] = []
    if isinstance(definition, Mapping):
        try:
            document = json.loads(str(unwrap_rpc_secret(definition.get("value", "{}"))))
        except json.JSONDecodeError:
            document = {}
        if isinstance(document, dict):
            namespaces = sorted(document)
    return synthesis.text("policyStoreId"), {"namespaces": namespaces}


@_handles("aws:verifiedpermissions/policy:Policy")
def _policy_store_policy(synthesis: _Synthesis) -> tuple[str, Outputs]:
    policy_id = _verified_permissions_id(synthesis, "policy")
    return f"{policy_id}:{synthesis.text('policyStoreId')}", {"policyId": policy_id}


@_handles("aws:verifiedpermissions/policyTemplate:PolicyTemplate")
def _policy_store_template(synthesis: _Synthesis) -> tuple[str, Outputs]:
    template_id = _verified_permissions_id(synthesis, "policy-template")
    return f"{synthesis.text('policyStoreId')}:{template_id}", {"policyTemplateId": template_id}


@_handles("aws:verifiedpermissions/identitySource:IdentitySource")
def _policy_store_identity_source(synthesis: _Synthesis) -> tuple[str, Outputs]:
    source_id = _verified_permissions_id(synthesis, "identity-source")
    return f"{synthesis.text('policyStoreId')}:{source_id}", {"identitySourceId": source_id}


__all__ = ["ResourceLookup", "SynthesisRequest", "synthesise", "synthesised_types"]
