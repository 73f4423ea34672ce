"""A change to the host or a guest, and the undo stack of one run.

A ``Step`` is described as the ``ip`` commands doing it (what ``-v`` prints) and
does its change with a ``Rollback``, onto which it pushes the undo of every change
the moment the kernel confirms it: an undo exists exactly for what really
happened, even when the step fails half-way. Drivers, DHCP and the verbs build
steps; ``engine.executor`` applies them and unwinds the stack on failure.
"""

from __future__ import annotations

import sys
from errno import EADDRNOTAVAIL, ENODEV, ESRCH

from .errors import NetlinkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    #: An undo; it may return a note (something it chose to leave, and why).
    Undo = Callable[[], "str | None"]
    #: records an undo: Rollback.push, or a no-op where nothing is rolled back
    Push = Callable[[str, Undo], None]


class Step:
    """One change to the host or the guest, described as the `ip` commands doing it."""

    __slots__ = ("command", "do")

    def __init__(self, command: str, do: Callable[[Rollback], None]) -> None:
        self.command = command
        self.do = do

    def __repr__(self) -> str:
        return f"Step({self.command!r})"


class Rollback:
    """The undo stack of one run; steps push onto it as the kernel confirms each change."""

    __slots__ = ("_undos", "failures", "notes", "verbose")

    def __init__(self, verbose: bool = False) -> None:
        self._undos: list[tuple[str, Undo]] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.verbose = verbose

    def push(self, what: str, undo: Undo) -> None:
        self._undos.append((what, undo))

    def unwind(self) -> None:
        """Run every undo, newest first; keep going past failures and record them."""
        while self._undos:
            what, undo = self._undos.pop()
            if self.verbose:
                sys.stderr.write(f"- undo: {what}\n")
            try:
                note = undo()
            except Exception as exc:
                self.failures.append(f"could not undo '{what}': {exc}")
            else:
                if note:
                    self.notes.append(note)

    def forget(self) -> None:
        self._undos.clear()


#: errnos of an address or route that went with its interface
ROUTE_OR_ADDRESS_GONE = (ENODEV, ESRCH, EADDRNOTAVAIL)


def gone_ok(call: Callable[[], object]) -> Callable[[], None]:
    """An undo that may find its object already gone with the guest's interface (a
    route or an address removed along with it): that is not a failure of the undo."""

    def undo() -> None:
        try:
            call()
        except NetlinkError as exc:
            if exc.errno not in ROUTE_OR_ADDRESS_GONE:
                raise

    return undo


def no_undo(_what: str, _undo: Undo) -> None:
    """A Push for changes nobody will roll back (the DHCP renewal process)."""
    return None
