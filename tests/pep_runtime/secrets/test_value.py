"""SecretValue: masked representations and typed JSON fields."""

from __future__ import annotations

import copy
import pickle
import traceback

import pytest

from pep_runtime.secrets import MASK, SecretFormatError, SecretValue

PASSWORD = "pa55-w0rd-very-secret"
DOCUMENT = (
    '{"username": "orders", "password": "' + PASSWORD + '", "port": 5432, '
    '"ratio": 0.5, "tls": true}'
)


def database_secret() -> SecretValue:
    return SecretValue(DOCUMENT, name="database", version_id="v-1", stages=("AWSCURRENT",))


def test_repr_and_str_are_masked() -> None:
    """repr, str and f-strings show the mask and the version, never the value."""
    secret = database_secret()

    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])]

    assert all(PASSWORD not in text for text in shown)
    assert str(secret) == MASK
    assert "version_id='v-1'" in repr(secret)


def test_copy_and_pickle_are_refused() -> None:
    """A secret cannot be duplicated through copy or pickle."""
    secret = database_secret()

    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        copy.deepcopy(secret)


@pytest.mark.parametrize(
    ("field", "kind", "expected"),
    [
        ("username", str, "orders"),
        ("port", int, 5432),
        ("ratio", float, 0.5),
        ("port", float, 5432.0),
        ("tls", bool, True),
    ],
)
def test_json_fields_are_typed(field: str, kind: type, expected: object) -> None:
    """A field is returned as the asked type; an integer may be read as a float."""
    secret = database_secret()

    found: object = secret.reveal_field(field, kind)

    assert found == expected
    assert type(found) is kind


@pytest.mark.parametrize(("field", "kind"), [("tls", int), ("port", str), ("password", int)])
def test_a_mistyped_field_names_both_types_but_not_the_value(field: str, kind: type) -> None:
    """A field of the wrong JSON type raises, naming the field and the types only."""
    secret = database_secret()

    with pytest.raises(SecretFormatError) as raised:
        secret.reveal_field(field, kind)

    assert raised.value.field == field
    assert "expected a JSON" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_a_missing_field_lists_the_field_names() -> None:
    """A missing field raises and lists the names present, not their values."""
    secret = database_secret()

    with pytest.raises(SecretFormatError) as raised:
        secret.reveal_field("host", str)

    assert "password, port, ratio, tls, username" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    assert secret.field_names() == {"username", "password", "port", "ratio", "tls"}


def test_invalid_json_does_not_carry_the_document() -> None:
    """A value that is not JSON raises without chaining the decoder error that holds it."""
    secret = SecretValue("not-json " + PASSWORD, name="api-key", version_id="v-1")

    with pytest.raises(SecretFormatError) as raised:
        secret.reveal_field("key", str)

    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
    assert PASSWORD not in str(raised.value)
    assert "line 1, column 1" in str(raised.value)


def test_a_json_array_is_not_an_object() -> None:
    """Fields are read from a JSON object only."""
    secret = SecretValue('["' + PASSWORD + '"]', name="list", version_id="v-1")

    with pytest.raises(SecretFormatError, match="holds a JSON array, expected a JSON object"):
        secret.field_names()


def test_a_binary_secret_read_as_text_is_refused() -> None:
    """reveal() of a binary secret raises and points to reveal_bytes()."""
    secret = SecretValue(b"\xff\x00", name="key", version_id="v-1")

    with pytest.raises(SecretFormatError, match="reveal_bytes"):
        secret.reveal()
    assert secret.reveal_bytes() == b"\xff\x00"


def test_only_scalar_field_types_are_offered() -> None:
    """reveal_field() refuses kinds other than str, int, float and bool."""
    secret = database_secret()

    with pytest.raises(TypeError, match="str, int, float or bool"):
        secret.reveal_field("username", list)


@pytest.mark.parametrize(
    ("document", "field", "kind"),
    [
        (DOCUMENT, "missing", str),
        (DOCUMENT, "password", int),
        (DOCUMENT, "tls", int),
        ('"' + PASSWORD + '"', "password", str),
    ],
    ids=["missing-field", "text-as-integer", "boolean-as-integer", "json-text"],
)
def test_format_errors_hold_no_value_in_their_frames(document: str, field: str, kind: type) -> None:
    """A traceback rendered with its frames' locals (Sentry, rich, structlog) shows no value."""
    secret = SecretValue(document, name="database", version_id="v-1")

    with pytest.raises(SecretFormatError) as raised:
        secret.reveal_field(field, kind)
    error = raised.value
    assert error.__traceback__ is not None
    # The frames below this test's own, which holds the document it built.
    inside = error.__traceback__.tb_next
    rendered = traceback.TracebackException(type(error), error, inside, capture_locals=True)

    assert "self = SecretValue(name='database'" in "".join(rendered.format())
    assert PASSWORD not in "".join(rendered.format())


@pytest.mark.parametrize(
    "document",
    ['{"pin": 1' + "0" * 5000 + "}", "[" * 100_000 + "]" * 100_000],
    ids=["integer-beyond-the-digit-limit", "nesting-beyond-the-recursion-limit"],
)
def test_json_the_decoder_cannot_handle_is_a_format_error(document: str) -> None:
    """A document json.loads gives up on raises SecretFormatError, not a bare ValueError."""
    secret = SecretValue(document, name="database", version_id="v-1")

    with pytest.raises(SecretFormatError, match="is not valid JSON") as raised:
        secret.field_names()

    assert raised.value.__context__ is None
