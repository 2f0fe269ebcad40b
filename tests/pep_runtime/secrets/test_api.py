"""The public names of pep_runtime.secrets."""

from __future__ import annotations

import pep_runtime.secrets
from pep_runtime.errors import PepRuntimeError
from pep_runtime.secrets import SecretsError


def test_all_names_exist_once() -> None:
    """Every name in `__all__` exists and is listed once (ruff's RUF022 keeps the order)."""
    names = pep_runtime.secrets.__all__

    assert len(set(names)) == len(names)
    assert all(hasattr(pep_runtime.secrets, name) for name in names)


def test_every_error_is_a_pep_runtime_error() -> None:
    """Callers can catch all secrets errors, or all pep_runtime errors, with one class."""
    errors = [
        getattr(pep_runtime.secrets, name)
        for name in pep_runtime.secrets.__all__
        if name.endswith("Error")
    ]

    assert len(errors) == 7
    assert all(issubclass(error, SecretsError) for error in errors)
    assert issubclass(SecretsError, PepRuntimeError)
