"""Path normalisation and the route table: method + path -> Cedar action and resource.

A path is read exactly once, here, and anything that two readers (this module, a proxy, the
web framework) could read differently is refused with 400 rather than guessed at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from pep_runtime.enforcement.exceptions import MalformedRequestError
from pep_runtime.enforcement.model import EntityUid

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TEMPLATE_TOKEN = re.compile(r"\{[^{}]*\}|[{}]")
_METHOD = re.compile(r"[A-Za-z]{1,20}")
_COMMON_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
# Bytes that may not appear raw in a path: controls, space, non-ASCII, and characters that
# some reader would treat as a delimiter (`;` matrix parameters, `\` as a slash, `#`).
_FORBIDDEN_RAW = re.compile(rb"[\x00-\x20\x7f-\xff;\\#]")
# A path that needs no decoding and has no empty, `.` or `..` segment: segments of unreserved
# and sub-delimiter bytes (no `%`, `;`, `?`) that do not start with `.`, optionally a final `/`.
_PLAIN_PATH = re.compile(rb"(?:/[A-Za-z0-9_~!$&'()*+,=:@-][A-Za-z0-9._~!$&'()*+,=:@-]*)+/?")
# Bytes that may not appear percent-encoded: they would change how the path splits or
# decode a second time.
_FORBIDDEN_ENCODED = frozenset(range(0x20)) | {
    0x7F,
    ord("/"),
    ord("\\"),
    ord("."),
    ord("%"),
    ord(";"),
}
# Decoded characters refused besides those: the C1 controls (U+0085 is a line break to
# `str.splitlines`) and the Unicode line and paragraph separators.
_FORBIDDEN_DECODED = re.compile(r"[\x80-\x9f\u2028\u2029]")


def normalize_method(method: str) -> str:
    """Upper-case an HTTP method; methods compare case-insensitively."""
    if method in _COMMON_METHODS:
        return method
    if not _METHOD.fullmatch(method):
        message = f"HTTP method {method[:20]!r} is not a token of 1-20 letters"
        raise MalformedRequestError(message, reason="bad-method")
    return method.upper()


def normalize_path(raw_target: str | bytes) -> str:
    """Return the once-decoded path of a request target, or raise `MalformedRequestError`.

    The query (after the first `?`) is dropped. Refused: a target not starting with `/`;
    raw bytes that are non-ASCII, controls, space, `;`, `\\` or `#`; bad percent escapes;
    encoded `/`, `\\`, `.`, `%` (double encoding), `;` or controls (C0, DEL, C1); encoded
    U+2028 and U+2029; `.` or `..` segments; empty segments (`//`) except a trailing slash; and
    text that is not UTF-8 once decoded.
    """
    if isinstance(raw_target, bytes) and _PLAIN_PATH.fullmatch(raw_target):
        # The common case, decided by one regex: nothing to decode, no dot or empty segment.
        return raw_target.decode("ascii")
    if isinstance(raw_target, str):
        # WSGI carries the raw bytes as latin-1 text (PEP 3333); a non-ASCII byte of the path
        # is refused below, while the query, dropped, may hold any.
        try:
            raw_target = raw_target.encode("latin-1")
        except UnicodeEncodeError:
            message = "the path holds a character no raw byte can carry"
            raise MalformedRequestError(message, reason="bad-path") from None
    path = raw_target.split(b"?", 1)[0]
    if not path.startswith(b"/"):
        raise MalformedRequestError("the path does not start with '/'", reason="bad-path")

    if _FORBIDDEN_RAW.search(path):
        message = "the path holds a control, space, non-ASCII, ';', '\\' or '#' byte"
        raise MalformedRequestError(message, reason="bad-path")

    decoded = path
    if b"%" in path:
        if _PERCENT.search(path):
            message = "the path holds a malformed %-escape"
            raise MalformedRequestError(message, reason="bad-path")
        escaped = {int(match.group(1), 16) for match in _ESCAPE.finditer(path)}
        if escaped & _FORBIDDEN_ENCODED:
            message = "the path encodes '/', '\\', '.', '%', ';' or a control byte"
            raise MalformedRequestError(message, reason="bad-path")
        decoded = unquote_to_bytes(path)

    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequestError("the decoded path is not UTF-8", reason="bad-path") from None

    # Raw non-ASCII was refused above, so only an escape can bring one of these in.
    if not text.isascii() and _FORBIDDEN_DECODED.search(text):
        message = "the path encodes a C1 control or a line or paragraph separator"
        raise MalformedRequestError(message, reason="bad-path")

    # An empty segment shows as `//`; a dot segment as `/./` or `/../` once a `/` is appended.
    if "//" in text:
        raise MalformedRequestError("the path has an empty segment", reason="bad-path")
    slashed = text + "/"
    if "/./" in slashed or "/../" in slashed:
        raise MalformedRequestError("the path has a '.' or '..' segment", reason="bad-path")

    return text


@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """How a route names its resource: a qualified Cedar type and an id template."""

    type: str
    id_template: str

    def render(self, params: Mapping[str, str]) -> str:
        """The literal resource id, with `{name}` replaced by the path parameter's value."""
        whole = _whole_param(self.id_template)
        if whole is not None:
            return params[whole]
        return _PARAM.sub(lambda match: params[match.group(1)], self.id_template)


@functools.lru_cache(maxsize=256)
def _whole_param(id_template: str) -> str | None:
    """The parameter name when the template is exactly one `{name}` (the common case)."""
    whole = _PARAM.fullmatch(id_template)
    return whole.group(1) if whole else None


@dataclass(frozen=True, slots=True)
class RouteRule:
    """One row of the route table. A public rule has no action or resource."""

    method: str
    path: str
    action: str | None = None
    resource: ResourceTemplate | None = None
    public: bool = False


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A rule that matched a request, the decoded path and its parameters."""

    rule: RouteRule
    path: str
    params: Mapping[str, str]

    @property
    def public(self) -> bool:
        """True when the route needs no decision."""
        return self.rule.public

    def resource(self) -> EntityUid:
        """The resource entity for a protected route."""
        if self.rule.resource is None:
            raise ValueError(f"route {self.rule.method} {self.rule.path} has no resource")
        return EntityUid(self.rule.resource.type, self.rule.resource.render(self.params))


def template_segments(path: str) -> list[str]:
    """Split a route path template into its segments (validated by the config loader)."""
    return path.split("/")[1:]


def template_params(path: str) -> list[str]:
    """The parameter names of a path template, in order."""
    return _PARAM.findall(path)


def is_param_segment(segment: str) -> bool:
    """True for a `{name}` segment."""
    return _PARAM.fullmatch(segment) is not None


def id_template_problem(id_template: str, params: Sequence[str]) -> str | None:
    """What is wrong with a resource id template, or None."""
    if not id_template:
        return "the id template is empty"
    for token in _TEMPLATE_TOKEN.findall(id_template):
        name = _PARAM.fullmatch(token)
        if name is None:
            return f"{token!r} is not a {{name}} placeholder"
        if name.group(1) not in params:
            return f"placeholder {token} names no parameter of the path (has {list(params)})"

    # Two paths must never share an id. A decoded segment holds no `/` (an encoded one is
    # refused), so text with a `/` between two placeholders pins where each value ends;
    # anything else (`{t}-{o}`) lets `acme-corp` + `1` and `acme` + `corp-1` both give
    # `acme-corp-1`. `{t}-{t}` would be safe too, but one rule reads more plainly.
    pieces = _PARAM.split(id_template)
    for index in range(2, len(pieces) - 2, 2):
        if "/" not in pieces[index]:
            left, right = pieces[index - 1], pieces[index + 1]
            return (
                f"{{{left}}} and {{{right}}} apart by {pieces[index]!r}, which a path value "
                "can hold too, so two different paths could give one id"
            )
    return None


def ambiguous_overlap(first: str, second: str) -> str | None:
    """A path that two templates of one method both match when neither template is at least
    as specific as the other at every segment, else None.

    The route table prefers a literal segment to a `{param}` one, position by position; a web
    framework that takes the first declared route agrees only when one template wins at every
    segment and is declared first. Otherwise (`/{orderId}/cancel` and `/catalog/{section}` on
    `/catalog/cancel`) the two can pick different routes, so the config loader refuses them.
    A `{param}` value is never empty and holds no `/`, so templates of different lengths never
    share a path.
    """
    first_segments = template_segments(first)
    second_segments = template_segments(second)
    if len(first_segments) != len(second_segments):
        return None

    first_wins = second_wins = False
    shared: list[str] = []
    for mine, theirs in zip(first_segments, second_segments, strict=True):
        mine_is_param = is_param_segment(mine)
        theirs_is_param = is_param_segment(theirs)
        if mine == theirs or (mine_is_param and theirs_is_param):
            shared.append(mine)
        elif _mixes_text_and_params(mine) or _mixes_text_and_params(theirs):
            # NOTE: conservative. The config loader refuses a segment such as `{name}.json`,
            # and the table would compare it as literal text where a framework reads a
            # pattern; so unless it is the same text on both sides it is taken to overlap
            # the other segment and to rank against neither, which refuses every such pair
            # that the other segments let share a path.
            first_wins = second_wins = True
            plain_theirs = not (theirs_is_param or _mixes_text_and_params(theirs))
            shared.append(theirs if plain_theirs else mine)
        elif theirs_is_param:
            first_wins = True
            shared.append(mine)
        elif mine_is_param:
            second_wins = True
            shared.append(theirs)
        else:
            return None

    if first_wins and second_wins:
        return "/" + "/".join(shared)
    return None


def _mixes_text_and_params(segment: str) -> bool:
    """True for a segment with a brace that is not one whole `{name}`."""
    return ("{" in segment or "}" in segment) and not is_param_segment(segment)


class RouteTable:
    """Matches a method and a normalised path to a route rule.

    Literal segments win over `{param}` segments, position by position from the left, so
    `/orders/export` beats `/orders/{orderId}`; the config loader refuses two rules where each
    wins at some segment (see `ambiguous_overlap`). No match is None: the caller denies.
    """

    def __init__(self, rules: Sequence[RouteRule]) -> None:
        candidates = [_Candidate.of(rule) for rule in rules]
        # More specific first: a literal (sort key 0) before a parameter (1) at each position.
        candidates.sort(key=lambda item: item.specificity)
        #: Candidates by upper-case method and number of segments, most specific first.
        self._by_shape: dict[tuple[str, int], list[_Candidate]] = {}
        for candidate in candidates:
            key = (candidate.rule.method.upper(), len(candidate.specificity))
            self._by_shape.setdefault(key, []).append(candidate)
        self.rules = tuple(rules)

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The rule for `method` and the already normalised `path`, or None."""
        segments = path.split("/")[1:]
        for candidate in self._by_shape.get((method.upper(), len(segments)), ()):
            params = candidate.bind(segments)
            if params is not None:
                return RouteMatch(candidate.rule, path, params)
        return None


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A rule with its template split: the literal segments and the parameters, by position."""

    rule: RouteRule
    literals: tuple[tuple[int, str], ...]
    params: tuple[tuple[int, str], ...]
    #: Per segment, 0 for a literal and 1 for a parameter: the sort key, and the length.
    specificity: tuple[int, ...]

    @classmethod
    def of(cls, rule: RouteRule) -> _Candidate:
        """The rule's template split into literal and parameter segments."""
        segments = template_segments(rule.path)
        literals, params, specificity = [], [], []
        for index, segment in enumerate(segments):
            if is_param_segment(segment):
                params.append((index, segment[1:-1]))
                specificity.append(1)
            else:
                literals.append((index, segment))
                specificity.append(0)
        return cls(rule, tuple(literals), tuple(params), tuple(specificity))

    def bind(self, segments: list[str]) -> dict[str, str] | None:
        """The parameters of `segments` (as many as the template has), or None if they do not
        fit: a literal differs or a parameter is empty."""
        for index, literal in self.literals:
            if segments[index] != literal:
                return None
        params = {}
        for index, name in self.params:
            value = segments[index]
            if not value:
                return None
            params[name] = value
        return params


__all__ = [
    "ResourceTemplate",
    "RouteMatch",
    "RouteRule",
    "RouteTable",
    "normalize_method",
    "normalize_path",
]
