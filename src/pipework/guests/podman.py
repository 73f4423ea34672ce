"""Podman containers, by name, full ID or unique ID prefix, from Podman's own state files.

No ``podman`` subprocess and, on the usual path, no API call: containers/storage's
``containers.json`` in the graph root (``/var/lib/containers/storage/DRIVER-containers``)
maps names to IDs, and conmon's ``pidfile`` in the run root
(``/run/containers/storage/DRIVER-containers/ID/userdata/pidfile``) holds the
container's init pid; the roots are the ones ``storage.conf`` sets
(``$CONTAINERS_STORAGE_CONF``, /etc/containers, /usr/share/containers), as for
podman itself. Only when no ``containers.json`` can be read is the libpod REST API
asked (``$CONTAINER_HOST`` when it is ``unix://``, else /run/podman/podman.sock),
and ``inspect`` says so.

A stopped container keeps its pidfile, so a pid counts only while it is alive and
still the container's: its cgroup path names the container ID (``libpod-ID``), or
its parent is the container's conmon (``--cgroups=disabled``), and its network
namespace belongs to a user namespace root made (a user could name a delegated
cgroup ``libpod-ID``, never make root's namespaces). A rootless
container is named with its user, ``podman:NAME@USER`` (a Podman name has no
``@``): its state is read from that user's default locations
(~/.local/share/containers/storage, /run/user/UID/containers), every file must be
the user's own regular file, and the network namespace must belong to a user
namespace that user created, so whatever the user wrote there can only lead into
a namespace the user could have entered anyway. A bare name never asks another
user's store: an unprivileged user must not be able to catch a name root meant
for one of its own containers.
"""

from __future__ import annotations

import os

from ..errors import HostStateError, UsageError
from ..names import PID_MAX, check_guest_name
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

GRAPHROOT = "/var/lib/containers/storage"
RUNROOT = "/run/containers/storage"
STORAGE_CONFS = ("/etc/containers/storage.conf", "/usr/share/containers/storage.conf")
DEFAULT_SOCKET = "/run/podman/podman.sock"
TIMEOUT_S = 10.0  # one API look-up, however slowly the service answers
MAX_STATE = 32 << 20  # containers.json: ~700 bytes a container
_HEX = frozenset("0123456789abcdef")
_NS_GET_USERNS = 0xB701  # ioctl(2) on a namespace fd: its owning user namespace
_NS_GET_OWNER_UID = 0xB704  # ioctl(2) on a user namespace fd: the uid that created it


class PodmanResolver(Resolver):
    name = "podman"

    def find(self, ref: GuestRef) -> Finding:
        return find(ref.value)

    def still_in_container(self, pid: int, check: str) -> bool:
        return still_in_container(pid, check)


RESOLVER = PodmanResolver()


class _Store:
    """Where one podman (root's, or one user's rootless one) keeps its state."""

    __slots__ = ("graphroot", "runroot", "uid", "who")

    def __init__(self, graphroot: str, runroot: str, uid: int, who: str) -> None:
        self.graphroot = graphroot
        self.runroot = runroot
        self.uid = uid  # who must own its files and have made the netns's user namespace
        self.who = who


def find(value: str) -> Finding:
    finding = Finding("podman")
    name, at, user = value.partition("@")
    store = _rootless_store(user, finding) if at else _rootful_store()
    if store is None:
        return finding
    if not name:
        finding.saw.append(f"no container name before '@' in {value!r}")
        return finding
    state = _read_containers(store, name, finding)
    if state is None:
        if not at:
            _ask_api(finding, name, store.graphroot)
        return finding
    kind, entries = state
    matches = _match(entries, name)
    if len(matches) > 1:
        finding.ambiguous += [
            f"podman:{_entry_name(e, e[0][:12])} ({e[0][:12]}, {_state(store, kind, e[0])[1]})"
            for e in matches
        ]
        return finding
    if not matches:
        where = f"{store.graphroot}/{kind}/containers.json"
        hint = "" if at else " (a rootless one is podman:NAME@USER)"
        finding.saw.append(f"no container {name} in {where}{hint}")
        return finding
    cid = matches[0][0]
    cname = _entry_name(matches[0], name)
    pid, said = _state(store, kind, cid)
    if pid is None:
        finding.saw.append(f"container {cname} ({cid[:12]}) is not running ({said})")
        return finding
    check = f"{store.uid}:{cid}"
    finding.candidates.append(
        Candidate(
            "podman",
            cname if not at else f"{cname}@{user}",
            pid,
            f"/proc/{pid}/ns/net",
            f"{store.who} podman: {store.graphroot}/{kind}/containers.json, pid {pid} from "
            f"{store.runroot}/{kind}/{cid[:12]}.../userdata/pidfile",
            check=check,
        )
    )
    finding.saw.append(f"container {cid[:12]} running, pid {pid}")
    return finding


def _rootful_store() -> _Store:
    graphroot, runroot = GRAPHROOT, RUNROOT
    conf = os.environ.get("CONTAINERS_STORAGE_CONF")
    for path in (conf,) if conf else STORAGE_CONFS:
        text = _read_text(path, 1 << 20, 0)
        if text is not None:
            graphroot, runroot = _storage_roots(text, graphroot, runroot)
            break
    return _Store(graphroot, runroot, 0, "rootful")


def _storage_roots(text: str, graphroot: str, runroot: str) -> tuple[str, str]:
    """``graphroot`` and ``runroot`` of storage.conf's [storage] table (TOML, read only
    as far as these two keys need: ``key = "absolute path"``)."""
    table = ""
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line.startswith("["):
            table = line.strip("[] ")
            continue
        key, eq, raw = line.partition("=")
        value = raw.split("#", 1)[0].strip().strip("\"'")
        if table != "storage" or not eq or not value.startswith("/") or "\0" in value:
            continue
        if key.strip() == "graphroot":
            graphroot = value
        elif key.strip() == "runroot":
            runroot = value
    return graphroot.rstrip("/") or "/", runroot.rstrip("/") or "/"


def _rootless_store(user: str, finding: Finding) -> _Store | None:
    import pwd

    try:
        check_guest_name(user, "user name")
        entry = pwd.getpwnam(user)
    except (KeyError, UsageError) as exc:
        finding.saw.append(f"no user {user!r} for a rootless container ({exc})")
        return None
    if entry.pw_uid == 0 or not entry.pw_dir.startswith("/"):
        finding.saw.append(f"user {user} has no rootless podman store (uid 0 or no home)")
        return None
    return _Store(
        f"{entry.pw_dir.rstrip('/')}/.local/share/containers/storage",
        f"/run/user/{entry.pw_uid}/containers",
        entry.pw_uid,
        f"{user}'s rootless",
    )


def _read_text(path: str, limit: int, uid: int) -> str | None:
    """A small regular file owned by ``uid`` (never a FIFO, a device or a symbolic link
    as the last component: a rootless user's files are read by root), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_mode & 0o170000) != 0o100000 or st.st_uid != uid or st.st_size > limit:
            return None
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_containers(
    store: _Store, name: str, finding: Finding
) -> tuple[str, list[tuple[str, list[str]]]] | None:
    """(``DRIVER-containers``, [(ID, names)] of the containers ``name`` may mean) from the
    graph root, or None (said why)."""
    try:
        kinds = sorted(n for n in os.listdir(store.graphroot) if n.endswith("-containers"))
    except OSError as exc:
        finding.saw.append(f"no {store.who} state ({store.graphroot}: {exc.strerror})")
        return None
    for kind in kinds[:8]:  # one per storage driver (overlay, vfs, btrfs...)
        path = f"{store.graphroot}/{kind}/containers.json"
        text = _read_text(path, MAX_STATE, store.uid)
        if text is None:
            continue
        if f'"{name}"' not in text and not (_is_hex(name) and name in text):
            return kind, []  # not there: no need to parse a list of 1000 containers
        entry = _one_entry(text, name)
        return kind, [entry] if entry is not None else _parse_containers(text, path)
    finding.saw.append(f"no readable {store.graphroot}/DRIVER-containers/containers.json")
    return None


def _parse_containers(text: str, path: str) -> list[tuple[str, list[str]]]:
    from .._lowlevel.jsonlite import loads

    try:
        data = loads(text)
    except ValueError as exc:
        raise HostStateError(
            f"read podman's container list {path}: not valid JSON ({exc})",
            hint="nothing was changed; check it with podman ps -a",
        ) from None
    entries: list[tuple[str, list[str]]] = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not _is_id(item.get("id")):
            continue
        names = item.get("names")
        ok = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        entries.append((str(item["id"]), ok))
    return entries


def _one_entry(text: str, name: str) -> tuple[str, list[str]] | None:
    """The fast path for a full ID, a name or a unique ID prefix: parse only the one
    container object around its first mention, as containers/storage writes them
    (``[{"id":"...",...},...]``).
    None when the file is laid out otherwise or that object is not the container (the
    caller then parses the whole list, which costs milliseconds for a thousand)."""
    from .._lowlevel.jsonlite import loads

    pos = text.find(f'"id":"{name}"') if _is_id(name) else -1
    if pos < 0:
        pos = text.find(f'"{name}"')
    prefix = pos < 0 and _is_hex(name)  # then a unique ID prefix, or many (parse them all)
    if prefix:
        pos = text.find(f'"id":"{name}')
        if text.find(f'"id":"{name}', pos + 1) >= 0:
            return None
    start = text.rfind('{"id":"', 0, pos + 7)  # the object's own start, when pos is its id
    end = text.find('{"id":"', pos + 1)
    if pos < 0 or start < 0:
        return None
    try:
        item = loads(text[start : len(text) if end < 0 else end].rstrip(" \t\r\n,]"))
    except ValueError:
        return None
    if not isinstance(item, dict) or not _is_id(item.get("id")):
        return None
    names = item.get("names")
    ok = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
    cid = str(item["id"])
    return (cid, ok) if cid == name or name in ok or (prefix and cid.startswith(name)) else None


def _is_id(value: object) -> bool:
    # containers/storage IDs are 64 hex digits; anything else could not be checked
    # against a cgroup path or a conmon command line afterwards.
    return isinstance(value, str) and len(value) == 64 and _is_hex(value)


def _is_hex(text: str) -> bool:
    return all(ch in _HEX for ch in text)


def _match(entries: list[tuple[str, list[str]]], name: str) -> list[tuple[str, list[str]]]:
    """Podman's own order: a full ID, then a name, then a unique ID prefix."""
    for wanted in (lambda e: e[0] == name, lambda e: name in e[1]):
        found = [e for e in entries if wanted(e)]
        if found:
            return found[:1]
    if _is_hex(name):
        return [e for e in entries if e[0].startswith(name)][:16]
    return []


def _entry_name(entry: tuple[str, list[str]], fallback: str) -> str:
    """The container's own name if it is one a user could have typed (it goes into
    messages and marks), else what the user typed."""
    for name in entry[1][:1]:
        try:
            return check_guest_name(name)
        except UsageError:
            break
    return fallback


def _state(store: _Store, kind: str, cid: str) -> tuple[int | None, str]:
    """(the container's running init pid, or None with why it is not running)."""
    path = f"{store.runroot}/{kind}/{cid}/userdata/pidfile"
    text = _read_text(path, 64, store.uid)
    if text is None:
        return None, "stopped: no pidfile" if not os.path.exists(path) else "unreadable pidfile"
    raw = text.strip()
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= PID_MAX):
        return None, f"no valid pid in {path}"
    pid = int(raw)
    if not still_in_container(pid, f"{store.uid}:{cid}"):
        return None, f"exited: its pid {pid} is gone"
    return pid, "running"


def still_in_container(pid: int, check: str) -> bool:
    """Is ``pid`` a process of the container? ``check`` is ``UID:ID``: its cgroup path
    names the ID, or its parent is a conmon of UID whose command line names the ID;
    and its netns belongs to a user namespace UID made (root, for a rootful store: a
    user who names a delegated cgroup ``libpod-ID`` and gets a stopped container's pid
    reused there still cannot pass its own namespace off as the container's)."""
    uid_text, _, cid = check.partition(":")
    if not _is_id(cid):
        return False
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="surrogateescape") as f:
            ours = f"libpod-{cid}" in f.read()
        if not ours:
            ours = _child_of_conmon(pid, int(uid_text), cid)
    except OSError:
        return False
    return ours and _netns_owner(pid) == int(uid_text)


def _child_of_conmon(pid: int, uid: int, cid: str) -> bool:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
    with open(f"/proc/{ppid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    if os.stat(f"/proc/{ppid}").st_uid != uid or not argv[0].endswith(b"conmon"):
        return False
    return any(a == b"-c" and b == cid.encode() for a, b in zip(argv, argv[1:]))


def _netns_owner(pid: int) -> int | None:
    """The uid that created the user namespace owning ``pid``'s network namespace."""
    import fcntl
    import sys

    try:
        ns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        userns = fcntl.ioctl(ns, _NS_GET_USERNS)
    except OSError:
        return None
    finally:
        os.close(ns)
    try:
        buf = fcntl.ioctl(userns, _NS_GET_OWNER_UID, b"\0\0\0\0")
        return int.from_bytes(buf, sys.byteorder)  # a uid_t
    except OSError:
        return None
    finally:
        os.close(userns)


def _ask_api(finding: Finding, name: str, graphroot: str) -> None:
    """The fallback: the libpod REST API, when its socket is there."""
    from .._lowlevel import unixhttp
    from .._lowlevel.jsonlite import loads

    host = os.environ.get("CONTAINER_HOST", "")
    path = host[len("unix://") :] if host.startswith("unix://") else DEFAULT_SOCKET
    if not os.path.exists(path):
        finding.saw.append(f"no libpod API socket at {path} either")
        return
    url = f"/v4.0.0/libpod/containers/{name}/json"
    try:
        resp = unixhttp.get(path, url, timeout=TIMEOUT_S)
        info = loads(resp.body)
    except unixhttp.ResponseError as exc:
        raise HostStateError(
            f"ask the libpod API at {path} for container {name}: {exc}",
            hint="nothing was changed; check the podman service (podman system service)",
        ) from None
    except (OSError, ValueError) as exc:
        finding.saw.append(f"libpod API at {path} not usable ({exc})")
        return
    if resp.status != 200 or not isinstance(info, dict):
        message = info.get("message") if isinstance(info, dict) else None
        finding.saw.append(f"libpod API at {path}: HTTP {resp.status} {str(message)[:200]}")
        return
    cid = info.get("Id")
    state = info.get("State") if isinstance(info.get("State"), dict) else {}
    assert isinstance(state, dict)
    pid = state.get("Pid")
    if not _is_id(cid) or type(pid) is not int or not 0 <= pid <= PID_MAX:
        raise HostStateError(
            f"ask the libpod API at {path} for container {name}: no valid Id and Pid",
            hint="nothing was changed; check the podman service (podman system service)",
        )
    assert isinstance(cid, str)
    if state.get("Running") is not True or pid == 0:
        said = str(state.get("Status") or "unknown")[:40]
        finding.saw.append(f"container {name} ({cid[:12]}) is not running (state: {said})")
        return
    cname = _entry_name((cid, [str(info.get("Name"))]), name)
    finding.candidates.append(
        Candidate(
            "podman",
            cname,
            pid,
            f"/proc/{pid}/ns/net",
            f"libpod API at {path} (no containers.json under {graphroot}): "
            f"container {cid[:12]}, pid {pid}",
            check=f"0:{cid}",
        )
    )
    finding.saw.append(f"libpod API: container {cid[:12]} running, pid {pid}")
