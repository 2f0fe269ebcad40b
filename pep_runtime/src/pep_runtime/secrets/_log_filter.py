"""Keep botocore's debug log from printing Secrets Manager response bodies."""

from __future__ import annotations

import logging
import threading

# botocore logs every response body at DEBUG on this logger; a GetSecretValue body holds the
# secret value.
_BOTOCORE_PARSERS = "botocore.parsers"
_SECRET_FIELDS = ('"SecretString"', '"SecretBinary"')

_installed = False
_install_lock = threading.Lock()


class SecretResponseBodyFilter(logging.Filter):
    """Drops log records whose arguments hold a Secrets Manager value-bearing body."""

    def filter(self, record: logging.LogRecord) -> bool:
        arguments = record.args if isinstance(record.args, tuple) else (record.args,)
        for argument in (record.msg, *arguments):
            if isinstance(argument, bytes | bytearray):
                text = bytes(argument).decode("utf-8", "replace")
            elif isinstance(argument, str):
                text = argument
            else:
                continue
            if any(field in text for field in _SECRET_FIELDS):
                return False
        return True


def install_response_body_filter() -> None:
    """Attach the filter to botocore's response logger, once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return

        logging.getLogger(_BOTOCORE_PARSERS).addFilter(SecretResponseBodyFilter())
        _installed = True


__all__ = ["SecretResponseBodyFilter", "install_response_body_filter"]
