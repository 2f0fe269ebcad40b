"""Reading resource properties the way a real preview hands them to a policy.

In a preview, pulumi-policy wraps properties in a proxy that raises `UnknownValueError` when
a value is not known yet (an id or ARN computed by the cloud). The offline evaluation wraps
them the same way. Policies that can still decide something without the value read it
through `read`, which returns `UNKNOWN` instead of raising; a policy that cannot decide
raises `checked_at_update`, which both paths report as an advisory "checked at update".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NoReturn, TypeGuard

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

MASKED_VALUE: Final = "[secret]"
"""How the offline plan masks a secret value (`latticework.plan.SECRET_MASK`)."""


class _Unknown:
    """A property whose value is not known during a preview."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


def read(props: Mapping[str, Any], *path: str | int) -> Any:
    """The value at `path`, `None` when absent, or `UNKNOWN` when not known yet."""
    current: Any = props
    try:
        for step in path:
            if isinstance(step, int):
                if not is_sequence(current) or step >= len(current):
                    return None
            elif not isinstance(current, Mapping) or step not in current:
                return None
            current = current[step]
    except UnknownValueError:
        return UNKNOWN
    return current


def is_sequence(value: Any) -> TypeGuard[Sequence[Any]]:
    """A list-like value (a list or the preview's list proxy), not a string."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def as_list(value: Any) -> list[Any]:
    """A list of items read through the proxy; `UNKNOWN` items stay `UNKNOWN`."""
    if not is_sequence(value):
        return []

    items: list[Any] = []
    for index in range(len(value)):
        try:
            items.append(value[index])
        except UnknownValueError:
            items.append(UNKNOWN)
    return items


def checked_at_update(
    resource: str, field: str, why: str = "is not known during preview"
) -> NoReturn:
    """Stop the policy for this resource: the value it needs is only known at update."""
    error = UnknownValueError(UNKNOWN_STRING_VALUE, [field])
    error.message = f"{resource}: {field} {why}; it is checked at update"
    raise error


__all__ = ["MASKED_VALUE", "UNKNOWN", "as_list", "checked_at_update", "is_sequence", "read"]
