"""Incus containers, by name: LXD's resolver (``guests.lxd``) on Incus's socket.

Incus is LXD's fork and answers the same REST API (``/1.0/instances/NAME/state``)
with the same checks; its containers are LXC containers too. Only the socket and
the words in messages differ: ``$INCUS_SOCKET``, else ``$INCUS_DIR/unix.socket``,
else the daemon's own.
"""

from __future__ import annotations

from .lxd import LxdResolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class IncusResolver(LxdResolver):
    name: ClassVar[str] = "incus"
    product: ClassVar[str] = "Incus"
    env_socket: ClassVar[str] = "INCUS_SOCKET"
    env_dir: ClassVar[str] = "INCUS_DIR"
    sockets: ClassVar[tuple[str, ...]] = ("/var/lib/incus/unix.socket", "/run/incus/unix.socket")
    check_daemon: ClassVar[str] = "systemctl status incus"


RESOLVER = IncusResolver()
