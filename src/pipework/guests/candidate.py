"""What one resolver reports: the guests it found, and what it saw while looking."""

from __future__ import annotations

from .._record import Record


class Candidate(Record):
    """A guest one resolver found, not yet pinned."""

    __slots__ = ("check", "detail", "name", "ns_path", "pid", "runtime")
    runtime: str  # lxc | docker | netns | pid
    name: str
    pid: int | None
    ns_path: str  # the namespace file to open
    detail: str  # how it was found, for messages and `inspect`
    check: str | None  # what must still hold after pinning: a cgroup path or a container id

    def __init__(
        self,
        runtime: str,
        name: str,
        pid: int | None,
        ns_path: str,
        detail: str,
        check: str | None = None,
    ) -> None:
        self._init(runtime=runtime, name=name, pid=pid, ns_path=ns_path, detail=detail, check=check)

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
