"""What ``watch`` asks of a source of declarations (a runtime's labels and events, the
attachments.d files): the declarations of what runs now, an fd to wait on, and the
guests that started since.

A source that loses its stream (a daemon restarting) says so by raising
``SourceLost`` from ``read``; the loop then calls ``reconnect`` with back-off and,
once it succeeds, asks ``running()`` again: what started during the gap is
reconciled then, so no start is lost for good.
"""

from __future__ import annotations

from ..errors import PipeworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef
    from .declare import BadDeclaration, Declaration

    Found = list[Declaration | BadDeclaration]


class SourceLost(PipeworkError):
    """The source's event stream ended or failed; the message says how."""


class Source:
    """One source of declarations. Subclasses set ``name`` and override the methods."""

    name = "source"

    def reconnect(self) -> bool:
        """(Re)open the event stream; False when it cannot be opened yet (the daemon
        is down): the loop tries again later, backing off."""
        return True

    def fileno(self) -> int | None:
        """The fd that becomes readable when events arrive; None while disconnected."""
        return None

    def read(self) -> list[GuestRef] | None:
        """Called when ``fileno()`` is readable: the guests that started (possibly none);
        None when everything this source declares should be looked at again (a file
        changed). Must not block; raises SourceLost when the stream is gone."""
        return []

    def running(self) -> Found:
        """The declarations of every running guest this source knows (a full pass)."""
        return []

    def declarations_for(self, guests: list[GuestRef]) -> Found:
        """The declarations this source has for these guests (which just started)."""
        return []

    def close(self) -> None:
        pass


def same_guest(declared: GuestRef, started: GuestRef) -> bool:
    """Whether a declaration's guest is a guest an event named: the same reference, or
    a bare name (no runtime prefix) equal to the started guest's name."""
    if declared == started:
        return True
    return declared.kind is None and declared.value == started.value
