"""The request id forwarded on service calls: the incoming one if bound, else a new one."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"

# Printable ASCII without spaces, bounded: enough for UUIDs and trace ids, nothing that could
# split a header.
_VALID_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")

_current: ContextVar[str | None] = ContextVar("pep_runtime_request_id", default=None)


def current_request_id() -> str | None:
    """The request id bound to the running request, if any."""
    return _current.get()


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[str]:
    """Bind the incoming request's id (or a new one) for the calls made inside the block.

    Use it where the incoming request is handled, with the value of its `x-request-id`
    header; calls made inside (threads and tasks copy the context) forward that id.
    """
    bound = usable_request_id(request_id)
    token = _current.set(bound)
    try:
        yield bound
    finally:
        _current.reset(token)


def set_request_id(request_id: str | None) -> Token[str | None]:
    """Bind as `bind_request_id` does, without the block; undo with `reset_request_id`.

    For middleware that runs on every request, where a generator-based context manager's
    cost shows: set, call the app in `try`, reset in `finally`.
    """
    return _current.set(usable_request_id(request_id))


def reset_request_id(token: Token[str | None]) -> None:
    """Undo the `set_request_id` that returned `token`."""
    _current.reset(token)


def usable_request_id(request_id: str | None) -> str:
    """`request_id` when it is a safe header value, else a freshly generated one."""
    if request_id is not None and _VALID_REQUEST_ID.fullmatch(request_id):
        return request_id

    if request_id is not None:
        logger.debug("incoming request id is not a safe header value; generating a new one")
    return uuid.uuid4().hex


__all__ = [
    "REQUEST_ID_HEADER",
    "bind_request_id",
    "current_request_id",
    "reset_request_id",
    "set_request_id",
    "usable_request_id",
]
