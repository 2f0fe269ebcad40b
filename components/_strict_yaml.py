"""A YAML loader for the stack and catalog files that rejects duplicate keys.

PyYAML's safe loader silently keeps the last of two equal keys, so a service declared twice
under the same key, or a setting overridden three screens further down, would go unnoticed.
This loader raises `SpecError` naming the file, the line and both keys instead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from components.errors import SpecError
from components.secret_patterns import is_safe_to_quote

#: How a key path or message shows a key that looks like a credential instead of the key.
HIDDEN_KEY = "<a key that looks like a credential>"

# libyaml's parser is several times faster than PyYAML's pure-Python one on large catalogs.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# mypy cannot check a base class chosen at run time; both choices are SafeLoader-shaped.
class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader whose mappings refuse a key they already hold."""

    source: Path


def _construct_strict_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    first_lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise SpecError(
                loader.source,
                f"line {line}",
                "a plain key (a name or a number)",
                f"a {'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'} as a key",
                "Write the key as a plain name.",
            )
        if key in first_lines:
            # A pasted token used as a key is described, like any value that looks secret.
            shown = f"key {key!r}" if is_safe_to_quote(str(key)) else HIDDEN_KEY[1:-1]
            raise SpecError(
                loader.source,
                f"line {line}",
                "each key at most once per mapping",
                f"{shown} again (first on line {first_lines[key]})",
                "Remove one of the two entries or merge them.",
            )

        first_lines[key] = line
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_strict_mapping,
)


#: The largest YAML file read: a catalog or stack file is kilobytes.
MAX_YAML_BYTES = 8 << 20
#: The most values a document may hold once its aliases are expanded. A few lines of nested
#: aliases stand for billions, and every walk of the document (secret checks, the plan's
#: config) would visit them all.
MAX_YAML_VALUES = 200_000


def yaml_problem(problem: str | None) -> str:
    """PyYAML's account of a syntax error, worded to follow "found" in an error message.

    Many of its texts start with "found" themselves ("found character ... that cannot start
    any token"); the others ("did not find expected ','") read as what the syntax error was.
    """
    if not problem:
        return "a syntax error"
    if problem.startswith("found "):
        return problem.removeprefix("found ")
    return f"a syntax error: {problem}"


def expands_too_far(document: Any) -> bool:
    """Whether `document` holds more than `MAX_YAML_VALUES` values, counting every value an
    alias repeats; stops counting there."""
    pending = [document]
    count = 0
    while pending:
        value = pending.pop()
        count += 1
        if count > MAX_YAML_VALUES:
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


class NotARegularFileError(OSError):
    """The path names a pipe, device, directory or socket rather than a regular file.

    `kind` says which ("a named pipe"); `strerror` reads "not a regular file (<kind>)".
    """

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"not a regular file ({kind})")
        self.strerror = f"not a regular file ({kind})"
        self.filename = str(path)
        self.kind = kind


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the regular file at `path` (one more than `limit` tells
    the caller the file is larger).

    Opened without blocking, then checked: reading a named pipe would wait for a writer
    forever, and a device such as /dev/zero never ends, so anything but a regular file is
    `NotARegularFileError`. Other failures are the usual `OSError`s.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(descriptor).st_mode
    except OSError:
        os.close(descriptor)
        raise
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a file")
        raise NotARegularFileError(path, kind)

    with os.fdopen(descriptor, "rb") as handle:
        return handle.read(limit + 1)


def plain_scalar_text(path: Path, keys: Sequence[int | str]) -> str | None:
    """The text of the unquoted scalar at `keys` in the YAML file, as written, or None.

    What YAML made of a value can hide what was written (`0x1A` and `032` both read as 26),
    so an error that would show the intended value reads it here. None when the file no
    longer parses, the keys lead nowhere (a merge key, a changed file) or the value is quoted.
    """
    try:
        content = read_regular_file(path, MAX_YAML_BYTES)
        node = yaml.compose(content.decode("utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None

    for key in keys:
        if isinstance(node, yaml.MappingNode):
            node = next(
                (
                    value_node
                    for key_node, value_node in node.value
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key)
                ),
                None,
            )
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return None
    # A plain scalar's style is None to PyYAML and '' to libyaml; quoted ones are ' or ".
    if not isinstance(node, yaml.ScalarNode) or node.style:
        return None
    return str(node.value)


def load_yaml_file(path: Path) -> Any:
    """Parse one YAML file, rejecting duplicate keys; a missing or unparsable file is a
    `SpecError` naming the file and, where YAML knows it, the line."""
    try:
        # Bounded: a catalog is kilobytes; a stray dump would fill memory.
        content = read_regular_file(path, MAX_YAML_BYTES)
        if len(content) > MAX_YAML_BYTES:
            raise SpecError(
                path,
                "(file)",
                f"a file of at most {MAX_YAML_BYTES >> 20} MiB",
                "a larger file",
                "Point at the catalog or stack file itself.",
            )
        text = content.decode("utf-8")
    except FileNotFoundError as exc:
        raise SpecError(
            path, "(file)", "an existing file", "no such file", "Create it or fix the path."
        ) from exc
    except NotARegularFileError as exc:
        raise SpecError(
            path,
            "(file)",
            "a regular file",
            exc.kind,
            "Point at the catalog or stack file itself, not a pipe, device or directory.",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            path, "(file)", "a readable UTF-8 file", type(exc).__name__, "Check the file."
        ) from exc

    loader = _StrictLoader(text)
    loader.source = path
    try:
        document = loader.get_single_data()
    # `from None`: PyYAML's own message quotes the offending line, which may hold a secret.
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise SpecError(
            path, where, "valid YAML", yaml_problem(exc.problem), "Fix the YAML syntax there."
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            path, "(file)", "valid YAML", type(exc).__name__, "Fix the YAML syntax."
        ) from None
    except RecursionError:
        raise SpecError(
            path, "(file)", "YAML", "values nested too deeply to read", "Flatten the file."
        ) from None
    finally:
        loader.dispose()
    if expands_too_far(document):
        raise SpecError(
            path,
            "(file)",
            f"at most {MAX_YAML_VALUES:,} values once its aliases are expanded",
            "a document that expands to more",
            "Write the values out, or use fewer nested aliases.",
        )
    return document


__all__ = [
    "HIDDEN_KEY",
    "MAX_YAML_BYTES",
    "MAX_YAML_VALUES",
    "NotARegularFileError",
    "expands_too_far",
    "load_yaml_file",
    "plain_scalar_text",
    "read_regular_file",
    "yaml_problem",
]
