"""Deterministic AWS-shaped identifiers derived from a resource's URN.

Every id, suffix and UUID the offline engine invents comes from a SHA-256 of the URN (plus a
salt per identifier kind), never from randomness or the clock, so planning the same program
twice gives byte-identical results.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_UPPER_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class AwsLocation:
    """Where synthesised ARNs point: partition, region and account."""

    partition: str
    region: str
    account_id: str

    @classmethod
    def for_region(cls, region: str, account_id: str) -> AwsLocation:
        """The location of `region`, with the partition AWS uses for it."""
        if region.startswith("cn-"):
            return cls("aws-cn", region, account_id)
        if region.startswith("us-gov-"):
            return cls("aws-us-gov", region, account_id)
        return cls("aws", region, account_id)

    @property
    def dns_suffix(self) -> str:
        """The partition's DNS suffix."""
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """An ARN in this partition and account; `regional=False` leaves the region empty."""
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"


class IdentifierSource:
    """Identifiers of every AWS shape, all derived from one seed (a URN)."""

    __slots__ = ("_seed",)

    def __init__(self, seed: str) -> None:
        self._seed = seed

    def _digest(self, salt: str) -> bytes:
        return hashlib.sha256(f"{salt}\x00{self._seed}".encode()).digest()

    def hex(self, length: int, salt: str = "") -> str:
        """`length` lowercase hex digits."""
        text = self._digest(salt).hex()
        while len(text) < length:
            text += self._digest(salt + text).hex()
        return text[:length]

    def resource_id(self, prefix: str, salt: str = "") -> str:
        """An EC2 / VPC Lattice style id: ``<prefix>-`` and 17 hex digits."""
        return f"{prefix}-{self.hex(17, salt or prefix)}"

    def alphanumeric(self, length: int, salt: str, *, upper_only: bool = False) -> str:
        """`length` characters of [0-9A-Za-z] (or [0-9A-Z])."""
        alphabet = _UPPER_ALPHANUMERIC if upper_only else _ALPHANUMERIC
        number = int.from_bytes(self._digest(salt) + self._digest(salt + "+"), "big")
        characters = []
        for _ in range(length):
            number, index = divmod(number, len(alphabet))
            characters.append(alphabet[index])
        return "".join(characters)

    def uuid(self, salt: str) -> str:
        """A version-4 shaped UUID."""
        return str(uuid.UUID(bytes=self._digest(salt)[:16], version=4))

    def digits(self, length: int, salt: str) -> str:
        """`length` decimal digits."""
        number = int.from_bytes(self._digest(salt), "big")
        return str(number)[-length:].rjust(length, "0")


__all__ = ["AwsLocation", "IdentifierSource"]
