"""Apply a plan of steps; if any step fails, undo everything already done, newest first.

Each step registers the undo of every change the moment the kernel confirms it
(``steps.Rollback``), so an undo exists exactly for what really happened, even
when the step fails half-way: a bridge another process created first is not ours
to delete, and a default route is put back as it was, attribute for attribute.

SIGINT and SIGTERM do not interrupt a step: while a plan runs they only set a
flag, checked between steps. The run then stops, rolls back (a second signal
cannot cut the rollback short either) and raises ``Interrupted``. This is
``contextlib.ExitStack`` + ``pop_all()`` in spirit; a list is used because
importing contextlib costs ~5 ms on the reference machine.
"""

from __future__ import annotations

import os
import sys
import time
from errno import EIO

from ..errors import NetlinkError, PipeworkError
from ..steps import Rollback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..steps import Step

#: Test hooks, used by the integration tests and the soak script to prove the
#: rollback: make the Nth step (1-based) fail as if the kernel had said EIO, or
#: stop before it until a signal arrives (at most a minute).
FAULT_ENV = "PIPEWORK_INJECT_FAULT"
PAUSE_ENV = "PIPEWORK_INJECT_PAUSE"
RESUME_ENV = "PIPEWORK_INJECT_RESUME"  # a file whose appearance ends the pause
_PAUSE_MAX_S = 60.0
_SIGINT, _SIGTERM = 2, 15


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived while a plan was being applied; it was rolled back."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.exit_code = 128 + signum


class _DeferredSignals:
    """While active, SIGINT/SIGTERM only record themselves (main thread only)."""

    __slots__ = ("_previous", "received")

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}
        self.received = 0

    def _record(self, signum: int, frame: object) -> None:
        if not self.received:
            self.received = signum

    def __enter__(self) -> _DeferredSignals:
        import _signal  # type: ignore[import-not-found]  # `signal` imports enum: milliseconds

        for signum in (_SIGINT, _SIGTERM):
            try:
                self._previous[signum] = _signal.signal(signum, self._record)
            except ValueError:  # not the main thread: signals cannot be handled here
                break
        return self

    def __exit__(self, *exc: object) -> None:
        import _signal

        for signum, handler in self._previous.items():
            _signal.signal(signum, handler)

    def check(self) -> None:
        if self.received:
            raise Interrupted(self.received)


def _env_step(name: str) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isascii() and value.isdigit() else 0


def apply(steps: Sequence[Step], *, verbose: bool = False) -> list[str]:
    """Run ``steps`` in order; on any failure undo everything, then re-raise.

    The exception raised carries ``rolled_back = True`` and, if some undo failed,
    the reasons in ``rollback_failures``. Returns notes for the caller to show.
    """
    fault = _env_step(FAULT_ENV)
    pause = _env_step(PAUSE_ENV)
    rollback = Rollback(verbose)
    with _DeferredSignals() as signals:
        try:
            for number, step in enumerate(steps, 1):
                signals.check()
                if number == pause:
                    _pause(number, signals)
                if verbose:
                    sys.stderr.write(f"+ {step.command}\n")
                if number == fault:
                    raise NetlinkError(EIO, "injected fault at", f"step {number} ({step.command})")
                step.do(rollback)
            signals.check()
        except BaseException as exc:
            rollback.unwind()
            exc.rolled_back = True  # type: ignore[attr-defined]
            exc.rollback_failures = rollback.failures  # type: ignore[attr-defined]
            exc.rollback_notes = rollback.notes  # type: ignore[attr-defined]
            extra = rollback.failures + rollback.notes
            if extra and isinstance(exc, PipeworkError):
                exc.message += f" (rolled back, but {'; '.join(extra)})"
            raise
    rollback.forget()
    return rollback.notes


def _pause(number: int, signals: _DeferredSignals) -> None:
    sys.stderr.write(f"pipework: paused before step {number}\n")
    sys.stderr.flush()
    resume = os.environ.get(RESUME_ENV, "")
    deadline = time.monotonic() + _PAUSE_MAX_S
    while not signals.received and time.monotonic() < deadline:
        if resume and os.path.exists(resume):
            break
        time.sleep(0.01)
    signals.check()
