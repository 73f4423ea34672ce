"""Podman (rootful) as a source of declarations: the labels and ``pipework_cmd*``
variables of running containers, and their ``start`` events, from Podman's own files.

Podman has no daemon to subscribe to: each ``podman`` process appends its events, one
JSON object a line, to the events log when ``events_logger`` is ``"file"`` (Debian's
Podman 4.3 does so, in ``/run/libpod/events/events.log``). This source follows that
file as ``tail -F`` would: opened (root's regular file, never through a symbolic
link) and read from its end at each reconnect (what already runs is the full pass's),
then inotify says when it grows (IN_MODIFY) and when it is replaced or removed
(IN_MOVE_SELF, IN_DELETE_SELF, IN_ATTRIB: the link count fell, which is how a file
replaced by a rename over it shows, as a rotation may replace it). Replaced, removed
or truncated ends the stream (``SourceLost``): the loop reopens it and makes a full
pass, so a start in the gap is not lost. Only complete lines are read; a line longer
than MAX_LINE is skipped, a backlog larger than READ_BUDGET is skipped too and turned
into a full pass. A missing log (no Podman run since boot) is retried with back-off.

What is read, and why each file:

* the events log: ``start`` events name the container (its full ID, its name); their
  ``Attributes`` are the container's labels (Podman writes them into every event of
  the container). It is also the only place, besides the libpod database (a BoltDB
  file pipework does not parse), where labels can be read without running
  ``podman``: a full pass takes each running container's labels from its latest
  event still in the log (the newest MAX_SCAN bytes). A container whose events have
  all been rotated out of the log shows no labels until it starts again.
* ``GRAPHROOT/DRIVER-containers/containers.json`` (containers/storage): the IDs and
  names of the containers, as ``guests.podman`` reads it.
* ``RUNROOT/DRIVER-containers/ID/userdata/pidfile`` (conmon): whether a container runs,
  decided as ``guests.podman`` decides it (a live pid that is the container's).
* ``GRAPHROOT/DRIVER-containers/ID/userdata/config.json`` (the OCI runtime spec Podman
  writes at each start): ``process.env`` for the ``pipework_cmd*`` variables and
  ``hostname`` for @HOSTNAME@. Its annotations hold no labels (Podman 4.3 keeps
  them in its database only), so they are not read.

Rootless containers (each user's own log under /run/user/UID) are not followed.
"""

from __future__ import annotations

import os

from ..errors import PipeworkError, UsageError
from ..names import GuestRef, check_guest_name
from .source import Source, SourceLost

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._lowlevel.inotify import Inotify
    from .declare import BadDeclaration, Declaration

    Found = list[Declaration | BadDeclaration]

EVENTS_LOG = "/run/libpod/events/events.log"
#: one event line at most (a container's labels are in it)
MAX_LINE = 1 << 20
#: what one read() takes; a larger backlog is skipped and becomes a full pass
READ_BUDGET = 4 << 20
#: how much of the log's end a full pass reads for the labels of running containers
MAX_SCAN = 32 << 20
MAX_CONFIG = 4 << 20
#: the labels of recent start events, kept for declarations_for (oldest dropped first)
MAX_CACHED = 1024
COMPOSE_PROJECT = "com.docker.compose.project"
_HEX = frozenset("0123456789abcdef")
_S_IFMT, _S_IFREG = 0o170000, 0o100000


def is_full_id(value: object) -> bool:
    """A container ID as containers/storage makes it: 64 lower-case hex digits."""
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def container_name(value: object) -> str | None:
    """A container's name if a user could have typed it (and it has no ``@``, which
    would read as a rootless container's user); None otherwise."""
    if not isinstance(value, str) or "@" in value:
        return None
    try:
        return check_guest_name(value)
    except UsageError:
        return None


def _open_root_file(path: str, owner: int = 0) -> int | None:
    """An fd on the regular file ``path`` (not a symbolic link) when ``owner`` (root)
    owns it, or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_mode & _S_IFMT) != _S_IFREG or st.st_uid != owner:
        os.close(fd)
        return None
    return fd


# ------------------------------------------------------------------ the events log


class LogFollower:
    """The lines appended to one file from the moment it is opened (see the module
    docstring). ``read_lines`` never blocks; ``SourceLost`` when the file was replaced,
    removed or truncated."""

    def __init__(self, path: str, owner: int = 0) -> None:
        self.path = path
        self.owner = owner  # who must own the file (root; tests: themselves)
        self.fd: int | None = None
        self.inotify: Inotify | None = None
        self.offset = 0
        self.buf = bytearray()  # the start of a line whose end has not come yet
        self.discarding = False  # inside a line longer than MAX_LINE

    def open(self) -> bool:
        """Open the file at its end and watch it; False when it is not there (yet)."""
        from .._lowlevel import inotify as ino

        self.close()
        fd = _open_root_file(self.path, self.owner)
        if fd is None:
            return False
        inotify = ino.Inotify()
        self.fd, self.inotify = fd, inotify
        mask = ino.IN_MODIFY | ino.IN_MOVE_SELF | ino.IN_DELETE_SELF | ino.IN_ATTRIB
        try:
            inotify.add_watch(self.path, mask | ino.IN_DONT_FOLLOW)
            opened, named = os.fstat(fd), os.stat(self.path, follow_symlinks=False)
        except OSError:
            self.close()
            return False  # removed again in between: retried with back-off
        if (opened.st_dev, opened.st_ino) != (named.st_dev, named.st_ino):
            self.close()
            raise SourceLost(f"{self.path} was replaced while it was being opened")
        self.offset = opened.st_size
        return True

    def fileno(self) -> int | None:
        return None if self.inotify is None else self.inotify.fileno()

    def read_lines(self) -> list[bytes] | None:
        """The complete lines appended since the last call (without their newline);
        None when more than READ_BUDGET bytes were waiting: they were skipped, the
        caller looks at everything again."""
        from .._lowlevel import inotify as ino

        if self.fd is None or self.inotify is None:
            raise SourceLost(f"{self.path} is not open")
        gone = ino.IN_MOVE_SELF | ino.IN_DELETE_SELF | ino.IN_ATTRIB | ino.IN_IGNORED
        for event in self.inotify.read():
            if event.mask & gone:
                self.close()
                raise SourceLost(f"{self.path} was rotated or removed")
        size = os.fstat(self.fd).st_size
        if size < self.offset:
            self.close()
            raise SourceLost(f"{self.path} was truncated")
        if size - self.offset > READ_BUDGET:
            # starts were logged faster than they are read: a full pass covers them
            # Podman writes an event with one write(): the end is a line's end
            self.offset, self.discarding = size, False
            del self.buf[:]
            return None
        lines: list[bytes] = []
        while self.offset < size:
            data = os.pread(self.fd, min(1 << 16, size - self.offset), self.offset)
            if not data:
                break
            self.offset += len(data)
            self._split(data, lines)
        return lines

    def _split(self, data: bytes, lines: list[bytes]) -> None:
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            piece = data[start:end]
            start = end + 1
            if self.discarding:
                self.discarding = False  # the end of an oversize line: dropped
                del self.buf[:]
                continue
            if len(self.buf) + len(piece) > MAX_LINE:
                del self.buf[:]
                continue
            lines.append(bytes(self.buf) + piece if self.buf else piece)
            del self.buf[:]
        if not self.discarding:
            self.buf += data[start:]
            if len(self.buf) > MAX_LINE:
                self.discarding = True
                del self.buf[:]

    def close(self) -> None:
        if self.inotify is not None:
            self.inotify.close()
            self.inotify = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.offset, self.discarding = 0, False
        del self.buf[:]


def parse_event(line: bytes) -> dict[str, object] | None:
    """One line of the log as a JSON object, or None (a line that is not one is
    skipped: the next one is still an event)."""
    from .._lowlevel.jsonlite import loads

    try:
        event = loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def started(event: dict[str, object]) -> list[GuestRef]:
    """The guests a container's start event names: its full ID, its 12-digit ID and its
    name when valid. Other events (images, pods, other statuses): none."""
    if event.get("Type") != "container" or event.get("Status") != "start":
        return []
    cid = event.get("ID")
    if not is_full_id(cid):
        return []
    assert isinstance(cid, str)
    refs = [GuestRef("podman", cid), GuestRef("podman", cid[:12])]
    name = container_name(event.get("Name"))
    if name is not None:
        refs.append(GuestRef("podman", name))
    return refs


def event_labels(event: dict[str, object]) -> dict[str, str] | None:
    """A container event's labels (its ``Attributes``), or None when it has none."""
    if event.get("Type") != "container":
        return None
    attributes = event.get("Attributes")
    if not isinstance(attributes, dict):
        return None
    return {k: v for k, v in attributes.items() if isinstance(k, str) and isinstance(v, str)}


def labels_in_log(path: str, ids: set[str]) -> dict[str, dict[str, str]]:
    """The labels of the containers ``ids`` from their latest events in the log's last
    MAX_SCAN bytes (only the lines naming one of them are parsed)."""
    found: dict[str, dict[str, str]] = {}
    fd = _open_root_file(path) if ids else None
    if fd is None:
        return found
    try:
        size = os.fstat(fd).st_size
        offset = max(0, size - MAX_SCAN)
        data = os.pread(fd, size - offset, offset)
    finally:
        os.close(fd)
    for line in data.split(b"\n")[1 if offset else 0 :]:  # the first may be cut
        at = line.find(b'"ID":"')
        cid = line[at + 6 : at + 70].decode("ascii", "replace") if at >= 0 else ""
        if cid not in ids or len(line) > MAX_LINE:
            continue
        event = parse_event(line)
        labels = event_labels(event) if event is not None else None
        if labels is not None and event is not None and event.get("ID") == cid:
            found[cid] = labels
    return found


# ------------------------------------------------------------------ containers


class Container:
    """A running container: what its declarations need."""

    __slots__ = ("cid", "config", "name")

    def __init__(self, cid: str, name: str, config: str) -> None:
        self.cid = cid
        self.name = name
        self.config = config  # its userdata/config.json


def running_containers() -> list[Container]:
    """Root's running Podman containers (containers.json, then conmon's pidfile)."""
    from ..guests import podman as state

    store = state._rootful_store()
    try:
        kinds = sorted(n for n in os.listdir(store.graphroot) if n.endswith("-containers"))
    except OSError:
        return []  # no Podman state at all: nothing runs
    found: list[Container] = []
    for kind in kinds[:8]:  # one per storage driver, as guests.podman reads them
        path = f"{store.graphroot}/{kind}/containers.json"
        text = state._read_text(path, state.MAX_STATE, store.uid)
        if text is None:
            continue
        for cid, names in state._parse_containers(text, path):
            if state._state(store, kind, cid)[0] is None:
                continue
            name = container_name(names[0]) if names else None
            config = f"{store.graphroot}/{kind}/{cid}/userdata/config.json"
            found.append(Container(cid, name or cid[:12], config))
    return found


def read_config(path: str) -> tuple[dict[str, str], str]:
    """(the ``pipework_cmd*`` variables, the hostname) of a container's OCI spec."""
    from .._lowlevel.jsonlite import loads

    fd = _open_root_file(path)
    if fd is None:
        return {}, ""
    try:
        data = os.read(fd, MAX_CONFIG + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG:
        return {}, ""
    try:
        spec = loads(data)
    except ValueError:
        return {}, ""
    spec = spec if isinstance(spec, dict) else {}
    process = spec.get("process")
    env_list = process.get("env") if isinstance(process, dict) else None
    env: dict[str, str] = {}
    for item in env_list if isinstance(env_list, list) else []:
        if isinstance(item, str):
            key, eq, value = item.partition("=")
            if eq and key.startswith("pipework_cmd"):
                env[key] = value
    hostname = spec.get("hostname")
    return env, hostname if isinstance(hostname, str) else ""


def declarations_of(container: Container, labels: dict[str, str]) -> Found:
    """The declarations of one running container: its labels, its variables."""
    from .declare import from_labels, instance_number
    from .docker import _environment_declarations

    cid, name = container.cid, container.name
    env, hostname = read_config(container.config)
    full, label = GuestRef("podman", cid), f"podman:{name}"
    found: Found = list(from_labels(labels, full, label))
    if env:
        short = cid[:12]
        own = (
            full,
            GuestRef(None, name),
            GuestRef(None, short),
            GuestRef("podman", name),
            GuestRef("podman", short),
        )
        macros = {
            "@CONTAINER_NAME@": name,
            "@CONTAINER_ID@": short,
            "@HOSTNAME@": hostname,
            "@INSTANCE@": instance_number(name),
            "@COMPOSE_PROJECT_NAME@": labels.get(COMPOSE_PROJECT, ""),
        }
        found += _environment_declarations(env, own, label, macros)
    return found


class PodmanSource(Source):
    """Root's Podman containers and their start events (see the module docstring)."""

    name = "podman"

    def __init__(self, events_log: str = EVENTS_LOG, owner: int = 0) -> None:
        self.events_log = events_log
        self.follower = LogFollower(events_log, owner)
        #: full ID -> labels, from the start events read (newest last)
        self.labels: dict[str, dict[str, str]] = {}

    def reconnect(self) -> bool:
        return self.follower.open()

    def fileno(self) -> int | None:
        return self.follower.fileno()

    def read(self) -> list[GuestRef] | None:
        lines = self.follower.read_lines()
        if lines is None:
            return None
        refs: list[GuestRef] = []
        for line in lines:
            event = parse_event(line)
            if event is None:
                continue
            guests = started(event)
            if not guests:
                continue
            labels = event_labels(event)
            if labels is not None:
                self._remember(guests[0].value, labels)
            refs += [ref for ref in guests if ref not in refs]
        return refs

    def _remember(self, cid: str, labels: dict[str, str]) -> None:
        self.labels.pop(cid, None)
        self.labels[cid] = labels
        while len(self.labels) > MAX_CACHED:
            del self.labels[next(iter(self.labels))]

    def running(self) -> Found:
        containers = running_containers()
        labels = labels_in_log(self.events_log, {c.cid for c in containers})
        found: Found = []
        for container in containers:
            found += _declarations(container, labels.get(container.cid, {}))
        return found

    def declarations_for(self, guests: list[GuestRef]) -> Found:
        """The declarations of the running Podman containers among ``guests`` (by full
        ID, 12-digit ID or name), each container once."""
        keys = {g.value for g in guests if g.kind in ("podman", None)}
        if not keys:
            return []
        wanted = [c for c in running_containers() if keys & {c.cid, c.cid[:12], c.name}]
        missing = {c.cid for c in wanted if c.cid not in self.labels}
        from_log = labels_in_log(self.events_log, missing)
        found: Found = []
        for container in wanted:
            labels = self.labels.get(container.cid, from_log.get(container.cid, {}))
            found += _declarations(container, labels)
        return found

    def close(self) -> None:
        self.follower.close()


def _declarations(container: Container, labels: dict[str, str]) -> Found:
    try:
        return declarations_of(container, labels)
    except PipeworkError as exc:  # a declaration's parser refused something on its own
        from .declare import BadDeclaration

        return [BadDeclaration(f"podman:{container.name}", "", exc.message)]
