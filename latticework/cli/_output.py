"""Where `--output` writes a report: a file whole or untouched, a device or pipe as it is, or
a descriptor this process already holds (/dev/stdout) through that descriptor."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

from latticework.errors import UsageError

_STANDARD_STREAMS = {"stdin": 0, "stdout": 1, "stderr": 2}
"""The names in /dev of the three standard descriptors."""
_SYMLINK_HOPS = 40
"""Symlinks followed in search of a descriptor path, as many as Linux follows in a lookup."""


def check_output(path: Path) -> None:
    """Raise `UsageError` unless a report can be written to `path`.

    Commands call it before they plan, so a mistyped or unwritable `--output` fails at once
    rather than after the whole plan; `write_atomically` still reports a later failure. A
    device or pipe is only asked whether it may be written: opening a pipe would block, or
    end what its reader reads, and no file is created beside it (in /dev, say). A descriptor
    the process holds (/dev/stdout, /proc/self/fd/N) must be open for writing.
    """
    descriptor = _held_descriptor(path)
    if descriptor is not None:
        _check_descriptor(path, descriptor)
        return

    destination = _file_destination(path)
    if destination is None:
        if not os.access(path, os.W_OK):
            refused = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            raise UsageError(_unwritable_message(path, refused, direct=True))
        return

    descriptor, temporary = _temporary_file(path, destination)
    os.close(descriptor)
    os.unlink(temporary)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path`, a file whole or untouched, or a device or pipe as it is.

    A file (or a path where none is yet) gets a temporary file in its directory and a rename;
    through a symlink, that is the directory of the file it points to, and the link stays. A
    file it replaces passes on its permission bits; a new one gets those of a plain open().
    A device or pipe (/dev/null, a FIFO) is written directly and never replaced. A descriptor
    this process already holds (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N) is
    written through that descriptor, in order with the rest of its output and appending
    where the shell redirect appends; what it points to is never opened or replaced.
    Raises `UsageError` naming `path` and the reason when it cannot be written; the previous
    file at `path`, if any, is then left as it was and no temporary file remains.
    """
    descriptor = _held_descriptor(path)
    if descriptor is not None:
        _write_descriptor(path, descriptor, text)
        return

    destination = _file_destination(path)
    if destination is None:
        _write_directly(path, text)
        return

    descriptor, temporary = _temporary_file(path, destination)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file private; give it the mode of the file it replaces.
        os.chmod(temporary, _replacement_mode(destination))
        # NOTE: the destination was a file or nothing when `_file_destination` looked; one
        # swapped for a device since then would be replaced, a race no rename can rule out.
        os.replace(temporary, destination)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise UsageError(_unwritable_message(path, exc)) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _file_destination(path: Path) -> Path | None:
    """The file a report at `path` replaces (the final target of a symlink), or None when
    `path` is a device or pipe to write directly; a `UsageError` for a directory or socket."""
    try:
        mode: int | None = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        # Nothing there yet: `_temporary_file` names a missing directory on the way.
        mode = None
    except OSError as exc:
        raise UsageError(_unwritable_message(path, exc)) from exc

    if mode is not None and stat.S_ISDIR(mode):
        message = (
            f"--output {path}: expected a file, found a directory. Name a file, such as one "
            "inside that directory."
        )
        raise UsageError(message)
    if mode is not None and stat.S_ISSOCK(mode):
        message = (
            f"--output {path}: expected a file, device or pipe, found a socket, which cannot "
            "be opened for writing. Choose another path."
        )
        raise UsageError(message)
    if mode is not None and not stat.S_ISREG(mode):
        return None

    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _held_descriptor(path: Path) -> int | None:
    """The descriptor `path` names when it is one this process holds, directly or through
    symlinks: /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N. None else.

    The chain is followed only up to such a name: past it lies whatever the descriptor is
    open on (a redirected file, say), which a rename must not replace.
    """
    candidate = path
    for _ in range(_SYMLINK_HOPS):
        descriptor = _descriptor_named(candidate)
        if descriptor is not None:
            return descriptor
        if not candidate.is_symlink():
            return None

        try:
            candidate = candidate.parent / candidate.readlink()
        except OSError:
            return None

    return None


def _descriptor_named(path: Path) -> int | None:
    """The descriptor number that `path` itself names (no symlink of its own followed)."""
    directory = os.path.realpath(path.parent)
    if directory == "/dev" and path.name in _STANDARD_STREAMS:
        return _STANDARD_STREAMS[path.name]
    if not (path.name.isascii() and path.name.isdigit()):
        return None

    # /dev/fd and /proc/self/fd resolve to /proc/<pid>/fd; /proc/thread-self/fd to a task's.
    pid = os.getpid()
    own_directories = ("/dev/fd", "/proc/self/fd", f"/proc/{pid}/fd")
    if directory in own_directories or re.fullmatch(rf"/proc/{pid}/task/\d+/fd", directory):
        return int(path.name)

    return None


def _check_descriptor(path: Path, descriptor: int) -> None:
    """Raise `UsageError` unless `descriptor` is open in this process for writing."""
    try:
        flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    except OSError as exc:
        message = (
            f"--output {path}: expected a descriptor open for writing, found descriptor "
            f"{descriptor} not open in this process ({exc.strerror}). Redirect it, such as "
            f"`{descriptor}> report.txt` in the shell, or choose another path."
        )
        raise UsageError(message) from exc

    if not flags & (os.O_WRONLY | os.O_RDWR):
        message = (
            f"--output {path}: expected a descriptor open for writing, found descriptor "
            f"{descriptor} open only for reading. Redirect it for writing, such as "
            f"`{descriptor}> report.txt` in the shell, or choose another path."
        )
        raise UsageError(message)


def _write_descriptor(path: Path, descriptor: int, text: str) -> None:
    """Write `text` through `descriptor`, after whatever this process has printed so far."""
    _check_descriptor(path, descriptor)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()

    pending = memoryview(text.encode("utf-8"))
    try:
        while pending:
            pending = pending[os.write(descriptor, pending) :]
    except OSError as exc:
        message = (
            f"--output {path}: expected descriptor {descriptor} to take the report, found "
            f"that writing to it fails ({exc.strerror or type(exc).__name__}). Choose "
            "another path."
        )
        raise UsageError(message) from exc


def _replacement_mode(destination: Path) -> int:
    """The permission bits of the file at `destination`, or, where none is, those a plain
    open() gives a new file: 0o666 less the umask. Set-id and sticky bits are not kept."""
    try:
        return stat.S_IMODE(os.stat(destination).st_mode) & 0o777
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def _write_directly(path: Path, text: str) -> None:
    """Write `text` into the device or pipe at `path`, without creating or replacing it."""
    try:
        # No O_CREAT: should the device vanish meanwhile, no regular file takes its place.
        descriptor = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(_unwritable_message(path, exc, direct=True)) from exc


def _temporary_file(path: Path, destination: Path) -> tuple[int, str]:
    """A new temporary file beside `destination` (descriptor and name), or a `UsageError`
    naming `path`, the path the user gave."""
    directory = _directory_of(destination)
    if not directory.is_dir():
        message = (
            f"--output {path}: expected a file in an existing directory, found no directory "
            f"{directory}. Create it first or choose another path."
        )
        raise UsageError(message)

    try:
        return tempfile.mkstemp(prefix=f".{destination.name}.", dir=directory)
    except OSError as exc:
        raise UsageError(_unwritable_message(path, exc)) from exc


def _directory_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path()


def _unwritable_message(path: Path, exc: OSError, *, direct: bool = False) -> str:
    # strerror, not str(exc): the latter names the temporary file, not the one asked for.
    reason = exc.strerror or type(exc).__name__
    if direct:
        return (
            f"--output {path}: expected a device or pipe that can be written, found that "
            f"writing to it fails ({reason}). Choose another path."
        )

    return (
        f"--output {path}: expected a path where a file can be written, found that writing "
        f"in {_directory_of(path)} fails ({reason}). Choose a path in a directory you can "
        "write to."
    )


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


__all__ = ["check_output", "write_atomically"]
