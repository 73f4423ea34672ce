"""The LXC source: a container starting is its payload cgroup appearing.

LXC creates a payload cgroup for each container it starts, named as its version
names them (see ``guests.cgroup``): ``lxc.payload.NAME`` (LXC >= 4.0),
``lxc.payload/NAME`` (3.1), ``lxc/NAME`` (<= 3.0), at the root of every mounted
hierarchy. inotify on those roots (and on the ``lxc.payload`` and ``lxc`` parents
once they exist) reports the mkdir, whichever tool started the container. The
payload cgroup appears before the container's init has its network namespace
ready: the guest then comes back "waiting" and the loop tries it again.

A name is reported when its payload cgroup appears in a first hierarchy, not again
for the same start in the others (each hierarchy gets its own mkdir), and again
after it was removed from all of them (the container stopped).

Unprivileged containers, whose payload cgroups live below a delegated cgroup, are
not followed (a walk of the whole tree on every mkdir would not stay cheap): their
declarations are still reconciled at start and whenever a file changes, and
``lxc_hook_line`` covers them.

LXC containers carry no labels: what they get is declared in attachments.d files
(``files``), which the loop asks for the started names.
"""

from __future__ import annotations

import os

from .._lowlevel.record import Record
from ..errors import UsageError
from ..names import GuestRef, check_guest_name
from .source import Source, SourceLost

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._lowlevel.inotify import Event, Inotify
    from .declare import BadDeclaration, Declaration

FLAT_PREFIX = "lxc.payload."
#: parents whose children are container names: LXC 3.1's and LXC <= 3.0's
PARENTS = ("lxc.payload", "lxc")


def payload_name(entry: str, parent: str | None = None) -> str | None:
    """The container a new cgroup directory is the payload of, or None.

    ``entry`` is the directory's name; ``parent`` the watched parent it appeared in
    (None: a hierarchy's root). Monitor cgroups (``lxc.monitor.NAME``, whose process
    lives in the host's network namespace) and names pipework refuses are not
    containers.
    """
    if parent is None:
        if not entry.startswith(FLAT_PREFIX):
            return None
        name = entry[len(FLAT_PREFIX) :]
    elif parent in PARENTS:
        name = entry
    else:
        return None
    try:
        return check_guest_name(name, "LXC container name")
    except UsageError:
        return None


class _Watch(Record):
    """A watched directory: a hierarchy's root or an old-layout parent below it."""

    root: str
    parent: str | None  # None: the root itself

    @property
    def path(self) -> str:
        return self.root if self.parent is None else f"{self.root}/{self.parent}"


class LxcSource(Source):
    """Started LXC containers, from their payload cgroups appearing."""

    name = "lxc"

    def __init__(self, cgroup_root: str | None = None) -> None:
        """``cgroup_root``: where the hierarchies are mounted (/sys/fs/cgroup; tests
        pass a directory tree standing in for it)."""
        self.cgroup_root = cgroup_root
        self._inotify: Inotify | None = None
        self._watches: dict[int, _Watch] = {}
        #: container name -> the hierarchy roots its payload cgroup is in now
        self._live: dict[str, set[str]] = {}

    def _roots(self) -> list[str]:
        from ..guests import cgroup

        if self.cgroup_root is not None:
            mounts = cgroup.standard_mounts(self.cgroup_root)
            if not mounts:  # a bare directory standing in for a single hierarchy
                return [self.cgroup_root] if os.path.isdir(self.cgroup_root) else []
        else:
            mounts = cgroup.standard_mounts() or cgroup.read_mounts()
        return [mount.path for mount in mounts]

    def reconnect(self) -> bool:
        from .._lowlevel import inotify as ino

        self.close()
        roots = self._roots()
        if not roots:
            raise SourceLost("no cgroup hierarchy is mounted")
        inotify = ino.Inotify()
        self._inotify = inotify
        for root in roots:
            try:
                self._watch(root, None)
            except OSError as exc:
                self.close()
                raise SourceLost(f"cannot watch {root}: {exc.strerror}") from None
            for parent in PARENTS:
                if os.path.isdir(f"{root}/{parent}"):
                    self._watch_parent(root, parent)
        # what runs already is not a start: its declarations come from the full pass
        self._live = {}
        for watch in list(self._watches.values()):
            for name in self._children(watch):
                self._live.setdefault(name, set()).add(watch.root)
        return True

    def _watch(self, root: str, parent: str | None) -> None:
        from .._lowlevel import inotify as ino

        assert self._inotify is not None
        watch = _Watch(root, parent)
        mask = ino.IN_CREATE | ino.IN_DELETE | ino.IN_ONLYDIR | ino.IN_DONT_FOLLOW
        if parent is not None:
            mask |= ino.IN_DELETE_SELF  # the parent goes when its last container stops
        self._watches[self._inotify.add_watch(watch.path, mask)] = watch

    def _watch_parent(self, root: str, parent: str) -> list[str]:
        """Watch an old-layout parent; the containers already in it (created between
        its mkdir and the watch: LXC makes both at once)."""
        try:
            self._watch(root, parent)
        except OSError:
            return []  # removed again already: its containers stopped
        return self._children(_Watch(root, parent))

    def _children(self, watch: _Watch) -> list[str]:
        try:
            entries = [e.name for e in os.scandir(watch.path) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        names = (payload_name(entry, watch.parent) for entry in entries)
        return sorted(name for name in names if name is not None)

    def fileno(self) -> int | None:
        return None if self._inotify is None else self._inotify.fileno()

    def read(self) -> list[GuestRef] | None:
        from .._lowlevel import inotify as ino

        if self._inotify is None:
            raise SourceLost("the cgroup hierarchies are not watched")
        started: list[str] = []
        for event in self._inotify.read():
            if event.mask & ino.IN_Q_OVERFLOW:
                # starts were lost: everything declared is looked at again
                self._rescan()
                return None
            watch = self._watches.get(event.wd)
            if watch is None:
                continue
            if event.mask & (ino.IN_IGNORED | ino.IN_DELETE_SELF):
                self._forget(event.wd, watch)
                continue
            self._apply(event, watch, started)
        return [GuestRef("lxc", name) for name in started]

    def _apply(self, event: Event, watch: _Watch, started: list[str]) -> None:
        from .._lowlevel import inotify as ino

        if not event.mask & ino.IN_ISDIR:
            return
        if event.mask & ino.IN_CREATE:
            if watch.parent is None and event.name in PARENTS:
                for inside in self._watch_parent(watch.root, event.name):
                    self._appeared(inside, watch.root, started)
                return
            name = payload_name(event.name, watch.parent)
            if name is not None:
                self._appeared(name, watch.root, started)
        elif event.mask & ino.IN_DELETE:
            name = payload_name(event.name, watch.parent)
            if name is not None:
                self._gone(name, watch.root)

    def _appeared(self, name: str, root: str, started: list[str]) -> None:
        roots = self._live.setdefault(name, set())
        if not roots and name not in started:
            started.append(name)
        roots.add(root)

    def _gone(self, name: str, root: str) -> None:
        roots = self._live.get(name)
        if roots is not None:
            roots.discard(root)
            if not roots:
                del self._live[name]

    def _forget(self, wd: int, watch: _Watch) -> None:
        del self._watches[wd]
        if watch.parent is None:
            return  # a hierarchy's root went away (unmounted): kept out until reconnect
        # the parent is gone, and with it every container in it
        for name in list(self._live):
            if not os.path.isdir(f"{watch.root}/{watch.parent}/{name}"):
                self._gone(name, watch.root)

    def _rescan(self) -> None:
        live: dict[str, set[str]] = {}
        for watch in self._watches.values():
            for name in self._children(watch):
                live.setdefault(name, set()).add(watch.root)
        self._live = live

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._watches = {}

    # LXC containers declare nothing themselves: their declarations are in files
    def running(self) -> list[Declaration | BadDeclaration]:
        return []

    def declarations_for(self, guests: list[GuestRef]) -> list[Declaration | BadDeclaration]:
        return []


def lxc_hook_line(
    name: str, *, program: list[str] | None = None, directory: str | None = None
) -> str:
    """The line to add to an LXC container's config so that LXC itself runs
    ``pipework apply --guest lxc:NAME`` each time the container starts.

    ``lxc.hook.start-host`` runs on the host once the container's namespaces and
    cgroups are set up, before its init runs; LXC runs it through ``sh -c`` as
    ``exec HOOK NAME lxc start-host`` (with ``lxc.hook.version = 0``, the default;
    ``exec HOOK`` with 1), and waits for it and for its output to close. The
    container's monitor answers nothing (``lxc-info`` included, which pipework asks
    for the init pid) until the hook has returned, so pipework cannot attach from
    inside the hook: the line starts it in the background, detached from the hook's
    output, and returns at once; it attaches as soon as the container runs. Its log
    goes to syslog through ``logger`` (dropped where there is no syslog). The hook's
    own arguments land in the inner shell's ``$0``… and are ignored, so the line
    works with either hook version.
    """
    import shlex

    check_guest_name(name, "LXC container name")
    argv = program if program is not None else _program()
    words = [*argv, "apply", "--guest", f"lxc:{name}"]
    if directory is not None:
        words += ["--dir", directory]
    command = " ".join(shlex.quote(word) for word in words)
    # without a syslog socket logger fails at once: cat then drains the output, so
    # pipework never writes into a closed pipe half-way through its attachments
    drain = "{ logger -t pipework 2>/dev/null || cat >/dev/null; }"
    script = f"({command} 2>&1 | {drain}) </dev/null >/dev/null 2>&1 &"
    return f"lxc.hook.start-host = /bin/sh -c {shlex.quote(script)}"


def _program() -> list[str]:
    """How this pipework can be run again from a hook: its absolute path (the hook's
    PATH is whatever started LXC), else the interpreter and the package."""
    import sys

    from .._lowlevel.programs import which

    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "pipework" and os.path.isfile(argv0):
        return [os.path.abspath(argv0)]
    found = which("pipework")
    if found is not None:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "pipework"]
