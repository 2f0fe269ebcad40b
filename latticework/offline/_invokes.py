"""The data-source calls (invokes) the offline engine answers, and the error for the rest.

The list is fixed by docs/contracts.md. Any other invoke raises `UnansweredInvokeError`
naming its token: an empty answer would let the program build a plan that means nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from latticework.errors import ProgramError
from latticework.offline._identifiers import AwsLocation, IdentifierSource

_CALLER_IDENTITY = "aws:index/getCallerIdentity:getCallerIdentity"
_REGION = "aws:index/getRegion:getRegion"
_PARTITION = "aws:index/getPartition:getPartition"
_AVAILABILITY_ZONES = "aws:index/getAvailabilityZones:getAvailabilityZones"
_MANAGED_PREFIX_LIST = "aws:ec2/getManagedPrefixList:getManagedPrefixList"

# The CIDRs AWS publishes in the VPC Lattice managed prefix lists.
_LATTICE_PREFIX_ENTRIES = {
    "IPv4": [{"cidr": "169.254.171.0/24", "description": ""}],
    "IPv6": [{"cidr": "fd00:ec2:80::/64", "description": ""}],
}
_ZONE_LETTERS = "abcdef"
_DIRECTION_CODES = {
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "central": "c",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
}


class UnansweredInvokeError(ProgramError):
    """The program called a data source the offline engine does not answer."""

    def __init__(self, token: str) -> None:
        self.token = token
        answered = ", ".join(sorted(_INVOKES))
        message = (
            f"the offline engine cannot answer the invoke {token}: it answers only {answered}. "
            "Pass the value through the stack settings instead of looking it up."
        )
        super().__init__(message)


class UnknownPrefixListError(ProgramError):
    """The program asked for a managed prefix list the offline engine does not know."""

    def __init__(self, request: str) -> None:
        self.request = request
        message = (
            f"the offline engine cannot answer getManagedPrefixList for {request}: it knows "
            "only the AWS-managed lists named com.amazonaws.<region>.<service>. "
            "Look the list up by that name."
        )
        super().__init__(message)


def answer_invoke(token: str, args: Mapping[str, Any], location: AwsLocation) -> dict[str, Any]:
    """The result of one invoke; `UnansweredInvokeError` for any token not in the contract."""
    handler = _INVOKES.get(token)
    if handler is None:
        raise UnansweredInvokeError(token)

    return handler(args, location)


def answered_tokens() -> frozenset[str]:
    """The invoke tokens the offline engine answers."""
    return frozenset(_INVOKES)


def _caller_identity(_args: Mapping[str, Any], location: AwsLocation) -> dict[str, Any]:
    seed = IdentifierSource(location.account_id)
    return {
        "id": location.account_id,
        "accountId": location.account_id,
        "arn": location.arn("sts", "assumed-role/latticework-offline/plan", regional=False),
        "userId": "AROA" + seed.alphanumeric(17, "caller", upper_only=True) + ":plan",
    }


def _region(_args: Mapping[str, Any], location: AwsLocation) -> dict[str, Any]:
    return {
        "id": location.region,
        "name": location.region,
        "region": location.region,
        "endpoint": f"ec2.{location.region}.{location.dns_suffix}",
        "description": location.region,
    }


def _partition(_args: Mapping[str, Any], location: AwsLocation) -> dict[str, Any]:
    reverse = "cn.com.amazonaws" if location.partition == "aws-cn" else "com.amazonaws"
    return {
        "id": location.partition,
        "partition": location.partition,
        "dnsSuffix": location.dns_suffix,
        "reverseDnsPrefix": reverse,
    }


def _zone_id_prefix(region: str) -> str:
    # eu-west-1 -> euw1, ap-southeast-2 -> apse2, as in AWS zone ids (euw1-az1).
    parts = region.split("-")
    directions = "".join(_DIRECTION_CODES.get(part, part[:1]) for part in parts[1:-1])
    return f"{parts[0]}{directions}{parts[-1]}"


def _availability_zones(_args: Mapping[str, Any], location: AwsLocation) -> dict[str, Any]:
    letters = _ZONE_LETTERS[:3]
    prefix = _zone_id_prefix(location.region)
    return {
        "id": location.region,
        "names": [f"{location.region}{letter}" for letter in letters],
        "zoneIds": [f"{prefix}-az{index}" for index in range(1, len(letters) + 1)],
        "groupNames": [location.region] * len(letters),
        "state": "available",
    }


def _requested_prefix_list(args: Mapping[str, Any]) -> str:
    name = args.get("name")
    if name:
        return str(name)

    for prefix_filter in args.get("filters") or []:
        if prefix_filter.get("name") == "prefix-list-name" and prefix_filter.get("values"):
            return str(prefix_filter["values"][0])

    return str(args.get("id") or "(no name, filter or id)")


def _managed_prefix_list(args: Mapping[str, Any], location: AwsLocation) -> dict[str, Any]:
    name = _requested_prefix_list(args)
    aws_prefix = f"com.amazonaws.{location.region}."
    if not name.startswith(aws_prefix):
        raise UnknownPrefixListError(name)

    family = "IPv6" if ".ipv6." in name else "IPv4"
    entries = _LATTICE_PREFIX_ENTRIES[family] if name.endswith("vpc-lattice") else []
    list_id = IdentifierSource(name).resource_id("pl")
    return {
        "id": list_id,
        "arn": f"arn:{location.partition}:ec2:{location.region}:aws:prefix-list/{list_id}",
        "name": name,
        "addressFamily": family,
        "maxEntries": max(len(entries), 1),
        "ownerId": "AWS",
        "entries": entries,
        "version": 1,
        "tags": {},
    }


_INVOKES: dict[str, Callable[[Mapping[str, Any], AwsLocation], dict[str, Any]]] = {
    _CALLER_IDENTITY: _caller_identity,
    _REGION: _region,
    _PARTITION: _partition,
    _AVAILABILITY_ZONES: _availability_zones,
    _MANAGED_PREFIX_LIST: _managed_prefix_list,
}

__all__ = [
    "UnansweredInvokeError",
    "UnknownPrefixListError",
    "answer_invoke",
    "answered_tokens",
]
