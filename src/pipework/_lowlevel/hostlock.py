"""The host-wide lock between attaches and ``gc`` over the bridges pipework created.

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

#: the lock file; PIPEWORK_STATE_DIR moves it (with the DHCP state) for tests
LOCK_NAME = "bridges.lock"
#: how long an attach waits for a gc that holds the lock (gc holds it for milliseconds)
SHARED_WAIT_S = 10.0


def lock_path() -> str:
    return os.environ.get("PIPEWORK_STATE_DIR", "/run/pipework") + "/" + LOCK_NAME


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
        # Polled with LOCK_NB, never a blocking flock: a holder that is stopped
        # (SIGSTOP, a debugger) must not hang us without an end. Holders keep it
        # for milliseconds, so the first tries are close together.
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                flock(fd, (LOCK_EX if exclusive else LOCK_SH) | LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return True


def _open() -> int:
    path = lock_path()
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
