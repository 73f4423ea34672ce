"""What one resolver reports: the guests it found, and what it saw while looking."""

from __future__ import annotations

from .._record import Record

PROC_ROOT = "/proc"  # tests point this at a fixture tree


def process_starttime(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), or None if it is gone.

    Read as soon as a resolver learns a pid and again after its namespace is
    opened: equal values mean the same process, not a new one that got the pid.
    """
    try:
        with open(f"{PROC_ROOT}/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: fields resume after the last ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of proc(5), the 20th after the name
    except (IndexError, ValueError):
        return None


class Candidate(Record):
    """A guest one resolver found, not yet pinned."""

    __slots__ = ("check", "detail", "name", "ns_path", "pid", "runtime", "starttime")
    runtime: str  # lxc | docker | netns | pid
    name: str
    pid: int | None
    ns_path: str  # the namespace file to open
    detail: str  # how it was found, for messages and `inspect`
    check: str | None  # what must still hold after pinning: a cgroup path or a container id
    starttime: int | None  # of ``pid`` when the resolver saw it

    def __init__(
        self,
        runtime: str,
        name: str,
        pid: int | None,
        ns_path: str,
        detail: str,
        check: str | None = None,
    ) -> None:
        starttime = process_starttime(pid) if pid is not None else None
        self._init(
            runtime=runtime,
            name=name,
            pid=pid,
            ns_path=ns_path,
            detail=detail,
            check=check,
            starttime=starttime,
        )

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
