"""``pipework apply`` (one pass) and ``pipework watch`` (a pass, then every start).

The watcher connects every source it finds on the host (Docker's event stream, the
LXC payload cgroups, the attachments.d files), reconciles everything declared, then
waits on the sources' fds. A start is reconciled at once: the started guests'
declarations, from every source (a file may declare a Docker container). A guest
found not running yet (an LXC payload cgroup appears before its init has a network
namespace) is tried again with back-off for a while. A source that loses its
stream (a daemon restarting) is reconnected with back-off, and everything it
declares is reconciled again once it is back: a start missed during the gap is
caught then. Stale OVS ports and DHCP state of guests that died are collected (gc)
after events, at most every few seconds, and once a minute otherwise.
"""

from __future__ import annotations

import os
import time

from ..errors import PipeworkError
from .declare import Declaration
from .log import Log
from .reconcile import Reconciler, Tally
from .source import Source, SourceLost, same_guest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef
    from .declare import BadDeclaration

DEFAULT_DIR = "/etc/pipework/attachments.d"
DOCKER_SOCKET = "/var/run/docker.sock"
#: reconnecting a lost source: first wait, longest wait (seconds)
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 10.0
#: a started guest not running yet is tried again at these delays (seconds)
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
GC_AFTER_EVENTS, GC_EVERY = 5.0, 60.0
#: seconds between looks for kept DHCP clients of guests that are gone: cheap (a
#: directory of records), and a stop is no event here (only starts are followed),
#: while such a client keeps a dead guest's address answering
ORPHANS_EVERY = 3.0


def make_sources(directory: str) -> list[Source]:
    """The sources this host has: the files always, LXC and Docker when present."""
    from .files import FileSource
    from .lxc import LxcSource

    found: list[Source] = [FileSource(directory), LxcSource()]
    if os.path.exists(DOCKER_SOCKET):
        from .docker import DockerSource

        found.append(DockerSource())
    if os.path.isdir("/var/lib/containers"):  # Podman is installed (its log may come later)
        from .podman import PodmanSource

        found.append(PodmanSource())
    return found


def apply(
    directory: str,
    *,
    json: bool = False,
    guest: GuestRef | None = None,
    policy: str | None = None,
) -> int:
    """One reconciliation of everything declared (or of ``guest``'s declarations):
    exit status 0 when every declaration of a running guest is as declared (with
    ``guest``: and that guest runs), 1 otherwise."""
    log = Log(json=json)
    sources = make_sources(directory)
    try:
        found: list[Declaration | BadDeclaration] = []
        for source in sources:
            try:
                found += source.running() if guest is None else source.declarations_for([guest])
            except PipeworkError as exc:
                log.say("failed", f"{source.name}: {exc}")
                return 1
        tally = Reconciler(log, policy).run(found)
    finally:
        for source in sources:
            source.close()
    # a declared guest that is not running is no mismatch, unless it is the one asked for
    return 0 if tally.ok and not (guest is not None and tally.waiting) else 1


class _Stop(Exception):
    """SIGTERM or SIGINT: the watcher ends (nothing to undo: the kernel holds it all)."""


class Watcher:
    """The event loop of ``pipework watch``."""

    def __init__(self, sources: list[Source], log: Log, policy: str | None = None) -> None:
        self.sources = sources
        self.log = log
        self.reconciler = Reconciler(log, policy)
        self.connected: set[Source] = set()
        self.retry_at: dict[Source, float] = {}
        self.backoff: dict[Source, float] = {}
        #: (when, attempt, guests) of started guests to look at again
        self.pending: list[tuple[float, int, list[GuestRef]]] = []
        self.last_gc = 0.0
        self.last_orphans = 0.0
        self.events_since_gc = False

    def start(self) -> Tally:
        """Connect what can be connected, then one full pass."""
        for source in self.sources:
            self._connect(source, full=False)
        return self._full()

    def _full(self, only: Source | None = None) -> Tally:
        found: list[Declaration | BadDeclaration] = []
        # a source not connected has its full pass when it connects (not a second
        # complaint now that it is down)
        for source in [s for s in self.sources if s in self.connected] if only is None else [only]:
            try:
                found += source.running()
            except PipeworkError as exc:
                self.log.say("failed", f"{source.name}: {exc}")
        return self.reconciler.run(found)

    def _connect(self, source: Source, *, full: bool = True) -> None:
        try:
            ok = source.reconnect()
        except PipeworkError as exc:
            ok = False
            why = str(exc)
        else:
            why = "not reachable"
        now = time.monotonic()
        if not ok:
            wait = self.backoff.get(source, BACKOFF_FIRST)
            if source not in self.backoff:
                self.log.say("waiting", f"{source.name}: {why}; trying again with back-off")
            self.backoff[source] = min(wait * 2, BACKOFF_MAX)
            self.retry_at[source] = now + wait
            return
        if source in self.backoff:
            self.log.say("connected", f"{source.name}: reconnected; reconciling what it declares")
        self.backoff.pop(source, None)
        self.retry_at.pop(source, None)
        self.connected.add(source)
        if full:
            self._full(source)

    def _lost(self, source: Source, why: str) -> None:
        self.connected.discard(source)
        self.log.say("lost", f"{source.name}: {why}; reconnecting")
        self.backoff[source] = BACKOFF_FIRST
        self.retry_at[source] = time.monotonic()

    def run(self, *, until: float | None = None) -> None:
        """Follow the sources until SIGTERM/SIGINT (or ``until``, a monotonic time)."""
        import select

        while until is None or time.monotonic() < until:
            now = time.monotonic()
            for source, when in list(self.retry_at.items()):
                if when <= now:
                    self._connect(source)
            poller = select.poll()
            by_fd: dict[int, Source] = {}
            for source in self.connected:
                fd = source.fileno()
                if fd is not None:
                    by_fd[fd] = source
                    poller.register(fd, select.POLLIN)
            ready = poller.poll(self._timeout(until) * 1000)
            started: list[GuestRef] = []
            everything: list[Source] = []
            for fd, _events in ready:
                source = by_fd[fd]
                try:
                    got = source.read()
                except SourceLost as exc:
                    self._lost(source, exc.message)
                    continue
                if got is None:
                    everything.append(source)
                else:
                    started += got
            for source in everything:
                self._full(source)
            if started:
                self._reconcile_started(started, attempt=0)
            self._due_retries()
            self._maybe_gc(bool(started or everything))

    def _timeout(self, until: float | None) -> float:
        now = time.monotonic()
        deadlines = list(self.retry_at.values()) + [when for when, _, _ in self.pending]
        deadlines.append(self.last_gc + GC_EVERY)
        deadlines.append(self.last_orphans + ORPHANS_EVERY)
        if until is not None:
            deadlines.append(until)
        return max(0.0, min(deadlines) - now)

    def _reconcile_started(self, guests: list[GuestRef], attempt: int) -> None:
        found: list[Declaration | BadDeclaration] = []
        for source in self.sources:
            try:
                found += source.declarations_for(guests)
            except PipeworkError as exc:
                self.log.say("failed", f"{source.name}: {exc}")
        tally = self.reconciler.run(found)
        if tally.waiting and attempt < len(RETRY_DELAYS):
            waiting = [
                g
                for g in guests
                if any(
                    self.reconciler.last.get((str(d.guest), d.spec.container_ifname)) == "waiting"
                    for d in found
                    if isinstance(d, Declaration) and same_guest(d.guest, g)
                )
            ]
            if waiting:
                when = time.monotonic() + RETRY_DELAYS[attempt]
                self.pending.append((when, attempt + 1, waiting))

    def _due_retries(self) -> None:
        now = time.monotonic()
        due = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        for _when, attempt, guests in due:
            self._reconcile_started(guests, attempt)

    def _maybe_gc(self, events: bool) -> None:
        now = time.monotonic()
        self.events_since_gc = self.events_since_gc or events
        wait = GC_AFTER_EVENTS if self.events_since_gc else GC_EVERY
        if now - self.last_gc < wait:
            if now - self.last_orphans >= ORPHANS_EVERY:
                self._stop_orphans(now)
            return
        self.last_gc = now
        self.events_since_gc = False
        from ..ops.gc import collect

        try:
            collected = collect()
        except PipeworkError as exc:
            self.log.say("failed", f"gc: {exc}")
            return
        self.last_orphans = now  # (collect stops them too)
        for key in ("removed", "bridges", "records", "dhcp_state"):
            for what in collected[key]:
                self.log.say("collected", f"{what} (what a guest that is gone left behind)")
        for what in collected["dhcp_clients"]:
            self.log.say("collected", f"stopped the DHCP client {what}")
        for line in collected["failed"]:
            self.log.say("failed", f"gc: {line}")

    def _stop_orphans(self, now: float) -> None:
        from ..dhcp.orphans import stop_orphans

        self.last_orphans = now
        stopped, failed = stop_orphans()
        for what in stopped:
            self.log.say("collected", f"stopped the DHCP client {what}")
        for line in failed:
            self.log.say("failed", f"gc: {line}")

    def close(self) -> None:
        for source in self.sources:
            source.close()


def watch(
    directory: str, *, json: bool = False, once: bool = False, policy: str | None = None
) -> int:
    """``pipework watch``: until SIGTERM/SIGINT; with ``once``, one pass (as apply)."""
    import gc
    import signal

    gc.enable()  # the command turns the cyclic collector off; this runs for days
    log = Log(json=json)
    watcher = Watcher(make_sources(directory), log, policy)

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        tally = watcher.start()
        if once:
            return 0 if tally.ok else 1
        log.say("watching", ", ".join(s.name for s in watcher.sources))
        watcher.run()
    except _Stop:
        log.say("stopped", "signal received; what is attached stays attached")
    finally:
        watcher.close()
    return 0
