"""Keep botocore's debug log from printing secret values, session tokens and callers' tokens.

At DEBUG botocore logs every response body (`botocore.parsers`; a GetSecretValue body is the
secret), every request it sends with its headers and body (`botocore.endpoint`) and every
canonical request it signs (`botocore.auth`). The requests carry the session token of
temporary credentials, which a task role always has, and an `IsAuthorizedWithToken` body
carries the caller's JWT. Every client of the package that drives botocore (secrets, service
calls, Verified Permissions) installs one filter on those three loggers.
"""

from __future__ import annotations

import logging
import threading

_BOTOCORE_LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.auth")
# Matched case-insensitively: a header is `X-Amz-Security-Token` in a request and
# `x-amz-security-token:` in a canonical request; the rest are JSON keys of a body.
_SENSITIVE_MARKERS = (
    '"secretstring"',
    '"secretbinary"',
    "x-amz-security-token",
    '"accesstoken"',
    '"identitytoken"',
)

_installed = False
_install_lock = threading.Lock()


class BotocoreLogFilter(logging.Filter):
    """Drops records whose message or arguments hold a secret value or a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        arguments = record.args if isinstance(record.args, tuple) else (record.args,)
        for argument in (record.msg, *arguments):
            try:
                text = _text(argument)
            except Exception:  # an argument that cannot be shown is not kept
                return False
            if any(marker in text for marker in _SENSITIVE_MARKERS):
                return False
        return True


def _text(argument: object) -> str:
    """What the record would print for `argument`, lower-cased."""
    if argument is None or isinstance(argument, int | float):
        return ""
    if isinstance(argument, bytes | bytearray):
        return bytes(argument).decode("utf-8", "replace").lower()
    return str(argument).lower()


def install_botocore_log_filter() -> None:
    """Attach the filter to botocore's body, request and signer loggers, once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return

        for name in _BOTOCORE_LOGGERS:
            logging.getLogger(name).addFilter(BotocoreLogFilter())
        _installed = True


__all__ = ["BotocoreLogFilter", "install_botocore_log_filter"]
