"""External DHCP clients whose guest is gone: their records, and stopping them.

A network namespace lives as long as anything refers to it: a process inside, an
open fd, a bind mount. When a container stops, its runtime drops its own
references and the namespace goes, with the guest ends of its veths (and so the
host ends). A DHCP client that pipework started in the namespace and left running
(``dhclient-f``, ``dhcpcd``) is a host process: it is in no container cgroup or
pid namespace, so the runtime neither sees nor kills it, and it keeps the dead
container's namespace alive, its interfaces, its lease and its renewals: the
address still answers on the bridge. (pipework's own renewal process holds
nothing of the guest between renewals and ends by itself: keeper.py.)

The attach records each kept client in ``SANDBOX_DIR/KEY`` (JSON): the guest (its
process with its start time, or its namespace file with the inode it must still
have) and the client processes pipework started (pid and start time each).
``stop_orphans`` (``pipework gc``, and ``pipework watch`` every few seconds) stops
the clients of a record whose guest is gone. A process is stopped only if it is in
the recorded network namespace and in the mount namespace of a recorded client
that is still the one recorded (same pid, same start time): pipework made that
mount namespace for the client, so only the client and what it forked since are
in it (dhcpcd forks helpers after its first lease). A pid reused by another
process, or a client the guest started itself, is never signalled.
"""

from __future__ import annotations

import os

from .._lowlevel.procfs import process_starttime
from .paths import SANDBOX_DIR

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext

#: seconds a client gets to end on SIGTERM before SIGKILL
STOP_TIMEOUT = 3.0


def record_for(ctx: AttachContext, client: str) -> dict[str, object]:
    """What identifies the guest of an external client about to start (no client yet)."""
    guest = ctx.guest
    return {
        "guest": guest.label,
        "client": client,
        "pid": guest.pid,
        "starttime": guest.starttime,
        "netns_path": guest.netns.path,
        "netns_inode": guest.netns.inode,
        "ifname": ctx.spec.container_ifname,
        "clients": [],
    }


def write(name: str, rec: dict[str, object]) -> None:
    from .._lowlevel.jsonlite import dumps
    from .._lowlevel.runstate import write_atomically

    write_atomically(f"{SANDBOX_DIR}/{name}", dumps(rec))


def load(name: str) -> dict[str, object] | None:
    """The record of KEY ``name``; None for an empty marker (written before records
    were) or a file that is not one."""
    from .._lowlevel.jsonlite import loads

    try:
        fd = os.open(f"{SANDBOX_DIR}/{name}", os.O_RDONLY | os.O_NOFOLLOW)
        with open(fd, "rb") as f:
            data = loads(f.read(1 << 16))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sandboxed(netns_inode: int, name: str) -> list[int]:
    """pids of the clients pipework started for KEY ``name``: the processes in the
    namespace whose mount namespace is a sandbox of that key (one of its processes
    shows the sandbox's tmpfs among its mounts; dhcpcd's helpers chroot, where the
    mount is out of their sight, but share the namespace)."""
    found = _in_netns(netns_inode)
    mount_point = f" {SANDBOX_DIR}/{name} ".encode()
    spaces = set()
    for pid, space in found:
        try:
            with open(f"/proc/{pid}/mountinfo", "rb") as f:
                if mount_point in f.read():
                    spaces.add(space)
        except OSError:
            continue
    return [pid for pid, space in found if space in spaces]


def _in_netns(netns_inode: int) -> list[tuple[int, int]]:
    """(pid, mount namespace inode) of each process in the network namespace."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != netns_inode:
                continue
            found.append((int(entry), os.stat(f"/proc/{entry}/ns/mnt").st_ino))
        except OSError:
            continue
    return found


def with_clients(rec: dict[str, object], pids: list[int]) -> dict[str, object]:
    """The record with the client processes now running (pid and start time each)."""
    clients = [[pid, process_starttime(pid)] for pid in pids]
    return {**rec, "clients": [c for c in clients if c[1] is not None]}


def guest_alive(rec: dict[str, object]) -> bool:
    """Whether the guest of a record still exists: its process with the same start
    time, or else its namespace file with the same inode."""
    pid = rec.get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool):
        return process_starttime(pid) == rec.get("starttime")
    try:
        return os.stat(str(rec.get("netns_path"))).st_ino == rec.get("netns_inode")
    except OSError:
        return False


def stop_orphans() -> tuple[list[str], list[str]]:
    """Stop the kept clients of every guest that is gone and forget their records:
    (what was stopped, one line each; what could not be)."""
    try:
        names = sorted(os.listdir(SANDBOX_DIR))
    except FileNotFoundError:
        return [], []
    stopped: list[str] = []
    failed: list[str] = []
    for name in names:
        rec = load(name)
        if rec is None or guest_alive(rec):
            continue  # no record to judge by (never guess), or the guest is there
        try:
            stopped += _stop_recorded(name, rec)
        except OSError as exc:
            failed.append(f"the DHCP client of {rec.get('guest')} ({name}): {exc}")
            continue
        _forget(name)
    return stopped, failed


def _stop_recorded(name: str, rec: dict[str, object]) -> list[str]:
    import signal
    import time

    inode = rec.get("netns_inode")
    clients = rec.get("clients")
    if not isinstance(inode, int) or not isinstance(clients, list):
        return []
    present = _in_netns(inode)
    # the mount namespaces of the recorded clients still alive (the pid is the one
    # recorded: same start time): pipework made each for its client (_sandbox), and
    # only that client and what it forked since are in it (dhcpcd's helpers)
    spaces = set()
    recorded = {
        entry[0]: entry[1]
        for entry in clients
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)
    }
    for pid, space in present:
        if pid in recorded and process_starttime(pid) == recorded[pid]:
            spaces.add(space)
    targets: list[tuple[int, object]] = [
        (pid, process_starttime(pid)) for pid, space in present if space in spaces
    ]
    for pid, _started in targets:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(_alive(t) for t in targets) and time.monotonic() < deadline:
        time.sleep(0.02)
    for target in targets:
        if _alive(target):
            _signal(target[0], signal.SIGKILL)
    what, ifname = rec.get("client"), rec.get("ifname")
    return [
        f"{what} (pid {pid}) on {ifname} of {rec.get('guest')}, which is gone"
        for pid, _started in targets
    ]


def _alive(target: tuple[int, object]) -> bool:
    return process_starttime(target[0]) == target[1]


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _forget(name: str) -> None:
    try:
        os.unlink(f"{SANDBOX_DIR}/{name}")
    except FileNotFoundError:
        pass
