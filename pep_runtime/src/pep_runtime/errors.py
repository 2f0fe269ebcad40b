"""The base error of `pep_runtime`; each feature defines its own errors beneath it.

Hierarchy::

    PepRuntimeError
    +-- pep_runtime.enforcement.exceptions.*   configuration, request and decision errors
    +-- pep_runtime.secrets.exceptions.*       secret lookup errors
    +-- pep_runtime.services.exceptions.*      service-to-service call errors
"""

from __future__ import annotations

from typing import Any


class PepRuntimeError(Exception):
    """Base of every error `pep_runtime` raises on purpose.

    Subclasses take their context as keyword-only arguments, which `Exception`'s default
    pickling cannot pass back; `__reduce__` restores message and attributes directly, so an
    error can cross a process pool's boundary.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(vars(self))))


def _restore(
    error_type: type[PepRuntimeError], args: tuple[Any, ...], attributes: dict[str, Any]
) -> PepRuntimeError:
    """Rebuild a pickled error without calling its constructor."""
    error = error_type.__new__(error_type)
    error.args = args
    vars(error).update(attributes)
    return error


__all__ = ["PepRuntimeError"]
