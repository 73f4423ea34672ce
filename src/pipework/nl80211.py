"""nl80211, the little of it pipework speaks: which wiphys and Wi-Fi interfaces a
namespace has, and moving a wiphy (with every interface of it) into another one.

A Wi-Fi netdev is netns-local: rtnetlink refuses to move it. The kernel moves its
wiphy instead (``iw phy PHY set netns``, NL80211_CMD_SET_WIPHY_NETNS), asked over a
socket in the namespace the wiphy is in, and every netdev of the phy follows, keeping
its name when the new namespace has it free (else ``wlan%d``) — so the interface is
found again by its wdev id, which the kernel gives it once and keeps across moves.
Numbers from the kernel's include/uapi/linux/nl80211.h.
"""

from __future__ import annotations

from errno import EINVAL, ENODEV, ENOENT, EOPNOTSUPP

from .errors import HostStateError, NetlinkError
from .netlink.codec import AttrTable
from .netlink.genl import GenlSocket, genl_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .netlink.messages import Request
    from .netlink.socket import Reply
    from .netns import NetNS

NL80211_CMD_GET_WIPHY = 1
NL80211_CMD_GET_INTERFACE = 5
NL80211_CMD_SET_WIPHY_NETNS = 49

NL80211 = AttrTable(
    "NL80211_ATTR",
    [
        (1, "NL80211_ATTR_WIPHY", "u32"),
        (2, "NL80211_ATTR_WIPHY_NAME", "asciiz"),
        (3, "NL80211_ATTR_IFINDEX", "u32"),
        (4, "NL80211_ATTR_IFNAME", "asciiz"),
        (153, "NL80211_ATTR_WDEV", "u64"),
        (174, "NL80211_ATTR_SPLIT_WIPHY_DUMP", "flag"),
        (219, "NL80211_ATTR_NETNS_FD", "u32"),
    ],
)

#: errnos of a wiphy (or interface) that is not in the socket's namespace
WIPHY_GONE = (ENODEV, ENOENT, EINVAL)


class WifiInterface:
    """A Wi-Fi interface as nl80211 reports it: its netdev and the wiphy it belongs to."""

    __slots__ = ("ifindex", "ifname", "wdev", "wiphy")

    def __init__(self, wiphy: int, wdev: int, ifindex: int, ifname: str) -> None:
        self.wiphy = wiphy
        self.wdev = wdev  # wiphy index << 32 | the interface's own id: set once, kept
        self.ifindex = ifindex
        self.ifname = ifname

    def __repr__(self) -> str:
        return f"WifiInterface({self.ifname!r}, wiphy={self.wiphy}, wdev={self.wdev:#x})"


def move_wiphy_request(family_id: int, wiphy: int, netns_fd: int) -> Request:
    """NL80211_CMD_SET_WIPHY_NETNS: wiphy ``wiphy`` into the namespace ``netns_fd``."""
    from .netlink.genl import genl_message

    attrs = NL80211.encode([("NL80211_ATTR_WIPHY", wiphy), ("NL80211_ATTR_NETNS_FD", netns_fd)])
    return genl_message(family_id, NL80211_CMD_SET_WIPHY_NETNS, attrs)


def dump_wiphys_request(family_id: int) -> Request:
    """NL80211_CMD_GET_WIPHY as a split dump (a wiphy's capabilities fill several
    messages; each names its wiphy)."""
    from .netlink.genl import genl_message

    attrs = NL80211.encode([("NL80211_ATTR_SPLIT_WIPHY_DUMP", True)])
    return genl_message(family_id, NL80211_CMD_GET_WIPHY, attrs)


def parse_wiphys(replies: list[Reply]) -> dict[int, str]:
    """index -> name of the wiphys of a split GET_WIPHY dump (every message names its
    wiphy's index; its name may be in the first only)."""
    found: dict[int, str] = {}
    for reply in replies:
        attrs = genl_attrs(NL80211, reply)
        index = attrs.get_int("NL80211_ATTR_WIPHY")
        if index is not None:
            found[index] = attrs.get_str("NL80211_ATTR_WIPHY_NAME") or found.get(index, "")
    return found


def parse_interface(reply: Reply) -> WifiInterface | None:
    """One NL80211_CMD_NEW_INTERFACE message; None for a wdev with no netdev."""
    attrs = genl_attrs(NL80211, reply)
    wiphy = attrs.get_int("NL80211_ATTR_WIPHY")
    wdev = attrs.get_int("NL80211_ATTR_WDEV")
    ifindex = attrs.get_int("NL80211_ATTR_IFINDEX")
    if wiphy is None or wdev is None or not ifindex:
        return None
    return WifiInterface(wiphy, wdev, ifindex, attrs.get_str("NL80211_ATTR_IFNAME") or "")


class Nl80211(GenlSocket):
    """An nl80211 socket, bound to the namespace it was created in."""

    __slots__ = ()

    def __init__(self, label: str = "host") -> None:
        super().__init__("nl80211", label)

    def __enter__(self) -> Nl80211:
        return self

    @classmethod
    def inside(cls, ns: NetNS) -> Nl80211:
        """A socket in ``ns``: what it lists and moves is what ``ns`` holds."""
        from .netns import inside

        with inside(ns):
            return cls(ns.label)

    def wiphys(self) -> dict[int, str]:
        """The wiphys of the socket's namespace: index -> name."""
        return parse_wiphys(self.dump(dump_wiphys_request(self.family_id), op="list wiphys"))

    def interfaces(self) -> list[WifiInterface]:
        """The Wi-Fi netdevs of the socket's namespace (a wdev without a netdev, such
        as a P2P device, is left out: nothing to name or configure)."""
        req = self.command(NL80211_CMD_GET_INTERFACE)
        replies = self.dump(req, op="list Wi-Fi interfaces")
        return [iface for iface in map(parse_interface, replies) if iface is not None]

    def interface(self, *, ifindex: int = 0, wdev: int | None = None) -> WifiInterface | None:
        """The Wi-Fi interface with that netdev index (or wdev id) in the socket's
        namespace, or None."""
        for iface in self.interfaces():
            if iface.ifindex == ifindex or iface.wdev == wdev:
                return iface
        return None

    def move_wiphy(self, wiphy: int, netns_fd: int, *, obj: str) -> None:
        """Move wiphy ``wiphy`` (from the socket's namespace) into ``netns_fd``, with
        every interface of it."""
        try:
            self.request(move_wiphy_request(self.family_id, wiphy, netns_fd), op="move", obj=obj)
        except NetlinkError as exc:
            if exc.errno == EOPNOTSUPP:
                raise HostStateError(
                    f"cannot move {obj}: its driver does not let its wiphy change namespace",
                    hint="an ipvlan on the NIC works instead (--ipvlan-mode l2)",
                ) from None
            raise
