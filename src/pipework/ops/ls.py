"""What pipework has attached, read back from the kernel (``pipework ls``).

Every host end pipework creates carries its mark (``marks``); the guest end is
read through the host's netlink socket with the peer's namespace id, so listing
never enters a guest and never needs the guest to be resolvable. Where the host
end hangs off is its driver's to say (an OVS port's bridge is in OVS's database; a
VXLAN segment's VNI and remote are on its device). A host shim (``pipework shim``)
is listed too, as runtime ``shim`` with its NIC as the guest, with its routes to the guests.
"""

from __future__ import annotations

from .. import drivers
from .._lowlevel.record import Record
from ..mac import format_mac
from ..marks import parse_shim_mark, parse_veth_mark
from ..netlink import messages as m
from ..netlink.socket import NetlinkSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY


class Seen(Record):
    """One attachment as the kernel shows it now."""

    _: KW_ONLY
    guest: str
    runtime: str
    container_ifname: str
    netns_inode: int
    host_ifname: str
    host_index: int
    bridge: str | None
    addresses: tuple[str, ...]
    mac: str
    mtu: int
    state: str
    #: the lease renewal process of ``dhcp-f``, if one runs: pid, server, expiry
    dhcp: dict[str, object] | None
    #: what the bridge is part of, as its driver says (a VXLAN segment: VNI, remote…)
    segment: dict[str, object] | None = None


def _guest_addresses(
    host: NetlinkSocket, netnsid: int, cache: dict[int, list[m.Address]]
) -> list[m.Address]:
    if netnsid not in cache:
        cache[netnsid] = host.addresses(netnsid=netnsid, obj="of a guest")
    return cache[netnsid]


def list_attachments(host: NetlinkSocket | None = None) -> list[Seen]:
    """Every attachment pipework made on this host, with its current state."""
    own = host is None
    sock = host if host is not None else NetlinkSocket(strict=True)
    try:
        links = sock.links()
        names = {link.index: link.name for link in links}
        cache: dict[int, list[m.Address]] = {}
        seen = []
        for link in links:
            mark = parse_veth_mark(link.alias)
            if mark is None:
                if link.kind == "macvlan" and parse_shim_mark(link.alias):
                    seen.append(_describe_shim(sock, link, names))
                continue
            seen.append(_describe(sock, link, mark, names, cache))
        return sorted(seen, key=lambda s: (s.guest, s.container_ifname))
    finally:
        if own:
            sock.close()


def _describe(
    sock: NetlinkSocket,
    link: m.Link,
    mark: tuple[str, str, int],
    names: dict[int, str],
    cache: dict[int, list[m.Address]],
) -> Seen:
    label, ifname, inode = mark
    runtime = label.split(":", 1)[0] if ":" in label else "?"
    guest_link = None
    addresses: tuple[str, ...] = ()
    if link.link and link.link_netnsid is not None:
        guest_link = sock.link(
            index=link.link, netnsid=link.link_netnsid, obj=f"{ifname} of {label}"
        )
        if guest_link is not None:
            addresses = tuple(
                str(a)
                for a in _guest_addresses(sock, link.link_netnsid, cache)
                if a.index == guest_link.index and a.scope == m.RT_SCOPE_UNIVERSE
            )
    kind = drivers.owner(link, names)
    segment = None
    if kind is not None:
        bridge = kind.uplink_name(link, names)
        segment = kind.segment(link, names, sock)
    else:
        bridge = names.get(link.master) if link.master else None
    return Seen(
        guest=label,
        runtime=runtime,
        container_ifname=guest_link.name if guest_link else ifname,
        netns_inode=inode,
        host_ifname=link.name,
        host_index=link.index,
        bridge=bridge,
        addresses=addresses,
        mac=format_mac(guest_link.address) if guest_link and guest_link.address else "",
        mtu=guest_link.mtu or 0 if guest_link else 0,
        state=guest_link.state if guest_link else "guest gone",
        dhcp=_renewal(inode, guest_link.name if guest_link else ifname),
        segment=segment,
    )


def _describe_shim(sock: NetlinkSocket, link: m.Link, names: dict[int, str]) -> Seen:
    """A shim as ``ls`` lists it: runtime ``shim``, its parent NIC as the guest (so
    ``detach shim:NIC`` removes it) and as the bridge, and the routes through it."""
    from ..drivers.shim import host_routes
    from ..inet import IPAddress

    addresses = tuple(
        str(a)
        for a in sock.addresses(obj=f"of {link.name}")
        if a.index == link.index and a.scope == m.RT_SCOPE_UNIVERSE
    )
    routes = [
        f"{IPAddress(4 if r.family == m.AF_INET else 6, r.dst)}/{r.dst_len}"
        for r in host_routes(sock, link)
        if r.dst is not None
    ]
    return Seen(
        guest="shim:" + names.get(link.link or 0, "?"),  # what detach takes to remove it
        runtime="shim",
        container_ifname=link.name,
        netns_inode=0,
        host_ifname=link.name,
        host_index=link.index,
        bridge=names.get(link.link or 0),
        addresses=addresses,
        mac=format_mac(link.address) if link.address else "",
        mtu=link.mtu or 0,
        state=link.state,
        dhcp=None,
        segment={
            "summary": "shim, routes to " + (", ".join(routes) if routes else "no guest yet"),
            "routes": routes,
        },
    )


def _renewal(inode: int, ifname: str) -> dict[str, object] | None:
    """What the lease renewal process of this interface says, when one runs."""
    import os

    from ..dhcp.state import STATE_DIR

    if not os.path.isdir(STATE_DIR):
        return None
    from ..dhcp import state

    name = state.key(inode, ifname)
    pid = state.keeper_pid(name)
    record = state.load(name) if pid is not None else None
    lease = record.get("lease") if record else None
    if not isinstance(lease, dict):
        return None
    return {"pid": pid, "server": lease.get("server"), "expires": lease.get("expires")}


def render_table(rows: list[Seen]) -> str:
    from .._lowlevel.terminal import printable

    header = ("GUEST", "IFNAME", "HOST IFNAME", "BRIDGE", "ADDRESSES", "MAC", "STATE")
    table = [header] + [
        tuple(
            # a guest names its own interfaces: escaped here, so the columns line up
            printable(cell)
            for cell in (
                s.guest,
                s.container_ifname,
                s.host_ifname,
                (s.bridge or "-") + (f" ({s.segment['summary']})" if s.segment else ""),
                ",".join(s.addresses) or "-",
                s.mac or "-",
                s.state + (f", dhcp renewing (pid {s.dhcp['pid']})" if s.dhcp else ""),
            )
        )
        for s in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table
    )
