"""Path normalisation and route matching, table-driven and property-based."""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pep_runtime.enforcement.exceptions import MalformedRequestError
from pep_runtime.enforcement.model import EntityUid
from pep_runtime.enforcement.routes import (
    ResourceTemplate,
    RouteRule,
    RouteTable,
    ambiguous_overlap,
    normalize_method,
    normalize_path,
)

ACCEPTED = [
    ("/orders/o-1", "/orders/o-1"),
    ("/orders/o-1?x=%2F..%2F", "/orders/o-1"),
    ("/orders/o%201", "/orders/o 1"),
    ("/orders/%C3%A9t%C3%A9", "/orders/été"),
    ("/orders/a.b", "/orders/a.b"),
    ("/orders/", "/orders/"),
    ("/", "/"),
    ("/orders/%3F", "/orders/?"),
    ("/orders/%C2%A0", "/orders/\u00a0"),
    ("/orders/%E2%80%A7", "/orders/\u2027"),
    (b"/orders/o-1", "/orders/o-1"),
    # WSGI's RAW_URI is the raw bytes as latin-1 text: the query may hold any of them.
    ("/orders/o-1?q=\u00c3\u00a9", "/orders/o-1"),
    (b"/orders/o-1?q=\xc3\xa9", "/orders/o-1"),
]

REFUSED = [
    ("orders/o-1", "no leading slash"),
    ("", "empty"),
    ("/orders/%2F", "encoded slash"),
    ("/orders/%2f", "encoded slash, lower case"),
    ("/orders/%5C", "encoded backslash"),
    ("/orders/%2E%2E/admin", "encoded dots"),
    ("/orders/%2e", "encoded dot"),
    ("/orders/%252F", "double encoding"),
    ("/orders/%25", "encoded percent"),
    ("/orders/../admin", "dot-dot segment"),
    ("/orders/./o-1", "dot segment"),
    ("/orders//o-1", "empty segment"),
    ("/orders/o-1;jsessionid=1", "matrix parameter"),
    ("/orders/%3B", "encoded semicolon"),
    ("/orders/o\x00", "raw NUL"),
    ("/orders/%00", "encoded NUL"),
    ("/orders/%0A", "encoded newline"),
    ("/orders/o 1", "raw space"),
    ("/orders\\o-1", "raw backslash"),
    ("/orders/o-1#frag", "fragment"),
    ("/orders/%G1", "bad escape"),
    ("/orders/%4", "short escape"),
    ("/orders/été", "raw non-ASCII text"),
    (b"/orders/\xc3\xa9", "raw non-ASCII bytes"),
    ("/orders/\u20ac", "text no raw byte can carry"),
    ("/orders/%C3", "not UTF-8 once decoded"),
    ("/orders/%FF", "not UTF-8 once decoded"),
    ("/orders/%C2%80", "encoded C1 control, the first"),
    ("/orders/%C2%85", "encoded NEL, a line break to str.splitlines"),
    ("/orders/o-%C2%9F", "encoded C1 control, the last"),
    ("/orders/%E2%80%A8", "encoded line separator"),
    ("/orders/a%E2%80%A9b", "encoded paragraph separator"),
    (b"/orders/%C2%85?x=1", "encoded NEL, bytes with a query"),
]


@pytest.mark.parametrize(("target", "expected"), ACCEPTED)
def test_normalize_path_decodes_once(target: str | bytes, expected: str) -> None:
    """Clean paths are decoded exactly once and the query is dropped."""
    path = normalize_path(target)

    assert path == expected


@pytest.mark.parametrize(("target", "why"), REFUSED)
def test_normalize_path_refuses_ambiguous_paths(target: str | bytes, why: str) -> None:
    """Anything two readers could read differently is refused as malformed (400)."""
    with pytest.raises(MalformedRequestError) as caught:
        normalize_path(target)

    assert caught.value.status == 400, why


@pytest.mark.parametrize(("method", "expected"), [("get", "GET"), ("Post", "POST")])
def test_methods_compare_case_insensitively(method: str, expected: str) -> None:
    """Methods are upper-cased before matching."""
    assert normalize_method(method) == expected


@pytest.mark.parametrize("method", ["", "G ET", "GET\r\n", "X" * 21, "GÉT"])
def test_bad_methods_are_refused(method: str) -> None:
    """A method that is not a short token is malformed."""
    with pytest.raises(MalformedRequestError):
        normalize_method(method)


ORDER = ResourceTemplate(type="Latticework::Order", id_template="{orderId}")
EXPORT = ResourceTemplate(type="Latticework::Export", id_template="orders-export")
TABLE = RouteTable(
    [
        RouteRule("GET", "/orders/{orderId}", "GetOrder", ORDER),
        RouteRule("GET", "/orders/export", "ExportOrders", EXPORT),
        RouteRule("GET", "/health", public=True),
    ]
)


def test_literal_segments_beat_parameters() -> None:
    """`/orders/export` matches its literal route, not `/orders/{orderId}`."""
    match = TABLE.match("GET", "/orders/export")

    assert match is not None
    assert match.rule.action == "ExportOrders"


def test_resource_id_is_the_literal_path_value() -> None:
    """A path value with Cedar syntax in it stays a literal id of a structured entity."""
    match = TABLE.match("get", '/orders/x" || true || "')

    assert match is not None
    assert match.resource() == EntityUid("Latticework::Order", 'x" || true || "')


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/orders/o-1"), ("GET", "/orders"), ("GET", "/orders/o-1/x"), ("GET", "/orders/")],
)
def test_unmapped_requests_match_nothing(method: str, path: str) -> None:
    """A method or path outside the table matches no rule."""
    assert TABLE.match(method, path) is None


@settings(max_examples=300, deadline=None)
@given(target=st.binary(max_size=64), method=st.text(max_size=8))
def test_arbitrary_targets_never_map_outside_the_table(target: bytes, method: str) -> None:
    """Arbitrary bytes either are refused as malformed or match a rule whose template fits."""
    try:
        path = normalize_path(target)
        verb = normalize_method(method)
    except MalformedRequestError:
        return

    match = TABLE.match(verb, path)

    if match is not None:
        segments = path.split("/")[1:]
        template = match.rule.path.split("/")[1:]
        assert len(segments) == len(template)
        for segment, expected in zip(segments, template, strict=True):
            assert expected.startswith("{") or segment == expected
            assert segment not in {"", ".", ".."}
            assert "/" not in segment


@settings(max_examples=300, deadline=None)
@given(segment=st.text(min_size=1, max_size=16))
def test_encoded_values_round_trip_or_are_refused(segment: str) -> None:
    """Any text percent-encoded into one segment decodes back to itself or is refused."""
    target = "/orders/" + quote(segment, safe="")

    try:
        path = normalize_path(target)
    except MalformedRequestError:
        return

    assert path == "/orders/" + segment


@given(st.text(alphabet="/.%;?#\\ azAZ09-_~!$&'()*+,=:@2F", max_size=30))
def test_the_plain_path_shortcut_reads_like_the_full_check(text: str) -> None:
    """Bytes (which may take the one-regex shortcut) and text (never) read every path alike."""
    outcomes = []
    for target in (text.encode("ascii"), text):
        try:
            outcomes.append(normalize_path(target))
        except MalformedRequestError:
            outcomes.append("refused")

    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    ("id_template", "expected"),
    [("{orderId}", "o-1"), ("order-{orderId}", "order-o-1"), ("{orderId}-{orderId}", "o-1-o-1")],
)
def test_a_resource_template_renders_and_round_trips_as_a_plain_value(
    id_template: str, expected: str
) -> None:
    """A template renders the literal parameter and rebuilds from its own fields."""
    template = ResourceTemplate("Latticework::Order", id_template)

    rendered = template.render({"orderId": "o-1"})

    assert rendered == expected
    assert ResourceTemplate(**dataclasses.asdict(template)) == template


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("/files/{name}.json", "/files/{id}", "/files/{name}.json"),
        ("/files/{name}.json", "/files/a.json", "/files/a.json"),
        ("/{a}.json/x", "/{b}.json/x", "/{a}.json/x"),
        ("/{x}/cancel", "/catalog/{y}", "/catalog/cancel"),
    ],
)
def test_segments_mixing_text_and_params_count_as_ambiguous(
    first: str, second: str, shared: str
) -> None:
    """A segment such as `{name}.json` (the config loader refuses it) is taken to overlap any
    other segment and to rank against none, so a pair the other segments let meet is refused."""
    assert ambiguous_overlap(first, second) == shared


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("/files/{name}.json", "/files/{name}.json"),
        ("/files/{name}.json/x", "/files/{id}/y"),
        ("/orders/special", "/orders/{id}"),
        ("/orders/{id}", "/orders/{id}/items"),
    ],
)
def test_identical_nested_or_disjoint_templates_are_not_ambiguous(first: str, second: str) -> None:
    """Same text, one template at least as specific everywhere, or no shared path: None."""
    assert ambiguous_overlap(first, second) is None


@given(character=st.characters(categories=["Cc", "Zl", "Zp"]))
def test_no_decoded_control_or_line_separator_gets_through(character: str) -> None:
    """Every control character (C0, DEL, C1) and U+2028/U+2029, percent-encoded, is a 400."""
    target = "/orders/o" + quote(character, safe="")

    with pytest.raises(MalformedRequestError) as caught:
        normalize_path(target.encode("ascii"))

    assert caught.value.reason == "bad-path"
