"""The environment's network: a new VPC with private subnets across zones, or an existing one.

A new VPC gets one private subnet per availability zone for the tasks, and a single public
subnet with an internet gateway and a NAT gateway so tasks can pull images and reach AWS
APIs without public IPs. An existing VPC is used as given: nothing is created in it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.errors import SpecError
from components.spec import NetworkSettings

# Each zone's private subnet is this many bits smaller than the VPC (a /16 VPC -> /20s).
_SUBNET_NEW_BITS = 4


@dataclass(frozen=True, slots=True)
class NetworkArgs:
    """What the network is built from: the stack's `network` settings."""

    settings: NetworkSettings
    protect: bool = False
    """Protect the VPC from `pulumi destroy` (production)."""
    stack_file: str = "stack settings"
    """Where the settings came from, for error messages."""


class Network(pulumi.ComponentResource):
    """A VPC and the private subnets the environment's tasks run in."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("latticework:components:Network", name, None, opts)

        settings = args.settings
        if settings.vpc_cidr is None:
            pulumi.log.info(f"using existing VPC {settings.vpc_id}", resource=self)
            self.vpc_id = pulumi.Output.from_input(str(settings.vpc_id))
            self.private_subnet_ids = pulumi.Output.from_input(
                list(settings.private_subnet_ids or ())
            )
        else:
            self.vpc_id, self.private_subnet_ids = self._new_vpc(
                name, settings.vpc_cidr, settings.zone_count, args
            )

        self.register_outputs(
            {"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids}
        )

    def _new_vpc(
        self, name: str, cidr: str, zone_count: int, args: NetworkArgs
    ) -> tuple[pulumi.Output[str], pulumi.Output[list[str]]]:
        stack_file = args.stack_file
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": name},
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        )
        subnet_cidrs = _subnet_cidrs(cidr, zone_count + 1)

        private_route_table = aws.ec2.RouteTable(
            f"{name}-private", vpc_id=vpc.id, tags={"Name": f"{name}-private"}, opts=child
        )
        private_subnets: list[aws.ec2.Subnet] = []
        for index in range(zone_count):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{index + 1}",
                vpc_id=vpc.id,
                cidr_block=subnet_cidrs[index],
                availability_zone=zones.names.apply(
                    functools.partial(
                        _zone_at, index=index, zone_count=zone_count, stack_file=stack_file
                    )
                ),
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{index + 1}", "latticework:tier": "private"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index + 1}",
                subnet_id=subnet.id,
                route_table_id=private_route_table.id,
                opts=child,
            )
            private_subnets.append(subnet)

        self._egress(name, vpc, subnet_cidrs[zone_count], zones.names[0], private_route_table)
        return vpc.id, pulumi.Output.all(*(subnet.id for subnet in private_subnets))

    def _egress(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        public_cidr: str,
        zone: pulumi.Output[str],
        private_route_table: aws.ec2.RouteTable,
    ) -> None:
        """One public subnet with a NAT gateway: outbound-only internet for the tasks."""
        child = pulumi.ResourceOptions(parent=self)
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": name}, opts=child
        )
        public_subnet = aws.ec2.Subnet(
            f"{name}-public",
            vpc_id=vpc.id,
            cidr_block=public_cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-public", "latticework:tier": "public"},
            opts=child,
        )
        public_route_table = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public",
            subnet_id=public_subnet.id,
            route_table_id=public_route_table.id,
            opts=child,
        )
        nat_address = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags={"Name": name}, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            subnet_id=public_subnet.id,
            allocation_id=nat_address.id,
            tags={"Name": name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        aws.ec2.Route(
            f"{name}-private-default",
            route_table_id=private_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=child,
        )


def _zone_at(names: Sequence[str], *, index: int, zone_count: int, stack_file: str) -> str:
    """The `index`-th available zone; a region with too few zones is a settings error."""
    if index >= len(names):
        raise SpecError(
            stack_file,
            "config.latticework:settings.network.availabilityZones",
            f"at most {len(names)}, the available zones of the region",
            f"{zone_count} zones",
            f"Set availabilityZones to {len(names)} or fewer.",
        )
    return names[index]


def _subnet_cidrs(vpc_cidr: str, count: int) -> Sequence[str]:
    """The first `count` equal subnets of the VPC range, in order."""
    network = ipaddress.ip_network(vpc_cidr, strict=False)
    subnets = network.subnets(prefixlen_diff=_SUBNET_NEW_BITS)
    return [str(next(subnets)) for _ in range(count)]


__all__ = ["Network", "NetworkArgs"]
