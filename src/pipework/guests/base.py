"""What every runtime's resolver implements, and what it reports.

A resolver is one module of this package, named like its runtime, holding
``RESOLVER``; ``names.RUNTIMES`` lists them in the order a bare name asks
them. Each reports a ``Finding``: the candidates it found, and a line on what it
saw while looking (that line is what "cannot find guest" says, runtime by runtime).
"""

from __future__ import annotations

from .._lowlevel.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar

    from ..names import GuestRef


class Candidate(Record):
    """A guest one resolver found, not yet pinned."""

    runtime: str  # the resolver's name
    name: str
    pid: int | None
    ns_path: str  # the namespace file to open
    detail: str  # how it was found, for messages and `inspect`
    check: str | None = None  # what must still hold after pinning: a cgroup path, an id
    starttime: int | None = None  # of ``pid``, read the moment the resolver saw it

    def __post_init__(self) -> None:
        if self.pid is not None and self.starttime is None:
            from .._lowlevel.procfs import process_starttime

            self._derive("starttime", process_starttime(self.pid))

    @property
    def label(self) -> str:
        text = f"{self.runtime}:{self.name}"
        return f"{text} (pid {self.pid})" if self.pid is not None else text


class Finding:
    """The candidates of one resolver, and a line on what it saw (for error messages)."""

    __slots__ = ("ambiguous", "candidates", "resolver", "saw")

    def __init__(self, resolver: str) -> None:
        self.resolver = resolver
        self.candidates: list[Candidate] = []
        self.saw: list[str] = []
        #: guests one identifier matches inside this runtime (a short Docker ID prefix)
        self.ambiguous: list[str] = []

    def summary(self) -> str:
        return f"{self.resolver}: {'; '.join(self.saw) if self.saw else 'nothing'}"


class Resolver:
    """Finds the guests of one runtime; subclasses override what their runtime does."""

    #: the runtime's name: its prefix (``docker:web``) and its module's name
    name: ClassVar[str] = ""

    def find(self, ref: GuestRef) -> Finding:
        """The guests ``ref`` names in this runtime (the fast, usual way)."""
        raise NotImplementedError(self.name)

    def find_more(self, ref: GuestRef) -> Finding | None:
        """A slower search, asked only when no resolver found anything the fast way."""
        return None

    def still_in_container(self, pid: int, check: str) -> bool:
        """After pinning: is ``pid`` still a process of the guest the candidate named?
        (``check`` is the candidate's; resolvers without one are never asked.)"""
        return True
