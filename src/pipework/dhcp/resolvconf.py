"""``--dns``: the lease's DNS servers in the guest's resolv.conf, where that is safe.

Where the guest reads its resolv.conf from:
- a named network namespace (``ip netns add``): ``/etc/netns/NAME/resolv.conf``,
  which ``ip netns exec`` mounts over /etc/resolv.conf, a file of the host's;
- a container (LXC, Docker, any process with a root of its own): its
  ``/etc/resolv.conf``, opened relative to the container's root.

A container's root user owns every component of that path: an /etc or a
resolv.conf that is a symbolic link, walked from the host through
``/proc/PID/root``, would lead to a file of the host. So the root is opened as
a directory (``/proc/PID/root``, checked to still be the guest's process), and
``etc`` then ``resolv.conf`` beneath it with openat2(RESOLVE_IN_ROOT |
RESOLVE_NO_SYMLINKS): a link anywhere is refused, nothing resolves outside the
container. The file is read, written and put back through those fds, never
through a path again; it must be a regular file (a FIFO or a device is never
opened). Kernels without openat2 (before 5.6) get a refusal.

It is refused, too, when the file would be the host's own (a process that shares
the host's /etc), or for a bare namespace file with no process to give it a
filesystem. The old content is put back if the attach fails later.
"""

from __future__ import annotations

import os
import stat
from errno import EAGAIN, EEXIST, ELOOP, ENOENT, ENOSYS, ENOTDIR, ESRCH

from ..errors import HostStateError
from .packet import dns_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..model import Guest
    from ..steps import Push

HOST_ETC = "/etc"
HOST_RESOLV_CONF = "/etc/resolv.conf"
#: a resolv.conf is a few lines; the old content is kept in memory for the undo
MAX_OLD_SIZE = 1 << 20


def render(servers: list[str], domain: str | None) -> str:
    """The file; a server or a domain that could add a line of its own is left out
    (the lease parser already refused them: this is the last gate before a file)."""
    lines = ["# written by pipework from a DHCP lease"]
    search = dns_names(domain) if domain else None
    if search:
        lines.append(f"search {search}")
    lines += [f"nameserver {server}" for server in servers if _is_address(server)]
    return "\n".join(lines) + "\n"


def _is_address(text: str) -> bool:
    return 0 < len(text) <= 45 and set(text) <= set("0123456789abcdefABCDEF.:")


def write_guest_resolv_conf(
    guest: Guest, servers: list[str], domain: str | None, push: Push
) -> None:
    if not servers:
        return
    text = render(servers, domain)
    if guest.runtime == "netns" and not guest.name.startswith("/"):
        _write_named_netns(guest.name, text, push)
        return
    if guest.pid is None:
        raise HostStateError(
            f"--dns: {guest.label} is a bare network namespace, with no resolv.conf of its own"
        )
    _write_in_root(guest, guest.pid, text, push)


# -- a named netns: the host's own /etc/netns/NAME ---------------------------------------


def _write_named_netns(name: str, text: str, push: Push) -> None:
    # names.check_guest_name allows neither '/' nor a leading '.', and the netns
    # resolver found /run/netns/NAME: checked again, as this is a host path
    if not name or "/" in name or name.startswith(".") or "\0" in name:
        raise HostStateError(f"--dns: {name!r} cannot name a directory in /etc/netns")
    directory = f"/etc/netns/{name}"
    path = f"{directory}/resolv.conf"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        before: bytes | None = None
    except OSError as exc:
        raise HostStateError(f"--dns: cannot read {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "rb") as f:
            before = f.read()
    made_directory = not os.path.isdir(directory)
    if made_directory:
        os.makedirs(directory, mode=0o755)
    # O_NOFOLLOW: this is the host's directory, but never write through a link
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)

    def undo() -> None:
        if before is None:
            os.unlink(path)
            if made_directory:
                os.rmdir(directory)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "wb") as f:
                f.write(before)

    push(f"restore {path}", undo)


# -- a container: beneath its root, through fds -----------------------------------------


class _Fds:
    """The fds the write and its undo go through; closed when the undo is dropped
    (the attach succeeded) or has run."""

    __slots__ = ("etc", "file")

    def __init__(self, etc: int) -> None:
        self.etc = etc
        self.file = -1  # an O_PATH fd of the resolv.conf written

    def close(self) -> None:
        for fd in (self.file, self.etc):
            if fd >= 0:
                os.close(fd)
        self.file = self.etc = -1

    def __del__(self) -> None:
        self.close()


def _write_in_root(guest: Guest, pid: int, text: str, push: Push) -> None:
    where = f"/etc/resolv.conf in {guest.label}"
    fds = _Fds(_open_etc(guest, pid))
    try:
        before = _old_content(fds, where)
        if before is None:
            if _identity_fd(fds.etc) == _identity(HOST_ETC):
                raise HostStateError(
                    f"--dns: {guest.label} shares the host's /etc; not creating a resolv.conf in it"
                )
            _create(fds, where, text.encode())
        else:
            if _identity_fd(fds.file) == _identity(HOST_RESOLV_CONF):
                raise HostStateError(
                    f"--dns: {guest.label} uses the host's own /etc/resolv.conf; not changing it"
                )
            _rewrite(fds.file, text.encode())
    except BaseException:
        fds.close()
        raise

    def undo() -> None:
        try:
            if before is None:
                _unlink_ours(fds)
            else:
                _rewrite(fds.file, before)
        finally:
            fds.close()

    push(f"restore {where}", undo)


def _open_etc(guest: Guest, pid: int) -> int:
    """An O_PATH fd of the guest's /etc, opened beneath its root."""
    from .._lowlevel.openat2 import openat2

    try:
        proc = os.open(f"/proc/{pid}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise HostStateError(
            f"--dns: the process of {guest.label} is gone: {exc.strerror}"
        ) from None
    try:
        # /proc/PID/... through one fd: the same process for both look-ups, even if
        # the pid is reused; it must still be in the guest's (pinned) namespace
        if os.stat("ns/net", dir_fd=proc).st_ino != guest.netns.inode or not guest.alive():
            raise OSError(ESRCH, os.strerror(ESRCH))
        root = os.open("root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=proc)
    except OSError as exc:
        raise HostStateError(
            f"--dns: the process of {guest.label} is gone or has changed: {exc.strerror}"
        ) from None
    finally:
        os.close(proc)
    try:
        return _retry(lambda: openat2(root, "etc", os.O_PATH | os.O_DIRECTORY))
    except OSError as exc:
        raise _refusal(exc, f"/etc of {guest.label}") from None
    finally:
        os.close(root)


def _old_content(fds: _Fds, where: str) -> bytes | None:
    """The resolv.conf's content (fds.file then names it), or None: there is none."""
    from .._lowlevel.openat2 import openat2

    try:
        # O_PATH | O_NOFOLLOW: a link is returned as itself (and refused below), and
        # nothing is opened for real: a FIFO would block, a device do something
        fds.file = _retry(lambda: openat2(fds.etc, "resolv.conf", os.O_PATH | os.O_NOFOLLOW))
    except OSError as exc:
        if exc.errno == ENOENT:
            return None
        raise _refusal(exc, where) from None
    info = os.fstat(fds.file)
    if not stat.S_ISREG(info.st_mode):
        raise HostStateError(
            f"--dns: {where} is a symbolic link or not a file; pipework does not "
            "follow it (it could lead out of the container)"
        )
    if info.st_size > MAX_OLD_SIZE:
        raise HostStateError(f"--dns: {where} is {info.st_size} bytes; not a resolv.conf")
    with open(_reopen(fds.file, os.O_RDONLY), "rb") as f:
        return f.read(MAX_OLD_SIZE + 1)


def _create(fds: _Fds, where: str, data: bytes) -> None:
    """A new resolv.conf beneath /etc, exclusively: nothing swapped in is followed."""
    from .._lowlevel.openat2 import openat2

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        fd = _retry(lambda: openat2(fds.etc, "resolv.conf", flags, 0o644))
    except OSError as exc:
        if exc.errno == EEXIST:
            raise HostStateError(f"--dns: {where} appeared while pipework wrote it") from None
        raise _refusal(exc, where) from None
    with open(fd, "wb") as f:
        fds.file = os.open(f"/proc/self/fd/{fd}", os.O_PATH | os.O_CLOEXEC)
        try:
            f.write(data)
        except BaseException:
            _unlink_ours(fds)
            raise


def _rewrite(path_fd: int, data: bytes) -> None:
    with open(_reopen(path_fd, os.O_WRONLY | os.O_TRUNC), "wb") as f:
        f.write(data)


def _reopen(path_fd: int, flags: int) -> int:
    """The very inode of an O_PATH fd, opened for reading or writing (through our
    own /proc/self/fd: no path of the guest's is walked again)."""
    return os.open(f"/proc/self/fd/{path_fd}", flags | os.O_CLOEXEC | os.O_NOCTTY)


def _unlink_ours(fds: _Fds) -> None:
    """Remove the resolv.conf pipework created, if the name is still that file."""
    try:
        now = os.stat("resolv.conf", dir_fd=fds.etc, follow_symlinks=False)
    except FileNotFoundError:
        return
    if (now.st_dev, now.st_ino) == _identity_fd(fds.file):
        os.unlink("resolv.conf", dir_fd=fds.etc)


def _retry(call: Callable[[], int]) -> int:
    """openat2 answers EAGAIN when a rename raced the walk (RESOLVE_IN_ROOT)."""
    for _ in range(3):
        try:
            return call()
        except OSError as exc:
            if exc.errno != EAGAIN:
                raise
    return call()


def _refusal(exc: OSError, what: str) -> HostStateError:
    if exc.errno == ENOSYS:
        return HostStateError(
            "--dns needs openat2 (Linux 5.6+) to write inside a container safely",
            hint="this kernel has none; write the container's resolv.conf from inside it",
        )
    if exc.errno == ELOOP:
        return HostStateError(
            f"--dns: {what} is reached through a symbolic link; pipework does not follow "
            "it (it could lead out of the container)"
        )
    if exc.errno in (ENOENT, ENOTDIR):
        return HostStateError(f"--dns: {what} does not exist or is not a directory")
    return HostStateError(f"--dns: cannot open {what}: {exc.strerror} (errno {exc.errno})")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _identity_fd(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino
