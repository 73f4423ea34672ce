"""Generic netlink: a socket for one family (nl80211, ethtool...), whose id the kernel
assigns at run time and names on request (CTRL_CMD_GETFAMILY to GENL_ID_CTRL).

Every message carries a ``genlmsghdr`` (command, version) before its attributes;
the requests, acks, errors and dumps are rtnetlink's, so the socket is
``NetlinkSocket``'s with another protocol and the family id looked up once.
"""

from __future__ import annotations

import os
from _socket import SOCK_CLOEXEC, SOCK_RAW, socket
from _struct import Struct
from errno import ENOENT

from ..errors import HostStateError, NetlinkError
from .codec import AttrTable
from .messages import NLM_F_REQUEST
from .socket import AF_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK, SOL_NETLINK, NetlinkSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .codec import Attrs
    from .messages import Request
    from .socket import Reply

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
GENLMSGHDR = Struct("=BBH")  # command, version, reserved

CTRL = AttrTable(
    "CTRL_ATTR",
    [
        (1, "CTRL_ATTR_FAMILY_ID", "u16"),
        (2, "CTRL_ATTR_FAMILY_NAME", "asciiz"),
    ],
)


def genl_message(family_id: int, command: int, attrs: bytes = b"", *, version: int = 1) -> Request:
    """A request of a generic netlink family: its header, then its attributes."""
    return family_id, NLM_F_REQUEST, GENLMSGHDR.pack(command, version, 0) + attrs


def get_family(name: str) -> Request:
    """CTRL_CMD_GETFAMILY: the id of the family called ``name``."""
    return genl_message(
        GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL.encode([("CTRL_ATTR_FAMILY_NAME", name)])
    )


def genl_attrs(table: AttrTable, reply: Reply) -> Attrs:
    """The attributes of one reply (after its genlmsghdr)."""
    _type, data, start, end = reply
    return table.decode(data, start + GENLMSGHDR.size, end)


class GenlSocket(NetlinkSocket):
    """A NETLINK_GENERIC socket speaking one family, bound to the namespace it was
    created in (a wiphy is moved from the namespace it is in: see nl80211.py)."""

    __slots__ = ("family", "family_id")

    def __init__(self, family: str, label: str = "host") -> None:
        # NetlinkSocket's own __init__ opens NETLINK_ROUTE; the rest is the same
        self._sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC)
        try:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self._sock.bind((0, 0))
            self._seq = int.from_bytes(os.urandom(2), "big") << 8
            self.label = label
            self.family = family
            self.family_id = self._resolve(family)
        except BaseException:
            self._sock.close()
            raise

    def _resolve(self, family: str) -> int:
        try:
            replies = self.request(get_family(family), op="look up", obj=f"netlink family {family}")
        except NetlinkError as exc:
            if exc.errno != ENOENT:
                raise
            raise HostStateError(
                f"the kernel has no {family} netlink family",
                hint=f"load the module that provides {family} (cfg80211 for nl80211)",
            ) from None
        family_id = genl_attrs(CTRL, replies[0]).get_int("CTRL_ATTR_FAMILY_ID") if replies else None
        if family_id is None:
            raise HostStateError(f"the kernel named no id for the netlink family {family}")
        return family_id

    def command(self, command: int, attrs: bytes = b"") -> Request:
        """A request of this socket's family."""
        return genl_message(self.family_id, command, attrs)
