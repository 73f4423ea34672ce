"""rtnetlink messages: links, addresses and routes, as request builders and parsers.

Each builder returns a ``Request``, ``(message type, flags, body)``, ready for
``NetlinkSocket``; each parser turns a reply body into a small frozen record
(``ops`` pairs them into typed calls). Constants come from <linux/rtnetlink.h>,
<linux/if_link.h> and <linux/if_addr.h>.
"""

from __future__ import annotations

from _struct import Struct

from .._lowlevel.record import Record
from .codec import NLA_F_NESTED, NLAHDR, Attrs, AttrTable, DecodeError, align, pack_attr

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY

    #: one netlink request: message type, flags, body
    Request = tuple[int, int, bytes]

_U32 = Struct("=I")
_VLAN_INFO = Struct("=HH")  # struct bridge_vlan_info: flags, vid

# Message types.
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNSID, RTM_GETNSID = 88, 90

# Header flags.
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x2, 0x4, 0x8
NLM_F_DUMP = 0x300
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400

AF_UNSPEC, AF_INET, AF_INET6, AF_BRIDGE = 0, 2, 10, 7

IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_RUNNING, IFF_LOWER_UP = 0x1, 0x2, 0x8, 0x40, 0x10000

IFA_F_NODAD, IFA_F_PERMANENT = 0x02, 0x80
RT_TABLE_MAIN = 254
RTPROT_KERNEL, RTPROT_BOOT, RTPROT_STATIC = 2, 3, 4
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
RTN_UNICAST = 1

IFINFOMSG = Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = Struct("=BBBBi")  # family, prefixlen, flags, scope, index
IFA_CACHEINFO = Struct("=IIII")  # ifa_prefered, ifa_valid, cstamp, tstamp
RTMSG = Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags

IFLA = AttrTable(
    "IFLA",
    [
        (1, "IFLA_ADDRESS", "binary"),
        (2, "IFLA_BROADCAST", "binary"),
        (3, "IFLA_IFNAME", "asciiz"),
        (4, "IFLA_MTU", "u32"),
        (5, "IFLA_LINK", "s32"),
        (6, "IFLA_QDISC", "asciiz"),
        (10, "IFLA_MASTER", "u32"),
        (13, "IFLA_TXQLEN", "u32"),
        (16, "IFLA_OPERSTATE", "u8"),
        (17, "IFLA_LINKMODE", "u8"),
        (18, "IFLA_LINKINFO", "nested"),
        (19, "IFLA_NET_NS_PID", "u32"),
        (20, "IFLA_IFALIAS", "asciiz"),
        (26, "IFLA_AF_SPEC", "nested"),
        (27, "IFLA_GROUP", "u32"),
        (28, "IFLA_NET_NS_FD", "u32"),
        (29, "IFLA_EXT_MASK", "u32"),
        (30, "IFLA_PROMISCUITY", "u32"),
        (33, "IFLA_CARRIER", "u8"),
        (37, "IFLA_LINK_NETNSID", "s32"),
        (46, "IFLA_TARGET_NETNSID", "s32"),
        (50, "IFLA_MIN_MTU", "u32"),
        (51, "IFLA_MAX_MTU", "u32"),
        (53, "IFLA_ALT_IFNAME", "asciiz"),
        (54, "IFLA_PERM_ADDRESS", "binary"),
    ],
)
IFLA_INFO = AttrTable(
    "IFLA_INFO",
    [
        (1, "IFLA_INFO_KIND", "asciiz"),
        (2, "IFLA_INFO_DATA", "nested"),
        (4, "IFLA_INFO_SLAVE_KIND", "asciiz"),
        (5, "IFLA_INFO_SLAVE_DATA", "nested"),
    ],
)
IFLA.nested["IFLA_LINKINFO"] = IFLA_INFO
# IFLA_INFO_DATA of the kinds pipework creates or reads (<linux/if_link.h>).
KIND_DATA = {
    "macvlan": AttrTable("IFLA_MACVLAN", [(1, "IFLA_MACVLAN_MODE", "u32")]),
    "ipvlan": AttrTable(
        "IFLA_IPVLAN", [(1, "IFLA_IPVLAN_MODE", "u16"), (2, "IFLA_IPVLAN_FLAGS", "u16")]
    ),
    "ipoib": AttrTable(
        "IFLA_IPOIB",
        [
            (1, "IFLA_IPOIB_PKEY", "u16"),
            (2, "IFLA_IPOIB_MODE", "u16"),
            (3, "IFLA_IPOIB_UMCAST", "u16"),
        ],
    ),
    "vlan": AttrTable("IFLA_VLAN", [(1, "IFLA_VLAN_ID", "u16"), (5, "IFLA_VLAN_PROTOCOL", "be16")]),
    "bridge": AttrTable(
        "IFLA_BR",
        [
            (1, "IFLA_BR_FORWARD_DELAY", "u32"),  # centiseconds
            (5, "IFLA_BR_STP_STATE", "u32"),
            (7, "IFLA_BR_VLAN_FILTERING", "u8"),
        ],
    ),
    # a unicast remote is IFLA_VXLAN_GROUP too (the kernel tells them apart by address)
    "vxlan": AttrTable(
        "IFLA_VXLAN",
        [
            (1, "IFLA_VXLAN_ID", "u32"),
            (2, "IFLA_VXLAN_GROUP", "binary"),
            (3, "IFLA_VXLAN_LINK", "u32"),
            (4, "IFLA_VXLAN_LOCAL", "binary"),
            (5, "IFLA_VXLAN_TTL", "u8"),
            (6, "IFLA_VXLAN_TOS", "u8"),
            (7, "IFLA_VXLAN_LEARNING", "u8"),
            (8, "IFLA_VXLAN_AGEING", "u32"),
            (9, "IFLA_VXLAN_LIMIT", "u32"),
            (11, "IFLA_VXLAN_PROXY", "u8"),
            (13, "IFLA_VXLAN_L2MISS", "u8"),
            (14, "IFLA_VXLAN_L3MISS", "u8"),
            (15, "IFLA_VXLAN_PORT", "be16"),
            (16, "IFLA_VXLAN_GROUP6", "binary"),
            (17, "IFLA_VXLAN_LOCAL6", "binary"),
            (18, "IFLA_VXLAN_UDP_CSUM", "u8"),
            (25, "IFLA_VXLAN_COLLECT_METADATA", "u8"),
            (28, "IFLA_VXLAN_TTL_INHERIT", "flag"),
            (29, "IFLA_VXLAN_DF", "u8"),
        ],
    ),
}
#: the IANA port of VXLAN (RFC 7348), the default destination port
VXLAN_PORT = 4789
MACVLAN_MODE = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8, "source": 16}
IPVLAN_MODE = {"l2": 0, "l3": 1, "l3s": 2}

# IFLA_AF_SPEC holds one nested set per address family; AF_INET's carries the
# interface's IPv4 sysctls (devconf) as IFLA_INET_CONF: read as an array of u32,
# written as attributes whose type is the IPV4_DEVCONF_* index.
IFLA_AF_SPEC = AttrTable("IFLA_AF_SPEC", [(2, "AF_INET", "nested")])
IFLA_INET = AttrTable("IFLA_INET", [(1, "IFLA_INET_CONF", "binary")])
IFLA.nested["IFLA_AF_SPEC"] = IFLA_AF_SPEC
IFLA_AF_SPEC.nested["AF_INET"] = IFLA_INET
IPV4_DEVCONF_ARP_NOTIFY = 22  # <linux/ip.h>: send gratuitous ARP on up/address change

IFLA_BRPORT = AttrTable("IFLA_BRPORT", [(1, "IFLA_BRPORT_STATE", "u8")])
IFLA_INFO.nested["IFLA_INFO_SLAVE_DATA"] = IFLA_BRPORT  # the only slave data we read
BR_STATE_DISABLED, BR_STATE_FORWARDING = 0, 3
VETH_INFO = AttrTable("VETH_INFO", [(1, "VETH_INFO_PEER", "binary")])
IFLA_INFO.nested["IFLA_INFO_DATA"] = VETH_INFO  # the only kind whose data we send

IFA = AttrTable(
    "IFA",
    [
        (1, "IFA_ADDRESS", "binary"),
        (2, "IFA_LOCAL", "binary"),
        (3, "IFA_LABEL", "asciiz"),
        (4, "IFA_BROADCAST", "binary"),
        (6, "IFA_CACHEINFO", "binary"),
        (8, "IFA_FLAGS", "u32"),
        (10, "IFA_TARGET_NETNSID", "s32"),
    ],
)
RTA = AttrTable(
    "RTA",
    [
        (1, "RTA_DST", "binary"),
        (2, "RTA_SRC", "binary"),
        (3, "RTA_IIF", "u32"),
        (4, "RTA_OIF", "u32"),
        (5, "RTA_GATEWAY", "binary"),
        (6, "RTA_PRIORITY", "u32"),
        (7, "RTA_PREFSRC", "binary"),
        (8, "RTA_METRICS", "nested"),
        (9, "RTA_MULTIPATH", "binary"),
        (15, "RTA_TABLE", "u32"),
        (16, "RTA_MARK", "u32"),
        (20, "RTA_PREF", "u8"),
    ],
)
CREATE_EXCL = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
CREATE_REPLACE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0, family: int = AF_UNSPEC) -> bytes:
    return IFINFOMSG.pack(family, 0, index, flags, change)


# ---------------------------------------------------------------- links


class Link(Record):
    """One RTM_NEWLINK reply, the fields pipework reads."""

    _: KW_ONLY
    index: int
    type: int  # ARPHRD_*
    name: str
    flags: int
    kind: str | None
    slave_kind: str | None
    master: int | None
    mtu: int | None
    address: bytes | None
    alias: str | None
    link: int | None
    link_netnsid: int | None
    operstate: int | None
    port_state: int | None  # BR_STATE_* when the link is a bridge port
    arp_notify: int | None  # the interface's net.ipv4.conf.<if>.arp_notify
    info_data: bytes | None  # IFLA_INFO_DATA, raw; ``kind_data`` decodes it

    @property
    def is_up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def has_carrier(self) -> bool:
        return bool(self.flags & IFF_LOWER_UP)

    @property
    def state(self) -> str:
        """As ``ls`` and ``inspect`` say it: up, no carrier, or down."""
        if not self.is_up:
            return "down"
        return "up" if self.has_carrier else "no carrier"


def parse_link(data: bytes, offset: int, end: int) -> Link:
    if end - offset < IFINFOMSG.size:
        raise DecodeError("truncated ifinfomsg")
    _family, arphrd, index, flags, _change = IFINFOMSG.unpack_from(data, offset)
    attrs = IFLA.decode(data, offset + IFINFOMSG.size, end)
    info = attrs.get_nested("IFLA_LINKINFO")
    slave_kind = info.get_str("IFLA_INFO_SLAVE_KIND") if info else None
    port_state = None
    if info is not None and slave_kind == "bridge":
        slave = info.get_nested("IFLA_INFO_SLAVE_DATA")
        port_state = slave.get_int("IFLA_BRPORT_STATE") if slave else None
    kind = info.get_str("IFLA_INFO_KIND") if info else None
    return Link(
        index=index,
        type=arphrd,
        arp_notify=_devconf(attrs, IPV4_DEVCONF_ARP_NOTIFY),
        info_data=info.raw.get(2) if info else None,  # IFLA_INFO_DATA
        name=attrs.get_str("IFLA_IFNAME") or "",
        flags=flags,
        kind=kind,
        slave_kind=slave_kind,
        port_state=port_state,
        master=attrs.get_int("IFLA_MASTER"),
        mtu=attrs.get_int("IFLA_MTU"),
        address=attrs.get_bytes("IFLA_ADDRESS"),
        alias=attrs.get_str("IFLA_IFALIAS"),
        link=attrs.get_int("IFLA_LINK"),
        link_netnsid=attrs.get_int("IFLA_LINK_NETNSID"),
        operstate=attrs.get_int("IFLA_OPERSTATE"),
    )


def kind_data(link: Link) -> Attrs | None:
    """The kind-specific attributes of a link (VLAN id, bridge settings…), if known."""
    table = KIND_DATA.get(link.kind or "")
    if table is None or link.info_data is None:
        return None
    return table.decode(link.info_data)


def _devconf(attrs: Attrs, index: int) -> int | None:
    spec = attrs.get_nested("IFLA_AF_SPEC")
    inet = spec.get_nested("AF_INET") if spec else None
    conf = inet.get_bytes("IFLA_INET_CONF") if inet else None
    if conf is None or len(conf) < 4 * index:
        return None
    value: int = _U32.unpack_from(conf, 4 * (index - 1))[0]
    return value


# Ask for links without their statistics: the replies are half the size, and
# every attribute costs a Python loop turn to split.
RTEXT_FILTER_SKIP_STATS = 1 << 3
_NO_STATS = IFLA.encode([("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)])


def get_link(name: str | None = None, index: int = 0, *, netnsid: int | None = None) -> Request:
    """One link, by name or index; ``netnsid`` reads it from another namespace, named
    by its id as the socket's namespace knows it (IFLA_LINK_NETNSID of a veth)."""
    body = ifinfomsg(index)
    if name is not None:
        body += IFLA.encode([("IFLA_IFNAME", name)])
    if netnsid is not None:
        body += IFLA.encode([("IFLA_TARGET_NETNSID", netnsid)])
    return RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, body + _NO_STATS


NETNSA = AttrTable("NETNSA", [(1, "NETNSA_NSID", "s32"), (3, "NETNSA_FD", "u32")])
_RTGENMSG = b"\0\0\0\0"  # struct rtgenmsg: a family byte, padded to four


def get_nsid(netns_fd: int) -> Request:
    """The id the socket's namespace knows the namespace ``netns_fd`` by (the
    IFLA_LINK_NETNSID of links whose peer lives there)."""
    return (
        RTM_GETNSID,
        NLM_F_REQUEST | NLM_F_ACK,
        _RTGENMSG + NETNSA.encode([("NETNSA_FD", netns_fd)]),
    )


def new_nsid(netns_fd: int) -> Request:
    """Assign the namespace ``netns_fd`` an id in the socket's namespace (any free one)."""
    attrs = NETNSA.encode([("NETNSA_NSID", -1), ("NETNSA_FD", netns_fd)])
    return RTM_NEWNSID, NLM_F_REQUEST | NLM_F_ACK, _RTGENMSG + attrs


def parse_nsid(data: bytes, offset: int, end: int) -> int | None:
    """NETNSA_NSID of an RTM_NEWNSID reply; None when no id is assigned (-1)."""
    nsid = NETNSA.decode(data, offset + len(_RTGENMSG), end).get_int("NETNSA_NSID")
    return None if nsid is None or nsid < 0 else nsid


def dump_links() -> Request:
    return RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, ifinfomsg() + _NO_STATS


def create_bridge(name: str, *, up: bool) -> Request:
    attrs: list[tuple[str, object]] = [("IFLA_IFNAME", name)]
    attrs.append(("IFLA_LINKINFO", IFLA_INFO.encode([("IFLA_INFO_KIND", "bridge")])))
    flags = IFF_UP if up else 0
    return RTM_NEWLINK, CREATE_EXCL, ifinfomsg(0, flags, IFF_UP) + IFLA.encode(attrs)


def create_veth(
    name: str,
    peer_name: str,
    *,
    peer_netns_fd: int | None,
    mtu: int | None = None,
    master: int | None = None,
    up: bool = True,
    peer_mac: bytes | None = None,
) -> Request:
    """One request for the whole pair: the peer is born inside the guest with its final
    name, MAC and MTU, so no link ever has to move between namespaces.

    The peer cannot be born up: the kernel configures it before the pair is joined
    and ``veth_open`` then fails with ENOTCONN, so the guest side is set up later.
    Nor can the alias be given here (link creation ignores IFLA_IFALIAS).
    """
    peer_attrs: list[tuple[str, object]] = [("IFLA_IFNAME", peer_name)]
    if mtu is not None:
        peer_attrs.append(("IFLA_MTU", mtu))
    if peer_mac is not None:
        peer_attrs.append(("IFLA_ADDRESS", peer_mac))
    if peer_netns_fd is not None:
        peer_attrs.append(("IFLA_NET_NS_FD", peer_netns_fd))
    peer = ifinfomsg() + IFLA.encode(peer_attrs)
    info = IFLA_INFO.encode(
        [
            ("IFLA_INFO_KIND", "veth"),
            ("IFLA_INFO_DATA", VETH_INFO.encode([("VETH_INFO_PEER", peer)])),
        ]
    )
    return _new_link(name, info, mtu=mtu, master=master, up=up)


def create_link(
    kind: str,
    name: str,
    *,
    parent: int | None = None,
    netns_fd: int | None = None,
    mtu: int | None = None,
    mac: bytes | None = None,
    data: list[tuple[str, object]] | None = None,
    up: bool = False,
) -> Request:
    """A new link of ``kind`` (macvlan, ipvlan, ipoib, vlan, dummy…), made directly in
    the namespace of ``netns_fd`` when given; ``parent`` is its lower device, looked
    up in the namespace of the socket."""
    info: list[tuple[str, object]] = [("IFLA_INFO_KIND", kind)]
    if data:
        info.append(("IFLA_INFO_DATA", KIND_DATA[kind].encode(data)))
    attrs: list[tuple[str, object]] = [("IFLA_IFNAME", name)]
    if parent is not None:
        attrs.append(("IFLA_LINK", parent))
    if mtu is not None:
        attrs.append(("IFLA_MTU", mtu))
    if mac is not None:
        attrs.append(("IFLA_ADDRESS", mac))
    if netns_fd is not None:
        attrs.append(("IFLA_NET_NS_FD", netns_fd))
    attrs.append(("IFLA_LINKINFO", IFLA_INFO.encode(info)))
    body = ifinfomsg(0, IFF_UP if up else 0, IFF_UP) + IFLA.encode(attrs)
    return RTM_NEWLINK, CREATE_EXCL, body


def _new_link(name: str, info: bytes, *, mtu: int | None, master: int | None, up: bool) -> Request:
    """RTM_NEWLINK of a link named ``name`` with its IFLA_LINKINFO ``info`` (kind and
    kind data), its MTU and master when given, up or not."""
    attrs: list[tuple[str, object]] = [("IFLA_IFNAME", name)]
    if mtu is not None:
        attrs.append(("IFLA_MTU", mtu))
    if master is not None:
        attrs.append(("IFLA_MASTER", master))
    attrs.append(("IFLA_LINKINFO", info))
    body = ifinfomsg(0, IFF_UP if up else 0, IFF_UP) + IFLA.encode(attrs)
    return RTM_NEWLINK, CREATE_EXCL, body


def create_vxlan(
    name: str,
    vni: int,
    *,
    remote: bytes | None = None,
    group: bytes | None = None,
    local: bytes | None = None,
    port: int = VXLAN_PORT,
    underlay: int | None = None,
    mtu: int | None = None,
    master: int | None = None,
    up: bool = False,
) -> Request:
    """A VXLAN device (``ip link add NAME type vxlan id VNI remote|group ADDR local ADDR
    dstport PORT dev UNDERLAY``), a port of ``master`` when given. Addresses are packed
    (4 bytes: IPv4 attributes, 16: IPv6); a unicast remote and a multicast group are
    the same attribute, the kernel tells them apart by the address."""
    peer = remote if remote is not None else group
    data: list[tuple[str, object]] = [("IFLA_VXLAN_ID", vni)]
    if peer is not None:
        data.append(("IFLA_VXLAN_GROUP" if len(peer) == 4 else "IFLA_VXLAN_GROUP6", peer))
    if local is not None:
        data.append(("IFLA_VXLAN_LOCAL" if len(local) == 4 else "IFLA_VXLAN_LOCAL6", local))
    if underlay is not None:
        data.append(("IFLA_VXLAN_LINK", underlay))
    data.append(("IFLA_VXLAN_PORT", port))
    info = IFLA_INFO.encode(
        [("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", KIND_DATA["vxlan"].encode(data))]
    )
    return _new_link(name, info, mtu=mtu, master=master, up=up)


def move_link(index: int, netns_fd: int, name: str | None = None) -> Request:
    """Move a link into another namespace, renamed on the way (``ip link set … netns``)."""
    attrs: list[tuple[str, object]] = [("IFLA_NET_NS_FD", netns_fd)]
    if name is not None:
        attrs.append(("IFLA_IFNAME", name))
    return RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(index) + IFLA.encode(attrs)


def set_bridge_vlan_filtering(index: int, on: bool) -> Request:
    data = KIND_DATA["bridge"].encode([("IFLA_BR_VLAN_FILTERING", 1 if on else 0)])
    info = IFLA_INFO.encode([("IFLA_INFO_KIND", "bridge"), ("IFLA_INFO_DATA", data)])
    body = ifinfomsg(index) + IFLA.encode([("IFLA_LINKINFO", info)])
    return RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body


BRIDGE_VLAN_INFO_PVID, BRIDGE_VLAN_INFO_UNTAGGED = 0x2, 0x4
_IFLA_BRIDGE_VLAN_INFO = 2


def bridge_port_vlan(index: int, vid: int, *, add: bool, pvid_untagged: bool = False) -> Request:
    """Add a VLAN to a bridge port (``bridge vlan add … pvid untagged``), or delete it."""
    flags = BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED if pvid_untagged else 0
    info = pack_attr(_IFLA_BRIDGE_VLAN_INFO, _VLAN_INFO.pack(flags, vid))
    spec = pack_attr(26 | NLA_F_NESTED, info)  # IFLA_AF_SPEC
    msg_type = RTM_SETLINK if add else RTM_DELLINK
    return msg_type, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(index, family=AF_BRIDGE) + spec


def set_link(
    index: int,
    *,
    up: bool | None = None,
    alias: str | None = None,
    mtu: int | None = None,
    master: int | None = None,
    address: bytes | None = None,
    ipv4_conf: dict[int, int] | None = None,
) -> Request:
    """Change an existing link. The kernel applies the MAC address first, then the
    flags, then the IPv4 sysctls (``ipv4_conf``: IPV4_DEVCONF_* index -> value)."""
    flags = IFF_UP if up else 0
    change = IFF_UP if up is not None else 0
    attrs: list[tuple[str, object]] = []
    if alias is not None:
        attrs.append(("IFLA_IFALIAS", alias))
    if mtu is not None:
        attrs.append(("IFLA_MTU", mtu))
    if master is not None:
        attrs.append(("IFLA_MASTER", master))
    if address is not None:
        attrs.append(("IFLA_ADDRESS", address))
    if ipv4_conf:
        conf = b"".join(pack_attr(key, _U32.pack(value)) for key, value in ipv4_conf.items())
        inet = pack_attr(1 | NLA_F_NESTED, conf)  # IFLA_INET_CONF
        attrs.append(("IFLA_AF_SPEC", pack_attr(AF_INET | NLA_F_NESTED, inet)))
    body = ifinfomsg(index, flags, change) + IFLA.encode(attrs)
    return RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body


def delete_link_by_name(name: str) -> Request:
    return (
        RTM_DELLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        ifinfomsg() + IFLA.encode([("IFLA_IFNAME", name)]),
    )


def delete_link(index: int) -> Request:
    return RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, ifinfomsg(index)


# ---------------------------------------------------------------- addresses


class Address(Record):
    """One RTM_NEWADDR reply."""

    _: KW_ONLY
    family: int
    prefixlen: int
    flags: int
    scope: int
    index: int
    address: bytes | None
    local: bytes | None
    label: str | None
    broadcast: bytes | None

    def __str__(self) -> str:
        """``ADDR/PREFIX``, as ``ip addr`` prints it."""
        from _socket import AF_INET6, inet_ntop

        packed = self.local or self.address or b""
        family = AF_INET6 if self.family == AF_INET6 else AF_INET
        return f"{inet_ntop(family, packed)}/{self.prefixlen}"


def parse_address(data: bytes, offset: int, end: int) -> Address:
    if end - offset < IFADDRMSG.size:
        raise DecodeError("truncated ifaddrmsg")
    family, prefixlen, flags, scope, index = IFADDRMSG.unpack_from(data, offset)
    attrs = IFA.decode(data, offset + IFADDRMSG.size, end)
    return Address(
        family=family,
        prefixlen=prefixlen,
        flags=attrs.get_int("IFA_FLAGS") or flags,
        scope=scope,
        index=index,
        address=attrs.get_bytes("IFA_ADDRESS"),
        local=attrs.get_bytes("IFA_LOCAL"),
        label=attrs.get_str("IFA_LABEL"),
        broadcast=attrs.get_bytes("IFA_BROADCAST"),
    )


def add_address(
    index: int,
    family: int,
    packed: bytes,
    prefixlen: int,
    *,
    broadcast: bytes | None = None,
    nodad: bool = False,
    lifetime: int | None = None,
    replace: bool = False,
) -> Request:
    """``ip addr add``; with ``lifetime`` (seconds) the address expires unless renewed
    (a DHCP lease), and ``replace`` updates an existing address (``ip addr replace``)."""
    flags = (IFA_F_NODAD if nodad else 0) | (IFA_F_PERMANENT if lifetime is None else 0)
    attrs: list[tuple[str, object]] = [("IFA_LOCAL", packed), ("IFA_ADDRESS", packed)]
    if broadcast is not None:
        attrs.append(("IFA_BROADCAST", broadcast))
    if lifetime is not None:
        # struct ifa_cacheinfo: preferred, valid (seconds), then two timestamps
        attrs.append(("IFA_CACHEINFO", IFA_CACHEINFO.pack(lifetime, lifetime, 0, 0)))
    body = IFADDRMSG.pack(family, prefixlen, flags & 0xFF, RT_SCOPE_UNIVERSE, index)
    return RTM_NEWADDR, CREATE_REPLACE if replace else CREATE_EXCL, body + IFA.encode(attrs)


def delete_address(index: int, family: int, packed: bytes, prefixlen: int) -> Request:
    body = IFADDRMSG.pack(family, prefixlen, 0, 0, index)
    attrs = IFA.encode([("IFA_LOCAL", packed), ("IFA_ADDRESS", packed)])
    return RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, body + attrs


def dump_addresses(family: int = AF_UNSPEC, *, netnsid: int | None = None) -> Request:
    body = IFADDRMSG.pack(family, 0, 0, 0, 0)
    if netnsid is not None:
        body += IFA.encode([("IFA_TARGET_NETNSID", netnsid)])
    return RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body


# ---------------------------------------------------------------- routes


class Route(Record):
    """One route, as dumped (RTM_NEWROUTE) or to be added."""

    _: KW_ONLY
    family: int
    dst_len: int
    table: int
    protocol: int
    scope: int
    type: int
    dst: bytes | None
    gateway: bytes | None
    oif: int | None
    priority: int | None
    prefsrc: bytes | None


def parse_route(data: bytes, offset: int, end: int) -> Route:
    if end - offset < RTMSG.size:
        raise DecodeError("truncated rtmsg")
    family, dst_len, _src_len, _tos, table, protocol, scope, rtype, _flags = RTMSG.unpack_from(
        data, offset
    )
    attrs = RTA.decode(data, offset + RTMSG.size, end)
    return Route(
        family=family,
        dst_len=dst_len,
        table=attrs.get_int("RTA_TABLE") or table,
        protocol=protocol,
        scope=scope,
        type=rtype,
        dst=attrs.get_bytes("RTA_DST"),
        gateway=attrs.get_bytes("RTA_GATEWAY"),
        oif=attrs.get_int("RTA_OIF"),
        priority=attrs.get_int("RTA_PRIORITY"),
        prefsrc=attrs.get_bytes("RTA_PREFSRC"),
    )


def route_request(
    msg_type: int,
    flags: int,
    *,
    family: int,
    dst: bytes | None,
    dst_len: int,
    gateway: bytes | None = None,
    oif: int | None = None,
    priority: int | None = None,
    scope: int = RT_SCOPE_UNIVERSE,
    protocol: int = RTPROT_BOOT,
    table: int = RT_TABLE_MAIN,
) -> Request:
    attrs: list[tuple[str, object]] = []
    if dst is not None and dst_len:
        attrs.append(("RTA_DST", dst))
    if gateway is not None:
        attrs.append(("RTA_GATEWAY", gateway))
    if oif is not None:
        attrs.append(("RTA_OIF", oif))
    if priority is not None:
        attrs.append(("RTA_PRIORITY", priority))
    header_table = table
    if table > 255:  # as iproute2: the header says "unspecified", the attribute has the id
        attrs.append(("RTA_TABLE", table))
        header_table = 0
    body = RTMSG.pack(family, dst_len, 0, 0, header_table, protocol, scope, RTN_UNICAST, 0)
    return msg_type, flags, body + RTA.encode(attrs)


def delete_route(route: Route) -> Request:
    """Delete exactly ``route`` as it was dumped (so an undo can put it back)."""
    return _route_message(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, route)


def add_route(route: Route) -> Request:
    return _route_message(RTM_NEWROUTE, CREATE_EXCL, route)


def _route_message(msg_type: int, flags: int, route: Route) -> Request:
    return route_request(
        msg_type,
        flags,
        family=route.family,
        dst=route.dst,
        dst_len=route.dst_len,
        gateway=route.gateway,
        oif=route.oif,
        priority=route.priority,
        scope=route.scope,
        protocol=route.protocol,
        table=route.table,
    )


def get_route(family: int, dst: bytes) -> Request:
    """Ask the kernel how it would route to ``dst`` (``ip route get``)."""
    body = RTMSG.pack(family, len(dst) * 8, 0, 0, 0, 0, 0, 0, 0) + RTA.encode([("RTA_DST", dst)])
    return RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, body


# Route flags the kernel reports but refuses on input (dead, link down, offload…):
# only on-link and pervasive may be given back. <linux/rtnetlink.h> RTNH_F_*.
_RTNH_F_INPUT = 0x4 | 0x2
_RTA_CACHEINFO = 12
_RTNEXTHOP = Struct("=HBBi")  # len, flags, hops, ifindex


def replay_route(data: bytes, start: int, end: int) -> Request:
    """An RTM_NEWROUTE that re-creates a dumped route exactly: every attribute it had
    (source, metrics, nexthops, expiry…) but the kernel's own statistics."""
    header = bytearray(data[start : start + RTMSG.size])
    header[8:12] = _U32.pack(_U32.unpack_from(header, 8)[0] & _RTNH_F_INPUT)
    out = [bytes(header)]
    offset = start + RTMSG.size
    while offset + 4 <= end:
        length, type_id = NLAHDR.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            raise DecodeError("bad route attribute while saving a route")
        if type_id & 0x3FFF == 9:  # RTA_MULTIPATH: clean each nexthop's flags too
            out.append(_clean_nexthops(data[offset : offset + length]))
        elif type_id & 0x3FFF != _RTA_CACHEINFO:
            out.append(data[offset : offset + align(length)])
        offset += align(length)
    return RTM_NEWROUTE, CREATE_EXCL, b"".join(out)


def _clean_nexthops(attr: bytes) -> bytes:
    blob = bytearray(attr)
    pos = 4
    while pos + _RTNEXTHOP.size <= len(blob):
        length, flags, hops, ifindex = _RTNEXTHOP.unpack_from(blob, pos)
        if length < _RTNEXTHOP.size:
            break
        _RTNEXTHOP.pack_into(blob, pos, length, flags & _RTNH_F_INPUT, hops, ifindex)
        pos += (length + 3) & ~3
    padding = b"\0" * ((-len(blob)) % 4)
    return bytes(blob) + padding


def dump_routes(family: int = AF_UNSPEC) -> Request:
    return RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
