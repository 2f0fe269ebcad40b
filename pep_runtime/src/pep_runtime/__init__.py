"""Policy enforcement point, secrets and signed service calls for latticework services."""

from pep_runtime.enforcement import (
    EnforcementMiddleware,
    Enforcer,
    WsgiEnforcementMiddleware,
    current_principal,
)
from pep_runtime.errors import PepRuntimeError

__all__: list[str] = [
    "EnforcementMiddleware",
    "Enforcer",
    "PepRuntimeError",
    "WsgiEnforcementMiddleware",
    "current_principal",
]
