"""openat2(2): open a path inside a directory that the kernel treats as the root.

A path inside a container, walked from the host (``/proc/PID/root/etc/...``), is
resolved by the kernel with the host's root: an absolute symbolic link the
container planted leads anywhere on the host. ``openat2`` with
``RESOLVE_IN_ROOT`` resolves every component relative to a directory fd, as if
the process were chrooted there, and ``RESOLVE_NO_SYMLINKS`` refuses symbolic
links altogether (ELOOP). Python has no ``os.openat2``: this calls the system
call through ctypes (437 on every architecture that has it, x86_64 and aarch64
included). Imported only where a guest's file is written (``--dns``): ctypes
stays off the attach path.

Kernels before 5.6 have no openat2: ENOSYS, which callers turn into a refusal.
"""

from __future__ import annotations

import ctypes
import os

SYS_OPENAT2 = 437
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
#: inside a guest's root: nothing resolves outside it, no link of any kind is followed
IN_ROOT_NO_LINKS = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = (
    ctypes.c_long,
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.POINTER(_OpenHow),
    ctypes.c_size_t,
)


def openat2(
    dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = IN_ROOT_NO_LINKS
) -> int:
    """The new fd; OSError with the kernel's errno (ENOSYS: no openat2 here).

    The kernel refuses a mode without O_CREAT and flags it does not know (EINVAL),
    unlike open(2): callers pass exactly what they mean. O_CLOEXEC is always added.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, resolve)
    fd = _syscall(SYS_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))
    if fd < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno), path)
    return int(fd)
