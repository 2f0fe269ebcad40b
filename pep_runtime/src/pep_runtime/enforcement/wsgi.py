"""WSGI middleware (Flask): nothing reaches the app without an Allow.

Wrap Flask's `app.wsgi_app`. The handler reads the principal from
`request.environ["latticework.principal"]` or `current_principal()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pep_runtime.enforcement.denial import Denial, default_denial
from pep_runtime.enforcement.enforcer import (
    HEADERS_READ,
    Enforcer,
    HttpRequest,
    bind_principal,
    unbind_principal,
)
from pep_runtime.services import reset_request_id, set_request_id

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The WSGI environ key holding the principal.
PRINCIPAL_ENVIRON_KEY = "latticework.principal"
_STATUS_LINES = {400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden"}
_STATUS_LINES[503] = "503 Service Unavailable"


class WsgiEnforcementMiddleware:
    """Wraps a WSGI app with an `Enforcer`."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        enforcer: Enforcer,
        denial: Callable[[int], Denial] = default_denial,
    ) -> None:
        self.app = app
        self.enforcer = enforcer
        self.denial = denial

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _http_request(environ)
        outcome = self.enforcer.check(request)
        if not outcome.allowed:
            denial = self.denial(outcome.status)
            status_line = _STATUS_LINES.get(denial.status, f"{denial.status} Denied")
            start_response(status_line, list(denial.headers))
            return [denial.body]

        environ[PRINCIPAL_ENVIRON_KEY] = outcome.principal
        token = bind_principal(outcome.principal)
        # The id in the audit line is the one service calls from the handler forward.
        request_id_token = set_request_id(outcome.request_id)
        try:
            return self.app(environ, start_response)
        finally:
            reset_request_id(request_id_token)
            unbind_principal(token)


def _http_request(environ: dict[str, Any]) -> HttpRequest:
    headers: dict[str, list[str]] = {}
    for name in HEADERS_READ:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
        if isinstance(value, str):
            headers[name] = [value]

    # PEP 3333: SCRIPT_NAME and PATH_INFO are the decoded bytes, carried as latin-1 text.
    decoded = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        app_path: str | None = decoded.encode("latin-1").decode("utf-8")
    except UnicodeError:
        # Not UTF-8: normalize_path refuses the same bytes from the raw target.
        app_path = None
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target and app_path is not None:
        # NOTE: servers that give no raw URI hide encoded slashes; the path is re-encoded
        # from PATH_INFO, which the app routes on too.
        target = quote(decoded.encode("latin-1"), safe="/!$&'()*+,:=@~-._")
    elif not target:
        # Not bytes as latin-1 text, or not UTF-8: normalize_path refuses it as given.
        target = decoded
    return HttpRequest(
        method=str(environ.get("REQUEST_METHOD", "")),
        target=str(target),
        headers=headers,
        app_path=app_path,
        client_address=environ.get("REMOTE_ADDR"),
    )


__all__ = ["PRINCIPAL_ENVIRON_KEY", "WsgiEnforcementMiddleware"]
