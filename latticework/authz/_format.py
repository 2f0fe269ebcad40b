"""Canonical formatting of `authz/`: Cedar's own formatter for policies, indented JSON.

`.cedar` files are formatted by cedarpy's `format_policies` (the Cedar formatter) at the
project's line width. It keeps comments but joins comment blocks separated by blank lines;
a file whose comments would not all survive is reported and never rewritten.
`schema.json` is canonical as two-space indented JSON ending in a newline.

`schema.cedarschema` is a human-readable rendering of `schema.json` in Cedar schema syntax,
for review only (Verified Permissions takes the JSON form): `format` regenerates it and
`format --check` reports it when it is missing or stale.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import cedarpy

from components._strict_yaml import NotARegularFileError
from components.authz_files import (
    LINKS_FILE,
    MAX_PARSE_DEPTH,
    MAX_POLICY_BYTES,
    POLICIES_DIR,
    SCHEMA_FILE,
    TEMPLATES_DIR,
    TESTS_DIR,
    not_a_file_fix,
    parse_depth,
    read_authz_text,
    split_statements,
    too_deep_message,
)

SCHEMA_RENDERING_FILE = "schema.cedarschema"
_RENDERING_HEADER = (
    "// Generated from schema.json by `latticework authz format` for review; edit schema.json.\n"
)

LINE_WIDTH = 100
INDENT_WIDTH = 2
_COMMENT = re.compile(r"//[^\n]*")
_CEDAR_FILE_IS_DIRECTORY = (
    "expected a file, found a directory. Rename it or move it out: deployment reads only "
    "the .cedar files there"
)


@dataclass(frozen=True, slots=True)
class FormatResult:
    """One file: its canonical text, or why it has none."""

    path: Path
    current: str
    formatted: str | None
    problem: str | None = None

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.current


def format_cedar(text: str) -> str:
    """The Cedar formatter's output for `text` (raises `ValueError` if it does not parse)."""
    # Never handed over when too deep or too large: the formatter's parser would crash the
    # process (a flat set of tens of thousands of members does).
    depth = parse_depth(text)
    if depth > MAX_PARSE_DEPTH:
        raise ValueError(too_deep_message(depth))
    statements, trailing_line = split_statements(text)
    if not statements and trailing_line is None:
        # Comments and blank lines only: nothing to format, and Cedar's formatter would add
        # a blank first line (and join comment blocks).
        return text
    largest = max((len(statement.text.encode()) for statement in statements), default=0)
    if largest > MAX_POLICY_BYTES:
        message = (
            f"a policy of {largest:,} bytes; Verified Permissions takes "
            f"{MAX_POLICY_BYTES:,} bytes at most"
        )
        raise ValueError(message)
    return cedarpy.format_policies(text, LINE_WIDTH, INDENT_WIDTH)


def format_schema(text: str) -> str:
    """`schema.json` as two-space indented JSON with a final newline."""
    return json.dumps(json.loads(text), indent=INDENT_WIDTH) + "\n"


def format_file(path: Path) -> FormatResult:
    """Format one authz file in memory."""
    if path.suffix == ".cedar" and path.is_dir():
        return FormatResult(path, "", None, _CEDAR_FILE_IS_DIRECTORY)
    try:
        current = read_authz_text(path)
    except NotARegularFileError as exc:
        return FormatResult(path, "", None, _not_a_file(exc.kind))
    except (OSError, UnicodeDecodeError) as exc:
        return FormatResult(path, "", None, f"cannot be read as UTF-8 text: {exc}")
    try:
        formatted = format_schema(current) if path.suffix == ".json" else format_cedar(current)
    except ValueError as exc:
        where = "; `latticework authz validate` shows where" if path.suffix == ".cedar" else ""
        return FormatResult(path, current, None, f"cannot be parsed: {exc}{where}")
    if path.suffix == ".cedar" and _comments(formatted) != _comments(current):
        return FormatResult(
            path, current, None, "the Cedar formatter would drop or change comments"
        )
    return FormatResult(path, current, formatted)


def render_schema(authz_dir: Path) -> FormatResult:
    """The human-readable rendering of `schema.json` against the committed one."""
    path = authz_dir / SCHEMA_RENDERING_FILE
    schema_path = authz_dir / SCHEMA_FILE
    if not schema_path.exists():
        problem = (
            "expected the Cedar schema in JSON form, found no file. "
            f"Create {schema_path} (see docs/authz.md)"
        )
        return FormatResult(schema_path, "", None, problem)

    try:
        current = read_authz_text(path) if path.exists() else ""
    except NotARegularFileError as exc:
        # Generated: removing what is there is the whole fix.
        the_kind = exc.kind.replace("a ", "the ", 1)
        problem = (
            f"expected a file, found {exc.kind}. Remove {the_kind}; `latticework authz "
            "format` then writes the file"
        )
        return FormatResult(path, "", None, problem)
    except (OSError, UnicodeDecodeError) as exc:
        return FormatResult(path, "", None, f"cannot be read as UTF-8 text: {exc}")
    try:
        schema = cedarpy.Schema.from_json_str(read_authz_text(schema_path))
    except NotARegularFileError as exc:
        return FormatResult(schema_path, "", None, _not_a_file(exc.kind))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return FormatResult(path, current, None, f"cannot render {SCHEMA_FILE}: {exc}")
    return FormatResult(path, current, _RENDERING_HEADER + str(schema))


def check_read_files(authz_dir: Path) -> list[FormatResult]:
    """A problem for `links.yaml` or a `tests/*.yaml` that is there but is no regular file.

    `format` does not rewrite these, but `validate` and `test` read them, so a pipe or a
    directory in their place is named here too rather than reported as formatted.
    """
    tests_dir = authz_dir / TESTS_DIR
    paths = [authz_dir / LINKS_FILE]
    paths.extend(sorted(tests_dir.glob("*.yaml")) if tests_dir.is_dir() else [])
    results = []
    for path in paths:
        try:
            read_authz_text(path)
        except NotARegularFileError as exc:
            results.append(FormatResult(path, "", None, _not_a_file(exc.kind)))
        except (OSError, UnicodeDecodeError):
            # Missing or unreadable: `validate` and `test` say so; nothing to format here.
            continue
    return results


def _not_a_file(kind: str) -> str:
    return f"expected a file, found {kind}. {not_a_file_fix(kind).removesuffix('.')}"


def authz_format_targets(authz_dir: Path) -> list[Path]:
    """The files `latticework authz format` covers, in a stable order."""
    targets = [authz_dir / SCHEMA_FILE] if (authz_dir / SCHEMA_FILE).exists() else []
    for sub in (POLICIES_DIR, TEMPLATES_DIR):
        targets.extend(sorted((authz_dir / sub).glob("*.cedar")))
    return targets


def _comments(text: str) -> list[str]:
    return [comment.rstrip() for comment in _COMMENT.findall(_without_strings(text))]


def _without_strings(text: str) -> str:
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


__all__ = [
    "SCHEMA_RENDERING_FILE",
    "FormatResult",
    "authz_format_targets",
    "check_read_files",
    "format_cedar",
    "format_file",
    "format_schema",
    "render_schema",
]
