"""The policy enforcement point: every request is authorised before the app runs.

Typical use (Starlette)::

    from pep_runtime.enforcement import Enforcer, EnforcementMiddleware

    enforcer = Enforcer.from_environment()   # LATTICEWORK_PEP_CONFIG (pep.yaml) + LATTICEWORK_*
    app = EnforcementMiddleware(app, enforcer=enforcer)

Flask: `app.wsgi_app = WsgiEnforcementMiddleware(app.wsgi_app, enforcer=enforcer)`.
Handlers call `current_principal()`; lists are filtered with `Enforcer.filter_authorized`.
"""

from pep_runtime.enforcement.asgi import PRINCIPAL_STATE_KEY, EnforcementMiddleware
from pep_runtime.enforcement.audit import AUDIT_LOGGER_NAME, AuditLog, AuditRecord
from pep_runtime.enforcement.cache import DecisionCache
from pep_runtime.enforcement.config import (
    MODE_LOCAL,
    MODE_VERIFIED_PERMISSIONS,
    PEP_CONFIG_ENV,
    EnforcementConfig,
    config_path_from_environment,
    load_config,
)
from pep_runtime.enforcement.decision_point import DecisionPoint
from pep_runtime.enforcement.denial import Denial, default_denial
from pep_runtime.enforcement.enforcer import Enforcer, HttpRequest, Outcome, current_principal
from pep_runtime.enforcement.exceptions import (
    AuthenticationError,
    DecisionUnavailableError,
    EnforcementConfigError,
    EnforcementError,
    MalformedRequestError,
    RequestRejectedError,
)
from pep_runtime.enforcement.local_cedar import LocalCedarDecisionPoint
from pep_runtime.enforcement.model import (
    AuthorizationRequest,
    AuthorizationResult,
    Decision,
    EntityUid,
    LatticeCaller,
    Principal,
)
from pep_runtime.enforcement.verified_permissions import VerifiedPermissionsDecisionPoint
from pep_runtime.enforcement.wsgi import PRINCIPAL_ENVIRON_KEY, WsgiEnforcementMiddleware

__all__ = [
    "AUDIT_LOGGER_NAME",
    "MODE_LOCAL",
    "MODE_VERIFIED_PERMISSIONS",
    "PEP_CONFIG_ENV",
    "PRINCIPAL_ENVIRON_KEY",
    "PRINCIPAL_STATE_KEY",
    "AuditLog",
    "AuditRecord",
    "AuthenticationError",
    "AuthorizationRequest",
    "AuthorizationResult",
    "Decision",
    "DecisionCache",
    "DecisionPoint",
    "DecisionUnavailableError",
    "Denial",
    "EnforcementConfig",
    "EnforcementConfigError",
    "EnforcementError",
    "EnforcementMiddleware",
    "Enforcer",
    "EntityUid",
    "HttpRequest",
    "LatticeCaller",
    "LocalCedarDecisionPoint",
    "MalformedRequestError",
    "Outcome",
    "Principal",
    "RequestRejectedError",
    "VerifiedPermissionsDecisionPoint",
    "WsgiEnforcementMiddleware",
    "config_path_from_environment",
    "current_principal",
    "default_denial",
    "load_config",
]
