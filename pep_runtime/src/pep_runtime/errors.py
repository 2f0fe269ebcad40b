"""The base error of `pep_runtime`; each feature defines its own errors beneath it.

Hierarchy::

    PepRuntimeError
    +-- pep_runtime.enforcement.exceptions.*   configuration, request and decision errors
    +-- pep_runtime.secrets.exceptions.*       secret lookup errors
    +-- pep_runtime.services.exceptions.*      service-to-service call errors
"""

from __future__ import annotations


class PepRuntimeError(Exception):
    """Base of every error `pep_runtime` raises on purpose."""


__all__ = ["PepRuntimeError"]
