"""Network namespace handles: open by pid, path or name; enter briefly; run a child inside.

A ``NetNS`` is an open file descriptor on the namespace. Once a guest is resolved
pipework works only through that fd, never through the pid again: a pid can die
and be reused by an unrelated process, an open namespace fd cannot change.

Entering is done with setns(2) on the calling thread and always undone before
returning (the sockets and children created inside keep the guest's namespace).
"""

from __future__ import annotations

import os
import stat

from .errors import PipeworkError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CLONE_NEWNET = 0x40000000
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3) from <linux/nsfs.h>
NETNS_RUN_DIRS = ("/run/netns", "/var/run/netns")


class NetNS:
    """An open network namespace (pins it for as long as the object lives)."""

    __slots__ = ("fd", "inode", "label", "path")

    def __init__(self, fd: int, label: str, path: str) -> None:
        self.fd = fd
        self.label = label
        self.path = path
        self.inode = os.fstat(fd).st_ino

    @classmethod
    def open(cls, path: str, label: str) -> NetNS:
        """Open a namespace file (``/proc/PID/ns/net``, ``/run/netns/NAME``, a bind mount)."""
        try:
            # nsfs files are regular files; a FIFO or a device would block or do
            # something on open, so anything else is refused before opening it
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise UsageError(f"{path} is not a network namespace")
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise PipeworkError(
                f"cannot open network namespace {path} of {label}: {exc.strerror}"
            ) from None
        ns = cls(fd, label, path)
        if not _is_netns(fd):
            ns.close()
            raise UsageError(f"{path} is not a network namespace")
        return ns

    @classmethod
    def current(cls) -> NetNS:
        """The namespace of the calling thread (the host, for the CLI)."""
        return cls.open("/proc/thread-self/ns/net", "this process")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> NetNS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NetNS({self.label!r}, inode={self.inode})"


def _is_netns(fd: int) -> bool:
    from fcntl import ioctl

    try:
        return ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except OSError:
        return False  # ENOTTY: not an nsfs file at all


def _load_setns() -> Callable[[int, int], None]:
    if hasattr(os, "setns"):  # Python >= 3.12
        setns_py: Callable[[int, int], None] = os.setns
        return setns_py
    try:
        raw = _setns_from_libc()
    except (ImportError, AttributeError, OSError):  # pragma: no cover - exotic builds
        raw = _setns_from_ctypes()

    def setns(fd: int, nstype: int) -> None:
        if raw(fd, nstype) != 0:
            from _ctypes import get_errno

            err = get_errno()
            raise OSError(err, os.strerror(err))

    return setns


def _setns_from_libc() -> Callable[[int, int], int]:
    """setns(2) from libc through the ``_ctypes`` core, on Pythons before 3.12.

    ``import ctypes`` costs ~3 ms on the reference host, more than the netlink work
    of an attach; the C core it wraps has everything one call needs.
    """
    import _ctypes

    class c_int(_ctypes._SimpleCData):  # type: ignore[type-arg]  # not subscriptable at run time
        _type_ = "i"

    class SetNs(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = c_int
        _argtypes_ = (c_int, c_int)

    libc = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]  # NULL: the program
    address = _ctypes.dlsym(libc, "setns")
    func: Callable[[int, int], int] = SetNs(address)
    return func


def _setns_from_ctypes() -> Callable[[int, int], int]:  # pragma: no cover - fallback
    import ctypes

    func: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).setns
    return func


_setns: Callable[[int, int], None] | None = None


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace ``fd``."""
    global _setns  # noqa: PLW0603 - resolved once, on first use
    if _setns is None:
        _setns = _load_setns()
    _setns(fd, CLONE_NEWNET)


class inside:
    """Run a block inside ``ns``; always return to the original namespace."""

    __slots__ = ("_home", "_ns")

    def __init__(self, ns: NetNS) -> None:
        self._ns = ns
        self._home = -1

    def __enter__(self) -> NetNS:
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(self._ns.fd)
        except OSError as exc:
            os.close(self._home)
            raise PipeworkError(
                f"cannot enter the network namespace of {self._ns.label}: {exc.strerror}"
            ) from None
        return self._ns

    def __exit__(self, *exc: object) -> None:
        try:
            setns(self._home)
        finally:
            os.close(self._home)


def ns_sysctl(ns: NetNS, key: str, value: str | None = None) -> str:
    """``/proc/sys/KEY`` of the namespace ``ns`` (KEY as a path, such as
    ``net/ipv6/conf/eth1/accept_dad``): its value, which ``value`` then replaces.
    /proc/sys/net shows the namespace of the process that opens the file, whatever
    the mount; no netlink attribute sets an IPv6 sysctl. OSError as open(2) says."""
    with inside(ns), open(f"/proc/sys/{key}", "r+") as f:
        before = f.read().strip()
        if value is not None and value != before:
            f.seek(0)
            f.write(value)
    return before


def named_netns_path(name: str) -> str | None:
    """The bind mount ``ip netns add NAME`` made, if it exists."""
    for base in NETNS_RUN_DIRS:
        path = f"{base}/{name}"
        if os.path.exists(path):
            return path
    return None
