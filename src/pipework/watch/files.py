"""The attachments.d source: declarations in ``*.conf`` files of one directory
(/etc/pipework/attachments.d unless ``--dir`` says otherwise), followed with inotify.

A declaration is a privilege: whoever writes one decides what is plumbed into which
guest, as root. So only what root could have written is read: the directory and
each file must belong to root (or to the user running pipework) and must not be
writable by anyone else (group-writable only for group root). A symbolic link is
not followed: its target's owner and mode are checked once opened, but whoever
controls a directory along the link's path could swap in another of root's files,
and its lines would end up in the log as bad declarations. Each refused file is one
bad declaration (one log line), and the others are still read.

The directory may not exist yet: ``reconnect`` says so, and the loop tries again
with back-off; once it is there, every change of a ``*.conf`` file in it (written,
renamed into place, removed, chmod'ed) makes ``read`` answer None, "read everything
again": a file holds few lines, and re-reading them all is how a removed or edited
line is noticed.
"""

from __future__ import annotations

import os
import stat

from . import declare
from .declare import BadDeclaration, Declaration
from .source import Source, SourceLost, same_guest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._lowlevel.inotify import Inotify
    from ..names import GuestRef

SUFFIX = ".conf"
#: a declaration file is a handful of command lines; anything larger is refused unread
MAX_FILE = 1 << 20
MAX_FILES = 1024


def _watch_mask() -> int:
    from .._lowlevel import inotify as ino

    # IN_ATTRIB: a chmod or chown decides whether a file is read at all
    return (
        ino.IN_CLOSE_WRITE
        | ino.IN_MOVED_TO
        | ino.IN_MOVED_FROM
        | ino.IN_CREATE
        | ino.IN_DELETE
        | ino.IN_ATTRIB
        | ino.IN_DELETE_SELF
        | ino.IN_MOVE_SELF
        | ino.IN_ONLYDIR
        | ino.IN_DONT_FOLLOW
        | ino.IN_EXCL_UNLINK
    )


def _trusted(st: os.stat_result) -> str | None:
    """Why a file or directory with this status may not declare anything, or None."""
    if st.st_uid not in (0, os.geteuid()):
        return f"it belongs to uid {st.st_uid}, not root"
    if st.st_mode & stat.S_IWOTH:
        return "it is writable by every user"
    if st.st_mode & stat.S_IWGRP and st.st_gid != 0:
        return f"it is writable by group {st.st_gid}"
    return None


class FileSource(Source):
    """Declarations in the ``*.conf`` files of ``directory``."""

    name = "files"

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._inotify: Inotify | None = None

    # -- events

    def reconnect(self) -> bool:
        from .._lowlevel.inotify import Inotify

        self.close()
        inotify = Inotify()
        try:
            inotify.add_watch(self.directory, _watch_mask())
        except OSError as exc:
            inotify.close()
            if exc.errno in (2, 20):  # ENOENT, ENOTDIR: not created yet
                raise SourceLost(f"{self.directory} does not exist (yet)") from None
            raise SourceLost(f"cannot watch {self.directory}: {exc.strerror}") from None
        self._inotify = inotify
        return True

    def fileno(self) -> int | None:
        return None if self._inotify is None else self._inotify.fileno()

    def read(self) -> list[GuestRef] | None:
        from .._lowlevel import inotify as ino

        if self._inotify is None:
            raise SourceLost(f"{self.directory} is not watched")
        events = self._inotify.read()
        gone = ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_IGNORED | ino.IN_UNMOUNT
        if any(event.mask & gone for event in events):
            self.close()
            raise SourceLost(f"{self.directory} was removed or moved")
        changed = any(
            event.mask & ino.IN_Q_OVERFLOW or _is_declaration_file(event.name) for event in events
        )
        return None if changed else []

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    # -- declarations

    def running(self) -> list[Declaration | BadDeclaration]:
        """Every declaration of every file; a guest that is not running is the
        reconciler's "waiting", not an error here."""
        return self._read_all()

    def declarations_for(self, guests: list[GuestRef]) -> list[Declaration | BadDeclaration]:
        # bad lines name no guest: running() reported them, once
        return [
            found
            for found in self._read_all()
            if isinstance(found, Declaration) and any(same_guest(found.guest, g) for g in guests)
        ]

    def _read_all(self) -> list[Declaration | BadDeclaration]:
        try:
            dirfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []  # no declaration file yet: nothing declared
        except OSError as exc:
            return [BadDeclaration(self.directory, "", f"cannot open it: {exc.strerror}")]
        try:
            why = _trusted(os.fstat(dirfd))
            if why is not None:
                return [BadDeclaration(self.directory, "", f"not read: {why}")]
            names = sorted(n for n in os.listdir(dirfd) if _is_declaration_file(n))
            found: list[Declaration | BadDeclaration] = []
            if len(names) > MAX_FILES:
                found.append(
                    BadDeclaration(
                        self.directory, "", f"{len(names)} files; only the first {MAX_FILES} read"
                    )
                )
            for name in names[:MAX_FILES]:
                found += self._read_file(dirfd, name)
            return found
        finally:
            os.close(dirfd)

    def _read_file(self, dirfd: int, name: str) -> list[Declaration | BadDeclaration]:
        path = f"{self.directory.rstrip('/')}/{name}"
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
        try:
            fd = os.open(name, flags, dir_fd=dirfd)
        except FileNotFoundError:
            return []  # removed since the listing: the next event says so
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: O_NOFOLLOW met a symbolic link
                why = "it is a symbolic link, which is not followed (copy the file here)"
            else:
                why = f"cannot open it: {exc.strerror}"
            return [BadDeclaration(path, "", why)]
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return [BadDeclaration(path, "", "not read: it is not a regular file")]
            untrusted = _trusted(st)
            if untrusted is not None:
                return [BadDeclaration(path, "", f"not read: {untrusted}")]
            if st.st_size > MAX_FILE:
                return [BadDeclaration(path, "", f"not read: larger than {MAX_FILE} bytes")]
            data = _read_bounded(fd, MAX_FILE + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_FILE:
            return [BadDeclaration(path, "", f"not read: larger than {MAX_FILE} bytes")]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [BadDeclaration(path, "", f"not UTF-8 (byte {exc.start})")]
        return declare.from_file_text(text, path)


def _is_declaration_file(name: str) -> bool:
    # editors' and package managers' leftovers (.web.conf.swp, web.conf~,
    # web.conf.dpkg-new) do not end in .conf; hidden files are someone's work in progress
    return name.endswith(SUFFIX) and len(name) > len(SUFFIX) and not name.startswith(".")


def _read_bounded(fd: int, budget: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < budget:
        chunk = os.read(fd, min(65536, budget - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
