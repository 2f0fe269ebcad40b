"""Network: private subnets across zones with NAT egress, or an existing VPC as given."""

from __future__ import annotations

import ipaddress

from latticework.plan import Plan
from tests.components._samples import inputs_of, named, resources_of

SUBNET = "aws:ec2/subnet:Subnet"


def _private_subnets(plan: Plan) -> list[dict[str, object]]:
    return [
        inputs_of(subnet)
        for subnet in resources_of(plan, SUBNET)
        if inputs_of(subnet)["tags"]["latticework:tier"] == "private"
    ]


def test_new_vpc_has_one_private_subnet_per_zone(dev_plan: Plan, prod_plan: Plan) -> None:
    """dev asks for two zones and prod for three; each zone gets one private subnet."""
    dev_zones = sorted(str(subnet["availabilityZone"]) for subnet in _private_subnets(dev_plan))
    prod_zones = sorted(str(subnet["availabilityZone"]) for subnet in _private_subnets(prod_plan))

    assert dev_zones == ["eu-west-1a", "eu-west-1b"]
    assert prod_zones == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]


def test_subnets_are_disjoint_parts_of_the_vpc(prod_plan: Plan) -> None:
    """Every subnet lies inside the VPC range and no two overlap."""
    vpc = ipaddress.ip_network(
        str(inputs_of(named(prod_plan, "aws:ec2/vpc:Vpc", "prod-network-vpc"))["cidrBlock"])
    )
    subnets = [
        ipaddress.ip_network(str(inputs_of(subnet)["cidrBlock"]))
        for subnet in resources_of(prod_plan, SUBNET)
    ]

    assert len(subnets) == 4
    assert all(subnet.subnet_of(vpc) for subnet in subnets)  # type: ignore[arg-type]
    assert all(
        not first.overlaps(second)
        for index, first in enumerate(subnets)
        for second in subnets[index + 1 :]
    )


def test_no_subnet_hands_out_public_ips(dev_plan: Plan) -> None:
    """Neither private nor the NAT's public subnet maps public IPs onto launched tasks."""
    subnets = resources_of(dev_plan, SUBNET)

    assert subnets
    assert all(inputs_of(subnet)["mapPublicIpOnLaunch"] is False for subnet in subnets)


def test_private_subnets_route_out_through_the_nat_gateway(dev_plan: Plan) -> None:
    """The private route table's default route goes to the NAT gateway, not the internet."""
    route = named(dev_plan, "aws:ec2/route:Route", "dev-network-private-default")
    nat = named(dev_plan, "aws:ec2/natGateway:NatGateway", "dev-network-nat")

    assert inputs_of(route)["destinationCidrBlock"] == "0.0.0.0/0"
    assert inputs_of(route)["natGatewayId"] == nat.id
    assert "gatewayId" not in inputs_of(route)
