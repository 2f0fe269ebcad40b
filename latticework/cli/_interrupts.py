"""Ctrl-C that Python could only print as "Exception ignored", kept so the command ends on it.

Python runs the signal handler at the main thread's next instruction, which may be one of a
finalizer (`__del__`) or of a weakref callback that a garbage collection runs. A
`KeyboardInterrupt` raised there cannot propagate: Python prints it as "Exception ignored"
and the command would carry on, print its report and exit 0. While a command runs such an
interrupt is kept instead of printed; `raise_if_interrupted` raises it again where the command
can still stop cleanly (before its report), and the end of the command at the latest.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


class _KeptInterrupts:
    """The `sys.unraisablehook` of one command's run: keeps Ctrl-C, passes the rest on."""

    def __init__(self, previous_hook: Callable[[sys.UnraisableHookArgs], object]) -> None:
        self._previous_hook = previous_hook
        self.count = 0

    def __call__(self, unraisable: sys.UnraisableHookArgs) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            self.count += 1
            return

        self._previous_hook(unraisable)


@contextlib.contextmanager
def interrupts_kept() -> Iterator[None]:
    """Run the block with lost Ctrl-C kept; raise `KeyboardInterrupt` after it if there was one.

    That raise replaces whatever the block returned or raised: an interrupted command exits
    130 even if it had finished, or failed for another reason, meanwhile.
    """
    previous_hook = sys.unraisablehook
    kept = _KeptInterrupts(previous_hook)
    sys.unraisablehook = kept
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        if kept.count:
            raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise `KeyboardInterrupt` if a Ctrl-C was lost in a finalizer since the block began."""
    hook = sys.unraisablehook
    if isinstance(hook, _KeptInterrupts) and hook.count:
        raise KeyboardInterrupt


__all__ = ["interrupts_kept", "raise_if_interrupted"]
