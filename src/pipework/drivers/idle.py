"""For ``gc``: whether a bridge pipework created is idle, i.e. nothing uses it and nobody
configured it, so that removing it takes nothing from anyone.

Only bridges carrying pipework's creation mark are ever candidates (a Linux
bridge's alias ``pipework bridge``, an OVS bridge's external-id ``pipework=bridge``):
both live on the host side, where only the host's root can write them, so no guest
can make ``gc`` remove a bridge. A marked bridge is still kept when the kernel
shows any sign of use or of configuration by someone else:

- a port (a link whose master it is), a link stacked on it (a VLAN, a macvlan:
  their IFLA_LINK), or a master of its own (a VRF, a bond);
- an address other than the IPv6 link-local the kernel gave it itself (told apart
  by IFA_PROTO = kernel_ll, kernel 5.18+; older kernels do not say who made an
  address, so there any fe80::/64 counts as the kernel's);
- a route through it other than the kernel's own (protocol kernel or ra), directly,
  as one nexthop of a multipath route, or a nexthop object on it.

The checks read the kernel; the decision and the removal happen under the
exclusive bridge lock (``_lowlevel.runstate``), so no attach is between finding
such a bridge and making its port on it. ``Collection`` is what one gc removed
and what it could not, filled in by every driver's ``collect_into``.

Not looked at (a bridge pipework created is pipework's to use): neighbour or FDB
entries, tc or netfilter rules naming it, and links stacked on it from inside
another namespace (the host's view does not show them).
"""

from __future__ import annotations

import os
from struct import Struct

from ..errors import NetlinkError
from ..netlink import messages as m
from ..netlink.codec import split_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket

#: how long gc waits for attaches to let go of the bridge lock
GC_LOCK_WAIT_S = 5.0

_IFA_PROTO = 11  # <linux/if_addr.h>, kernel 5.18+
_IFAPROT_KERNEL_LL = 3  # a link-local address the kernel generated
_RTA_MULTIPATH = 9
_RTNH = Struct("=HBBi")  # struct rtnexthop: len, flags, hops, ifindex
_U32 = Struct("=I")
_RTM_GETNEXTHOP = 106
_NHMSG = b"\0" * 8  # struct nhmsg: family, scope, protocol, resvd, flags
_NHA_OIF = 5
_RTPROT_RA = 9  # routes the kernel learnt from router advertisements
_KERNEL_ROUTES = (m.RTPROT_KERNEL, _RTPROT_RA)
_LINK_LOCAL_64 = b"\xfe\x80" + b"\0" * 6


class Collection:
    """What one ``gc`` removed, and what it could not remove (each failure one line
    naming the step, the object and the error); each driver's ``collect_into`` adds to it."""

    __slots__ = ("bridges", "failed", "records", "removed")

    def __init__(self) -> None:
        self.removed: list[str] = []  # as each kind names it: an OVS port is BRIDGE:PORT
        self.bridges: list[str] = []  # unused bridges pipework created
        self.records: list[str] = []  # host-side records of NICs whose guest is gone
        self.failed: list[str] = []


class HostView:
    """One reading of the host's links, addresses and routes, shared by every bridge
    a gc looks at (a dump each, not one per bridge)."""

    __slots__ = ("_addresses", "_nexthop_oifs", "_route_oifs", "links", "nl")

    def __init__(self, nl: NetlinkSocket) -> None:
        self.nl = nl
        self.links = nl.links(obj="for gc")
        self._addresses: list[tuple[m.Address, int | None]] = []
        for _type, data, start, end in nl.dump(m.dump_addresses(), op="list addresses"):
            raw = split_attrs(data, start + m.IFADDRMSG.size, end).get(_IFA_PROTO)
            proto = raw[0] if raw else None
            self._addresses.append((m.parse_address(data, start, end), proto))
        self._route_oifs: list[tuple[int, str]] = []  # (ifindex, the route as ip shows it)
        for _type, data, start, end in nl.dump(m.dump_routes(), op="list routes"):
            route = m.parse_route(data, start, end)
            if route.protocol in _KERNEL_ROUTES:
                continue
            text = _route_text(route)
            if route.oif:
                self._route_oifs.append((route.oif, text))
            attrs = split_attrs(data, start + m.RTMSG.size, end)
            for oif in _multipath_oifs(attrs.get(_RTA_MULTIPATH, b"")):
                self._route_oifs.append((oif, text))
        self._nexthop_oifs = _nexthop_oifs(nl)

    def in_use(
        self, bridge: Link, *, ovs: bool = False, own: frozenset[int] = frozenset()
    ) -> str | None:
        """Why ``bridge`` is in use or configured (None: it is idle). ``ovs``: the
        kernel link of an OVS bridge, whose master is OVS's own datapath. ``own``: the
        indexes of links pipework made as part of the bridge itself (a VXLAN segment's
        device), which are no use of it."""
        index = bridge.index
        ports = [link.name for link in self.links if link.master == index and link.index not in own]
        if ports:
            return f"it has ports ({', '.join(sorted(ports))})"
        stacked = [
            link.name
            for link in self.links
            if link.link == index
            and link.link_netnsid is None
            and link.index != index
            and link.index not in own
        ]
        if stacked:
            return f"{', '.join(sorted(stacked))} sit on it"
        if bridge.master and not ovs:
            return "it has a master"
        for address, proto in self._addresses:
            if address.index == index and not _kernels_link_local(address, proto):
                return f"it has address {address}"
        for oif, text in self._route_oifs:
            if oif == index:
                return f"a route goes through it ({text})"
        if index in self._nexthop_oifs:
            return "a nexthop object goes through it"
        return None


def _kernels_link_local(address: m.Address, proto: int | None) -> bool:
    if address.family != m.AF_INET6 or address.scope != m.RT_SCOPE_LINK:
        return False
    if proto is not None:
        return proto == _IFAPROT_KERNEL_LL
    packed = address.local or address.address or b""
    return not _kernel_says_who_made_addresses() and (
        address.prefixlen == 64 and packed[:8] == _LINK_LOCAL_64
    )


def _kernel_says_who_made_addresses() -> bool:
    """Whether this kernel tags addresses with IFA_PROTO (5.18+): then a link-local
    address without the tag is one a user added."""
    release = os.uname().release.split("-", 1)[0].split(".")
    try:
        major, minor = int(release[0]), int(release[1])
    except (IndexError, ValueError):
        return True  # an unreadable version: assume a recent kernel (the strict reading)
    return (major, minor) >= (5, 18)


def _route_text(route: m.Route) -> str:
    from _socket import AF_INET6, inet_ntop

    family = AF_INET6 if route.family == m.AF_INET6 else m.AF_INET
    dst = f"{inet_ntop(family, route.dst)}/{route.dst_len}" if route.dst else "default"
    return f"{dst} table {route.table} proto {route.protocol}"


def _multipath_oifs(payload: bytes) -> list[int]:
    """The ifindex of each nexthop of an RTA_MULTIPATH attribute."""
    oifs = []
    offset = 0
    while offset + _RTNH.size <= len(payload):
        length, _flags, _hops, ifindex = _RTNH.unpack_from(payload, offset)
        oifs.append(ifindex)
        if length < _RTNH.size:
            break
        offset += (length + 3) & ~3
    return oifs


def _nexthop_oifs(nl: NetlinkSocket) -> set[int]:
    """The devices of the host's nexthop objects (kernel 5.3+; none before)."""
    try:
        replies = nl.dump(
            (_RTM_GETNEXTHOP, m.NLM_F_REQUEST | m.NLM_F_DUMP, _NHMSG), op="list nexthops"
        )
    except NetlinkError:  # EOPNOTSUPP, EINVAL: a kernel without nexthop objects
        return set()
    oifs = set()
    for _type, data, start, end in replies:
        raw = split_attrs(data, start + len(_NHMSG), end).get(_NHA_OIF)
        if raw and len(raw) >= _U32.size:
            oifs.add(_U32.unpack_from(raw)[0])
    return oifs


def under_gc_lock(found: Collection, what: str, remove: Callable[[], None]) -> None:
    """Run ``remove`` (which decides and removes idle bridges) holding the bridge lock
    exclusive; when attaches keep it too long, say so instead of waiting without end."""
    from .._lowlevel.runstate import BridgeLock, lock_path

    lock = BridgeLock()
    if not lock.exclusive(GC_LOCK_WAIT_S):
        found.failed.append(
            f"{what}: attaches held {lock_path()} for {GC_LOCK_WAIT_S:g} s; run pipework gc again"
        )
        return
    try:
        remove()
    finally:
        lock.release()
