"""Per-type output synthesis and the invokes the offline engine answers, called directly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from latticework.offline import AwsLocation, UnansweredInvokeError, UnknownPrefixListError
from latticework.offline._invokes import answer_invoke, answered_tokens
from latticework.offline._synthesis import SynthesisRequest, synthesise

_LOCATION = AwsLocation.for_region("eu-west-1", "111122223333")
_CONTRACT_INVOKES = {
    "aws:index/getCallerIdentity:getCallerIdentity",
    "aws:index/getRegion:getRegion",
    "aws:index/getPartition:getPartition",
    "aws:index/getAvailabilityZones:getAvailabilityZones",
    "aws:ec2/getManagedPrefixList:getManagedPrefixList",
}


def _no_lookup(_reference: str) -> Mapping[str, Any] | None:
    return None


def _synthesise(
    resource_type: str,
    name: str,
    inputs: dict[str, Any] | None = None,
    *,
    location: AwsLocation = _LOCATION,
    lookup: Any = _no_lookup,
) -> tuple[str, dict[str, Any]]:
    urn = f"urn:pulumi:dev::latticework::{resource_type}::{name}"
    request = SynthesisRequest(type=resource_type, name=name, urn=urn, inputs=inputs or {})
    return synthesise(request, location, lookup)


def test_the_answered_invokes_are_exactly_the_contract_list() -> None:
    """docs/contracts.md fixes the invokes; the engine answers those and no others."""
    assert answered_tokens() == _CONTRACT_INVOKES


def test_any_other_invoke_raises_naming_its_token() -> None:
    """An invoke outside the list is an error naming the token, never an empty result."""
    with pytest.raises(UnansweredInvokeError, match="aws:rds/getInstance:getInstance"):
        answer_invoke("aws:rds/getInstance:getInstance", {}, _LOCATION)


@pytest.mark.parametrize(
    ("region", "zone_id"),
    [("eu-west-1", "euw1-az1"), ("ap-southeast-2", "apse2-az1"), ("us-east-1", "use1-az1")],
)
def test_availability_zones_use_aws_names_and_zone_ids(region: str, zone_id: str) -> None:
    """Zones are the region plus a letter; zone ids use AWS's short region code."""
    answer = answer_invoke(
        "aws:index/getAvailabilityZones:getAvailabilityZones",
        {},
        AwsLocation.for_region(region, "111122223333"),
    )

    assert answer["names"][:2] == [f"{region}a", f"{region}b"]
    assert answer["zoneIds"][0] == zone_id


def test_the_lattice_prefix_list_carries_the_published_cidr() -> None:
    """The VPC Lattice managed prefix list, asked for by filter, holds 169.254.171.0/24."""
    answer = answer_invoke(
        "aws:ec2/getManagedPrefixList:getManagedPrefixList",
        {
            "filters": [
                {"name": "prefix-list-name", "values": ["com.amazonaws.eu-west-1.vpc-lattice"]}
            ]
        },
        _LOCATION,
    )

    assert re.fullmatch(r"pl-[0-9a-f]{17}", answer["id"])
    assert answer["entries"] == [{"cidr": "169.254.171.0/24", "description": ""}]
    assert answer["ownerId"] == "AWS"


def test_a_prefix_list_that_is_not_aws_managed_is_an_error() -> None:
    """A customer prefix list cannot be answered offline; the error names the request."""
    with pytest.raises(UnknownPrefixListError, match="my-office-ranges"):
        answer_invoke(
            "aws:ec2/getManagedPrefixList:getManagedPrefixList",
            {"name": "my-office-ranges"},
            _LOCATION,
        )


def test_caller_identity_and_partition_follow_the_location() -> None:
    """A China region answers the aws-cn partition and the stack's account."""
    china = AwsLocation.for_region("cn-north-1", "111122223333")

    identity = answer_invoke("aws:index/getCallerIdentity:getCallerIdentity", {}, china)
    partition = answer_invoke("aws:index/getPartition:getPartition", {}, china)

    assert identity["accountId"] == "111122223333"
    assert identity["arn"].startswith("arn:aws-cn:sts::111122223333:")
    assert partition["dnsSuffix"] == "amazonaws.com.cn"


def test_synthesis_is_deterministic_per_urn() -> None:
    """The same registration gets the same id; another name gets another id."""
    first, _ = _synthesise("aws:ec2/vpc:Vpc", "dev-vpc", {"cidrBlock": "10.0.0.0/16"})
    again, _ = _synthesise("aws:ec2/vpc:Vpc", "dev-vpc", {"cidrBlock": "10.0.0.0/16"})
    other, _ = _synthesise("aws:ec2/vpc:Vpc", "prod-vpc", {"cidrBlock": "10.0.0.0/16"})

    assert first == again
    assert first != other


def test_outputs_keep_the_inputs_and_add_computed_values() -> None:
    """A subnet's outputs hold its inputs plus an id-based ARN and the owner account."""
    subnet_id, outputs = _synthesise(
        "aws:ec2/subnet:Subnet", "private-0", {"cidrBlock": "10.0.0.0/20", "vpcId": "vpc-1"}
    )

    assert re.fullmatch(r"subnet-[0-9a-f]{17}", subnet_id)
    assert outputs["cidrBlock"] == "10.0.0.0/20"
    assert outputs["arn"] == f"arn:aws:ec2:eu-west-1:111122223333:subnet/{subnet_id}"
    assert outputs["ownerId"] == "111122223333"


def test_an_unnamed_resource_gets_pulumi_style_auto_name() -> None:
    """Without a name input, the name is the logical name plus 7 hex digits."""
    role_name, outputs = _synthesise("aws:iam/role:Role", "orders-task-role")

    assert re.fullmatch(r"orders-task-role-[0-9a-f]{7}", role_name)
    assert outputs["arn"] == f"arn:aws:iam::111122223333:role/{role_name}"
    assert re.fullmatch(r"AROA[0-9A-Z]{17}", outputs["uniqueId"])


def test_secret_arns_end_with_the_six_character_suffix() -> None:
    """A Secrets Manager ARN is the name, a dash and 6 random-looking characters."""
    arn, outputs = _synthesise(
        "aws:secretsmanager/secret:Secret", "payments-database", {"name": "latticework/dev/p/db"}
    )

    assert re.fullmatch(
        r"arn:aws:secretsmanager:eu-west-1:111122223333:secret:latticework/dev/p/db-[A-Za-z0-9]{6}",
        arn,
    )
    assert outputs["arn"] == arn


def test_a_listener_takes_its_service_arn_from_the_referenced_service() -> None:
    """A listener registered with a service id reports that service's ARN in its own."""
    service_id, service = _synthesise("aws:vpclattice/service:Service", "orders", {"name": "o"})
    by_reference = {service_id: {**service, "id": service_id}}

    listener_id, listener = _synthesise(
        "aws:vpclattice/listener:Listener",
        "orders-listener",
        {"serviceIdentifier": service_id},
        lookup=by_reference.get,
    )

    assert listener_id == f"{service_id}/{listener['listenerId']}"
    assert listener["arn"] == f"{service['arn']}/listener/{listener['listenerId']}"


def test_an_unknown_type_gets_a_generic_id_and_arn() -> None:
    """A type without a synthesiser still gets a module-prefixed id and an ARN."""
    resource_id, outputs = _synthesise("aws:sqs/queue:Queue", "jobs")

    assert re.fullmatch(r"sqs-[0-9a-f]{17}", resource_id)
    assert outputs["arn"] == f"arn:aws:sqs:eu-west-1:111122223333:queue/{resource_id}"
