"""The small response sent instead of the app: status only, no detail."""

from __future__ import annotations

import json
from dataclasses import dataclass

_TITLES = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    503: "authorization unavailable",
}


@dataclass(frozen=True, slots=True)
class Denial:
    """A denial response: status, body and headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]


def default_denial(status: int) -> Denial:
    """A JSON body naming only the status; 401 adds a Bearer challenge."""
    body = json.dumps({"error": _TITLES.get(status, "denied")}).encode()
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
    ]
    if status == 401:
        headers.append(("www-authenticate", 'Bearer realm="latticework"'))
    return Denial(status=status, body=body, headers=tuple(headers))


__all__ = ["Denial", "default_denial"]
