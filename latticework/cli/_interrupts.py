"""Ctrl-C that Python could only print as "Exception ignored", kept so the command ends on it.

Python runs the signal handler at the main thread's next instruction, which may be one of a
finalizer (`__del__`) or of a weakref callback that a garbage collection runs. A
`KeyboardInterrupt` raised there cannot propagate: Python prints it as "Exception ignored"
and the command would carry on, print its report and exit 0. While a command runs such an
interrupt (a SIGTERM handler that raises `KeyboardInterrupt` included) is kept instead of
printed, and the command stops on it as on any Ctrl-C, only later:

- `raise_if_interrupted` raises it where the command can stop cleanly: before its report
  (`plan`, `check`), before each gate of a rollout, in each turn of `dev`'s wait. Raised,
  it is no longer kept: the command handles it like a Ctrl-C that landed there, and `dev`,
  which Ctrl-C stops by design, still ends with exit 0;
- a command that stopped on a Ctrl-C and handled it calls `forget_kept_interrupts`, so that
  one kept meanwhile does not turn its clean stop into an interruption;
- when the command returns with an interrupt still kept, it ends with `KeyboardInterrupt`
  (exit 130), even though it finished: the Ctrl-C came too late to stop anything;
- when the command raises, its error stands and a kept interrupt is dropped: a gate that
  failed exits 7, a locked stack 4. The interrupt did not stop it, the failure did, and
  hiding the failure's code and message behind "interrupted" would lose its fix.
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
    """Run the block with lost Ctrl-C kept; raise `KeyboardInterrupt` if it returns with one.

    An exception from the block propagates unchanged, a kept Ctrl-C or not.
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


def _kept_interrupts() -> _KeptInterrupts | None:
    hook = sys.unraisablehook
    return hook if isinstance(hook, _KeptInterrupts) else None


def raise_if_interrupted() -> None:
    """Raise `KeyboardInterrupt` if a Ctrl-C was lost in a finalizer since the block began,
    and keep it no longer: from here on it is an ordinary Ctrl-C."""
    kept = _kept_interrupts()
    if kept is None or not kept.count:
        return

    kept.count = 0
    raise KeyboardInterrupt


def forget_kept_interrupts() -> None:
    """Drop the Ctrl-C kept so far: the command stopped on a Ctrl-C and has handled it."""
    kept = _kept_interrupts()
    if kept is not None:
        kept.count = 0


__all__ = ["forget_kept_interrupts", "interrupts_kept", "raise_if_interrupted"]
