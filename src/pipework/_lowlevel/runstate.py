"""/run/pipework: what pipework keeps on the host that the kernel cannot hold for it,
the records and the locks.

Only host root can write there, which is the point: what a guest controls (its
interfaces' aliases, its files) is never the truth about what pipework did on the
host; a record here is. /run is a tmpfs: a reboot forgets it, with the kernel
state it describes.

The locks: attaches and ``gc`` over the bridges pipework created (``BridgeLock``),
and one attach at a time per guest interface (``InterfaceLock``).

``gc`` removes a bridge pipework created once nothing uses it. An attach finds
(or creates) such a bridge and only milliseconds later makes the port that uses
it: a ``gc`` in between would see an unused bridge and remove it, and the attach
would fail, or worse, end with a port on no bridge. The kernel has no "delete
this bridge if it has no port" operation, so the two must not interleave.

An attach holds the lock shared from the moment it relies on such a bridge until
its port exists; ``gc`` holds it exclusive while it decides and removes. Shared
holders never wait for each other, so concurrent attaches run as before; the
lock is an ``flock`` on a file under /run, which the kernel releases when its
holder exits however it exits (SIGKILL included), so no stale lock can survive
a crash. Other designs were weighed: ``gc`` looking twice a moment apart only
narrows the window; an attach re-creating a bridge that vanished cannot undo a
bridge that vanished after its port was made (the port is left on nothing).
"""

from __future__ import annotations

import os
import time

from ..errors import HostStateError

#: Linux's values (errno, binascii or zlib would be a module more on every attach)
_EAGAIN, _EACCES = 11, 13
#: where everything lives; tests and a second instance move it
ROOT = os.environ.get("PIPEWORK_STATE_DIR", "/run/pipework")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: the lock file; PIPEWORK_STATE_DIR moves it (with the DHCP state) for tests
LOCK_NAME = "bridges.lock"
#: how long an attach waits for a gc that holds the lock (gc holds it for milliseconds)
SHARED_WAIT_S = 10.0
#: the per-interface lock file, and how long an attach waits for another attach of
#: the same guest interface (one with DHCP lasts as long as the server takes)
INTERFACE_LOCK_NAME = "interfaces.lock"
INTERFACE_WAIT_S = 120.0


def lock_path(name: str = LOCK_NAME) -> str:
    return f"{ROOT}/{name}"


class BridgeLock:
    """One holder of the lock; ``release`` is idempotent, and process exit releases it."""

    __slots__ = ("_fd",)

    def __init__(self) -> None:
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def shared(self, timeout: float = SHARED_WAIT_S) -> None:
        """Hold the lock shared (an attach), waiting at most ``timeout`` for a gc."""
        if not self._take(exclusive=False, timeout=timeout):
            raise HostStateError(
                f"another pipework (gc) has held {lock_path()} for {timeout:g} s",
                hint="is a 'pipework gc' stopped? let it finish, or kill it, and attach again",
            )

    def exclusive(self, timeout: float) -> bool:
        """Hold the lock exclusive (gc); False when attaches kept it for ``timeout`` s."""
        return self._take(exclusive=True, timeout=timeout)

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing the only descriptor releases the flock

    def _take(self, *, exclusive: bool, timeout: float) -> bool:
        from fcntl import LOCK_EX, LOCK_NB, LOCK_SH, flock  # built in: costs no file read

        if self._fd >= 0:
            return True
        fd = _open()
        try:
            taken = _poll(lambda: flock(fd, (LOCK_EX if exclusive else LOCK_SH) | LOCK_NB), timeout)
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            os.close(fd)
            return False
        self._fd = fd
        return True


class InterfaceLock:
    """One guest interface attached by one pipework at a time.

    Two identical attaches started together would otherwise interleave: the second
    finds the first's attachment half-made and finishes it while the first still
    works (two default-route replacements racing, one failing, its rollback taking
    the other's route). With the lock the second waits, then finds it done.

    One byte of one file per guest interface (its key hashed to an offset), locked
    with fcntl record locks: attaches of different interfaces never wait for each
    other (a hash collision only makes two wait in turn), no file per interface
    piles up in /run, and the kernel drops the locks when the process dies. The
    file stays open for the process's life: closing any descriptor of it would drop
    all of this process's locks on it.
    """

    __slots__ = ("_offset", "held", "what")
    _fd = -1

    def __init__(self, netns_inode: int, ifname: str, what: str) -> None:
        self._offset = _fnv1a(f"{netns_inode}-{ifname}".encode())
        self.what = what
        self.held = False

    def take(self, timeout: float = INTERFACE_WAIT_S) -> None:
        from fcntl import LOCK_EX, LOCK_NB, lockf

        if self.held:
            return
        cls = type(self)
        if cls._fd < 0:
            cls._fd = _open(INTERFACE_LOCK_NAME)
        fd, offset = cls._fd, self._offset
        if not _poll(lambda: lockf(fd, LOCK_EX | LOCK_NB, 1, offset), timeout):
            raise HostStateError(
                f"another pipework has been attaching {self.what} for {timeout:g} s",
                hint="is one stopped? let it finish, or kill it, and attach again",
            )
        self.held = True

    def release(self) -> None:
        from fcntl import LOCK_UN, lockf

        if self.held:
            self.held = False
            lockf(type(self)._fd, LOCK_UN, 1, self._offset)


def _poll(attempt: Callable[[], object], timeout: float) -> bool:
    """Call ``attempt`` (a non-blocking lock) until it does not raise that the lock is
    taken, for at most ``timeout`` seconds. Never a blocking lock: a holder that is
    stopped (SIGSTOP, a debugger) must not hang us without an end. Holders keep
    these locks for milliseconds, so the first tries are close together."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            attempt()
            return True
        except OSError as exc:  # flock: EWOULDBLOCK; fcntl record locks: EACCES or EAGAIN
            if exc.errno not in (_EACCES, _EAGAIN):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _fnv1a(data: bytes) -> int:
    """A 32-bit hash that is the same in every process (``hash`` is seeded per process)."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def write_atomically(target: str, text: str) -> None:
    """Replace ``target`` with ``text`` in one rename (a reader sees old or new)."""
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, target)


def _open(name: str = LOCK_NAME) -> int:
    path = lock_path(name)
    try:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        # O_NOFOLLOW: the file is only ever a plain file pipework made; never a link
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        from errno import errorcode

        name = errorcode.get(exc.errno or 0, f"errno {exc.errno}")
        raise HostStateError(
            f"open the bridge lock {path}: {name} ({exc.strerror})",
            hint="pipework needs a writable /run (or PIPEWORK_STATE_DIR) as root",
        ) from None
