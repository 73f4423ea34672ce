"""Re-running a request: the same one is a no-op, a different one is refused (or forced).

Asked only when creating the pair fails with EEXIST, so a first attach pays
nothing for it. The existing attachment is recognised by pipework's mark on its
host end (same guest namespace, same container interface) and compared with the
request field by field, as the kernel shows it now.
"""

from __future__ import annotations

from .errors import HostStateError, NetlinkError
from .inventory import format_address
from .mac import format_mac
from .marks import parse_veth_mark
from .netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .context import AttachContext

ENODEV = 19


def _ours(ctx: AttachContext, link: m.Link | None) -> bool:
    mark = parse_veth_mark(link.alias if link else None)
    return (
        mark is not None
        and mark[1] == ctx.spec.container_ifname
        and (mark[2] == ctx.guest.netns.inode)
    )


def existing_attachment(ctx: AttachContext) -> m.Link | None:
    """The host end of this guest interface's previous attachment, if pipework made one."""
    from .drivers import get_link

    by_name = get_link(ctx.host, ctx.host_ifname)
    if by_name is not None:
        return by_name if _ours(ctx, by_name) else None
    # The host-side name is free: the guest's interface may be ours under another
    # host name (-l), found through its peer.
    guest = _guest_link(ctx)
    if guest is None or not guest.link:
        return None
    try:
        reply = ctx.host.request(m.get_link(index=guest.link), op="look up", obj="peer")
    except NetlinkError as exc:
        if exc.errno != ENODEV:
            raise
        return None
    peer = m.parse_link(*reply[0][1:]) if reply else None
    return peer if _ours(ctx, peer) else None


def _guest_link(ctx: AttachContext) -> m.Link | None:
    name = ctx.spec.container_ifname
    try:
        reply = ctx.guest_nl.request(m.get_link(name), op="look up", obj=name)
    except NetlinkError as exc:
        if exc.errno != ENODEV:
            raise
        return None
    return m.parse_link(*reply[0][1:]) if reply else None


def differences(ctx: AttachContext, host_link: m.Link) -> tuple[m.Link, list[str]]:
    """How the existing attachment differs from the request (empty: it is the same)."""
    spec = ctx.spec
    guest = _guest_link(ctx)
    if guest is None:
        raise HostStateError(f"{spec.container_ifname} vanished from {ctx.guest.label}")
    diffs = []
    if spec.host_ifname is not None and host_link.name != spec.host_ifname:
        diffs.append(f"its host side is {host_link.name}, asked {spec.host_ifname}")
    bridge = ctx.uplink
    if bridge is None or host_link.master != bridge.index:
        diffs.append(f"it is on another bridge than {spec.host_if}")
    nl = ctx.guest_nl
    have = {
        format_address(a)
        for a in (m.parse_address(*r[1:]) for r in nl.dump(m.dump_addresses(), op="list addresses"))
        if a.index == guest.index and a.scope == m.RT_SCOPE_UNIVERSE
    }
    want = {str(a) for a in spec.addressing.addresses}
    if spec.addressing.dhcp is not None:
        # a lease: whatever address the server gave is the one asked for
        if not any(":" not in a for a in have):
            diffs.append(f"it has no IPv4 address, asked {spec.addressing.dhcp}")
    elif have != want:
        diffs.append(
            f"it has {', '.join(sorted(have)) or 'no address'}, "
            f"asked {', '.join(sorted(want)) or 'no address'}"
        )
    for gateway in spec.addressing.gateways:
        defaults = [
            r
            for r in (m.parse_route(*x[1:]) for x in nl.dump(m.dump_routes(gateway.af), op="list"))
            if r.dst_len == 0 and r.table == m.RT_TABLE_MAIN
        ]
        if not any(r.gateway == gateway.packed for r in defaults):
            diffs.append(f"its default route is not via {gateway}")
    if spec.mac is not None and guest.address != spec.mac:
        diffs.append(f"its MAC is {format_mac(guest.address or b'')}, asked {format_mac(spec.mac)}")
    if spec.mtu is not None and guest.mtu != spec.mtu:
        diffs.append(f"its MTU is {guest.mtu}, asked {spec.mtu}")
    return guest, diffs
