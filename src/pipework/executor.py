"""Apply a plan of steps; if any step fails, undo every step already done, newest first.

A step's ``do`` returns its own undo (or None when there is nothing to undo),
so an undo exists exactly for what really happened: a bridge another process
created first is not ours to delete. The undo stack is kept only until the last
step succeeds. SIGTERM is turned into an exception while a plan runs, so a
``kill`` or a Ctrl-C half-way also rolls back instead of leaving links behind.

This is ``contextlib.ExitStack`` + ``pop_all()`` in spirit; a list is used
because importing contextlib costs ~5 ms on the reference machine.
"""

from __future__ import annotations

import os
import sys
import time

from .errors import NetlinkError, PipeworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    Undo = Callable[[], None]

#: Test hooks, used by the integration tests and the soak script to prove the
#: rollback: make the Nth step (1-based) fail as if the kernel had said EIO, or
#: stop before it until a signal arrives (at most a minute).
FAULT_ENV = "PIPEWORK_INJECT_FAULT"
PAUSE_ENV = "PIPEWORK_INJECT_PAUSE"


class Interrupted(KeyboardInterrupt):
    """SIGTERM arrived while a plan was being applied (handled like Ctrl-C)."""

    exit_code = 143


class Step:
    """One change to the host or the guest, described as the `ip` command doing it."""

    __slots__ = ("command", "do")

    def __init__(self, command: str, do: Callable[[], Undo | None]) -> None:
        self.command = command
        self.do = do

    def __repr__(self) -> str:
        return f"Step({self.command!r})"


def _on_sigterm(signum: int, frame: object) -> None:
    raise Interrupted(f"signal {signum}")


def apply(steps: Sequence[Step], *, verbose: bool = False) -> None:
    """Run ``steps`` in order; on any failure run the undos in reverse, then re-raise."""
    import _signal  # type: ignore[import-not-found]  # `signal` imports enum: milliseconds

    fault = int(os.environ.get(FAULT_ENV, "0") or 0)
    pause = int(os.environ.get(PAUSE_ENV, "0") or 0)
    undos: list[tuple[str, Undo]] = []
    previous = _signal.signal(_signal.SIGTERM, _on_sigterm)
    try:
        for number, step in enumerate(steps, 1):
            if verbose:
                sys.stderr.write(f"+ {step.command}\n")
            if number == pause:
                sys.stderr.write(f"pipework: paused before step {number}\n")
                sys.stderr.flush()
                time.sleep(60)
            if number == fault:
                raise NetlinkError(5, "injected fault at", f"step {number} ({step.command})")
            undo = step.do()
            if undo is not None:
                undos.append((step.command, undo))
        undos.clear()
    except BaseException as exc:
        failures = _rollback(undos, verbose)
        if failures and isinstance(exc, PipeworkError):
            exc.message += f" (rolled back, but {'; '.join(failures)})"
        raise
    finally:
        _signal.signal(_signal.SIGTERM, previous)


def _rollback(undos: list[tuple[str, Undo]], verbose: bool) -> list[str]:
    failures = []
    while undos:
        command, undo = undos.pop()
        if verbose:
            sys.stderr.write(f"- undo: {command}\n")
        try:
            undo()
        except Exception as exc:  # keep undoing the rest; report what stayed
            failures.append(f"could not undo '{command}': {exc}")
    return failures
