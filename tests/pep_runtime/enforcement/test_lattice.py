"""Lattice identity headers -> principals, table-driven and property-based."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pep_runtime.enforcement.exceptions import AuthenticationError
from pep_runtime.enforcement.lattice import (
    IDENTITY_HEADER,
    NETWORK_HEADER,
    TAGS_HEADER,
    TARGET_HEADER,
    parse_fields,
    parse_tags,
    principal_from_lattice,
)
from pep_runtime.enforcement.model import EntityUid

from .conftest import FRONTEND_IDENTITY, PARTNER_IDENTITY

CALLER_ROLES = {("aws", "111122223333", "latticework-dev-frontend-task"): "frontend"}
ASSUMED = "arn:aws:sts::111122223333:assumed-role/latticework-dev-frontend-task/s-1"


def _principal(identity: str | None, **more: str) -> EntityUid:
    headers = dict(more)
    if identity is not None:
        headers[IDENTITY_HEADER] = identity
    principal = principal_from_lattice(headers, namespace="Latticework", caller_roles=CALLER_ROLES)
    return principal.uid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A=1; B=2", {"A": "1", "B": "2"}),
        ("A=1;B=2", {"A": "1", "B": "2"}),
        ("A=1;  B=2;", {"A": "1", "B": "2"}),
        ("A=x=y", {"A": "x=y"}),
        ("A=; B=2", {"B": "2"}),
        (
            "X509SAN/DNS=svc.example.com; X509Subject/CN=svc",
            {
                "X509SAN/DNS": "svc.example.com",
                "X509Subject/CN": "svc",
            },
        ),
        ("", {}),
    ],
)
def test_parse_fields(value: str, expected: dict[str, str]) -> None:
    """Fields split at `;` (with or without a space) and at the first `=`; empty values vanish."""
    assert parse_fields(value, IDENTITY_HEADER) == expected


@pytest.mark.parametrize("value", ["A", "A=1; B", "=1", "A=1; A=2", "A=1\r\nB=2", "A b=1"])
def test_parse_fields_refuses_malformed(value: str) -> None:
    """A field without `=`, a bad or repeated key, or a control character is malformed."""
    with pytest.raises(AuthenticationError):
        parse_fields(value, IDENTITY_HEADER)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("team=payments;env=dev", {"team": "payments", "env": "dev"}),
        (r"note=a\;b;x=1", {"note": "a;b", "x": "1"}),
        (r"path=c:\\tmp", {"path": "c:\\tmp"}),
        ("empty=", {"empty": ""}),
    ],
)
def test_parse_tags_handles_escapes(value: str, expected: dict[str, str]) -> None:
    """Tags split at unescaped `;`; `\\;` and `\\\\` are literal characters."""
    assert parse_tags(value) == expected


@pytest.mark.parametrize("value", ["a=1\\", "novalue", "=x", "a=1;a=2"])
def test_parse_tags_refuses_malformed(value: str) -> None:
    """A lone trailing backslash, a tag without `=` or a repeated tag is malformed."""
    with pytest.raises(AuthenticationError):
        parse_tags(value)


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (None, EntityUid("Latticework::Anonymous", "anonymous")),
        ("Type=NONE", EntityUid("Latticework::Anonymous", "anonymous")),
        ("", EntityUid("Latticework::Anonymous", "anonymous")),
        (FRONTEND_IDENTITY, EntityUid("Latticework::Service", "frontend")),
        (f"Principal={ASSUMED}", EntityUid("Latticework::Service", "frontend")),
        (
            PARTNER_IDENTITY,
            EntityUid("Latticework::IamRole", "arn:aws:iam::444455556666:role/partner-reader"),
        ),
        (
            "Principal=arn:aws:sts::999988887777:assumed-role/latticework-dev-frontend-task/s-9;"
            "Type=AWS_IAM",
            EntityUid(
                "Latticework::IamRole",
                "arn:aws:iam::999988887777:role/latticework-dev-frontend-task",
            ),
        ),
        (
            # The task role's account and name in another partition is another role.
            "Principal=arn:aws-cn:sts::111122223333:assumed-role/latticework-dev-frontend-task/s-1;"
            "Type=AWS_IAM",
            EntityUid(
                "Latticework::IamRole",
                "arn:aws-cn:iam::111122223333:role/latticework-dev-frontend-task",
            ),
        ),
    ],
)
def test_principal_mapping(identity: str | None, expected: EntityUid) -> None:
    """No identity is anonymous; a known task role is its service; other roles are IamRoles."""
    assert _principal(identity) == expected


def test_iam_role_carries_account_and_name() -> None:
    """An IAM role principal has `account` and `name` attributes and keeps X.509 fields."""
    identity = PARTNER_IDENTITY + "; X509Subject/CN=partner; X509SAN/URI=spiffe://p/x"

    principal = principal_from_lattice(
        {
            IDENTITY_HEADER: identity,
            TAGS_HEADER: "team=partners",
            NETWORK_HEADER: "SourceVpcArn=arn:aws:ec2:eu-west-1:444455556666:vpc/vpc-1",
            TARGET_HEADER: "ServiceArn=arn:s;ServiceNetworkArn=arn:n;TargetGroupArn=arn:t",
        },
        namespace="Latticework",
        caller_roles=CALLER_ROLES,
    )

    assert principal.attributes == {"account": "444455556666", "name": "partner-reader"}
    assert principal.lattice is not None
    assert principal.lattice.identity["X509Subject/CN"] == "partner"
    assert principal.lattice.tags == {"team": "partners"}
    assert principal.lattice.source_vpc_arn == "arn:aws:ec2:eu-west-1:444455556666:vpc/vpc-1"
    assert principal.lattice.target["TargetGroupArn"] == "arn:t"


@pytest.mark.parametrize(
    "identity",
    [
        "Type=AWS_IAM",
        f"Type=NONE; Principal={ASSUMED}",
        "Type=SOMETHING",
        "Principal=arn:aws:iam::111122223333:user/alice",
        "Principal=arn:aws:iam::111122223333:role/latticework-dev-frontend-task",
        "Principal=arn:aws:sts::1111222233:assumed-role/r/s",
        f"Principal={ASSUMED}, Principal={ASSUMED}",
        "Principal",
    ],
)
def test_unusable_identities_are_refused(identity: str) -> None:
    """Contradictory, unknown or non-role identities are authentication failures (401)."""
    with pytest.raises(AuthenticationError) as caught:
        _principal(identity)

    assert caught.value.status == 401


HEADER_TEXT = st.text(alphabet=st.characters(codec="latin-1"), max_size=120)


@settings(max_examples=200, deadline=None)
@given(
    identity=HEADER_TEXT,
    tags=HEADER_TEXT,
    network=HEADER_TEXT,
    target=HEADER_TEXT,
)
def test_parsers_never_raise_anything_but_authentication_errors(
    identity: str, tags: str, network: str, target: str
) -> None:
    """Arbitrary header bytes give a principal or an AuthenticationError, nothing else."""
    headers = {
        IDENTITY_HEADER: identity,
        TAGS_HEADER: tags,
        NETWORK_HEADER: network,
        TARGET_HEADER: target,
    }

    try:
        principal = principal_from_lattice(
            headers, namespace="Latticework", caller_roles=CALLER_ROLES
        )
    except AuthenticationError:
        return

    assert principal.uid.type in {
        "Latticework::Anonymous",
        "Latticework::Service",
        "Latticework::IamRole",
    }


@settings(max_examples=200, deadline=None)
@given(
    fields=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9/_.:-]{0,10}", fullmatch=True),
        st.text(alphabet=st.characters(codec="ascii", exclude_characters=";\x7f"), max_size=20).map(
            lambda value: "".join(c for c in value if c >= " ").strip(" ")
        ),
        max_size=5,
    ),
    separator=st.sampled_from(["; ", ";"]),
)
def test_fields_round_trip(fields: dict[str, str], separator: str) -> None:
    """Whatever `Key=value` fields are joined with either separator parse back (minus empties)."""
    header = separator.join(f"{key}={value}" for key, value in fields.items())

    parsed = parse_fields(header, IDENTITY_HEADER)

    assert parsed == {key: value for key, value in fields.items() if value}
