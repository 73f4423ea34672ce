"""inotify(7): being told when a directory's entries change, without polling it.

Python's standard library has no inotify; this calls ``inotify_init1``,
``inotify_add_watch`` and ``inotify_rm_watch`` through ctypes and decodes the
events read from the fd with ``os.read``. The fd is non-blocking and close-on-exec
(a child pipework starts, such as lxc-info, must not inherit it), so a caller polls
it with ``select`` and reads what is there. Imported only by ``watch``: ctypes stays
off the attach path.
"""

from __future__ import annotations

import ctypes
import os
import struct

from .record import Record

# <sys/inotify.h>: the events a watch may ask for
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
# set by the kernel in events it reports
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000
# flags of inotify_add_watch
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
# flags of inotify_init1: the same bits as O_NONBLOCK and O_CLOEXEC
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

#: struct inotify_event without its name: wd, mask, cookie, len
_HEADER = struct.Struct("iIII")
_NAME_MAX = 255
#: one read's budget: many events, never unbounded (the kernel queues 16384 by default,
#: then reports IN_Q_OVERFLOW); at least one event with the longest name fits
READ_BUDGET = 64 * 1024

_libc = ctypes.CDLL(None, use_errno=True)
_init1 = _libc.inotify_init1
_init1.argtypes = (ctypes.c_int,)
_init1.restype = ctypes.c_int
_add_watch = _libc.inotify_add_watch
_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_add_watch.restype = ctypes.c_int
_rm_watch = _libc.inotify_rm_watch
_rm_watch.argtypes = (ctypes.c_int, ctypes.c_int)
_rm_watch.restype = ctypes.c_int


class Event(Record):
    """One inotify event: the watch it came from, what happened, and the entry's name
    (empty when the event is about the watched directory itself)."""

    wd: int
    mask: int
    cookie: int
    name: str


def _raise(what: str, path: str | None = None) -> None:
    errno = ctypes.get_errno()
    if path is None:
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    raise OSError(errno, f"{what}: {os.strerror(errno)}", path)


def decode_events(data: bytes) -> list[Event]:
    """The events in bytes read from an inotify fd (names decoded as the file system
    names them: undecodable bytes kept as surrogates). A truncated tail is dropped:
    the kernel never splits an event, so it can only come from a caller's slicing."""
    events: list[Event] = []
    offset = 0
    size = _HEADER.size
    while offset + size <= len(data):
        wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
        offset += size
        if offset + length > len(data):
            break
        raw = data[offset : offset + length].split(b"\0", 1)[0]
        offset += length
        events.append(Event(wd, mask, cookie, os.fsdecode(raw)))
    return events


class Inotify:
    """One inotify instance: its fd, its watches, and reading what happened."""

    def __init__(self) -> None:
        fd = _init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            _raise("inotify_init1")
        self.fd: int | None = fd

    def fileno(self) -> int:
        if self.fd is None:
            raise ValueError("the inotify fd is closed")
        return self.fd

    def add_watch(self, path: str, mask: int) -> int:
        """The watch descriptor for ``path`` (the same one again for a path watched
        already: the kernel keys watches by inode); OSError when it cannot be watched."""
        wd = _add_watch(self.fileno(), os.fsencode(path), mask)
        if wd < 0:
            _raise("inotify_add_watch", path)
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        """Stop watching; a watch the kernel removed already (its directory is gone) is
        not an error."""
        if _rm_watch(self.fileno(), wd) < 0 and ctypes.get_errno() != 22:  # EINVAL
            _raise("inotify_rm_watch")

    def read(self, budget: int = READ_BUDGET) -> list[Event]:
        """The events queued now, at most ``budget`` bytes of them; [] when none is."""
        try:
            data = os.read(self.fileno(), max(budget, _HEADER.size + _NAME_MAX + 1))
        except BlockingIOError:
            return []
        return decode_events(data)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
