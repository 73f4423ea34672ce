"""Static addressing of the guest interface: link up, addresses, gateway routes.

As the original: the IPv4 broadcast is set, ``@gateway`` replaces the default route
(the old one is put back on rollback), and a gateway outside the subnet first gets
an on-link host route so the kernel accepts it. IPv6 addresses skip duplicate
address detection (``nodad``, as Docker does for container interfaces): the
address was chosen by the user and must work the moment pipework returns.
"""

from __future__ import annotations

from .errors import HostStateError, NetlinkError
from .executor import Step
from .netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from .context import AttachContext
    from .executor import Undo
    from .inet import IPAddress, IPInterface

    _V = TypeVar("_V")

ENODEV, EEXIST, ESRCH, EADDRNOTAVAIL = 19, 17, 3, 99
_GONE = (ENODEV, ESRCH, EADDRNOTAVAIL)


def plan(ctx: AttachContext) -> list[Step]:
    spec = ctx.spec
    name = spec.container_ifname
    addressing = spec.addressing
    steps = [Step(ctx.in_guest(f"ip link set {name} up"), lambda: _link_up(ctx))]
    for iface in addressing.addresses:
        brd = iface.broadcast()
        text = f"ip addr add {iface}{f' brd {brd}' if brd else ''} dev {name}"
        if iface.family == 6:
            text += " nodad"
        steps.append(Step(ctx.in_guest(text), _later(_add_address, ctx, iface)))
    for gateway in addressing.gateways:
        fam = f"-{gateway.family}"
        steps.append(
            Step(
                ctx.in_guest(f"ip {fam} route del default"),
                _later(_remove_defaults, ctx, gateway),
            )
        )
        if needs_onlink_route(gateway, addressing.addresses):
            steps.append(
                Step(
                    ctx.in_guest(f"ip route add {gateway}/{gateway.bits} dev {name} scope link"),
                    _later(_add_onlink_route, ctx, gateway),
                )
            )
        steps.append(
            Step(
                ctx.in_guest(f"ip route add default via {gateway} dev {name}"),
                _later(_add_default_route, ctx, gateway),
            )
        )
    return steps


def _later(
    action: Callable[[AttachContext, _V], Undo | None], ctx: AttachContext, value: _V
) -> Callable[[], Undo | None]:
    """Bind a step's action to its value now, run it when the executor says so."""
    return lambda: action(ctx, value)


def _add_onlink_route(ctx: AttachContext, gateway: IPAddress) -> Undo:
    return _add_route(ctx, gateway, onlink=True)


def _add_default_route(ctx: AttachContext, gateway: IPAddress) -> Undo:
    return _add_route(ctx, gateway, onlink=False)


def needs_onlink_route(gateway: IPAddress, addresses: tuple[IPInterface, ...]) -> bool:
    """A gateway outside every subnet of the interface needs a host route to be reachable."""
    if gateway.family == 6 and gateway.is_link_local:
        return False
    return not any(iface.contains(gateway) for iface in addresses)


def _link_up(ctx: AttachContext) -> Undo:
    name = ctx.spec.container_ifname
    nl = ctx.guest_nl
    replies = nl.request(m.get_link(name), op="look up", obj=f"{name} in {ctx.guest.label}")
    if not replies:
        raise HostStateError(f"{name} is missing from {ctx.guest.label} right after its creation")
    link = m.parse_link(*replies[0][1:])
    ctx.guest_link = link
    conf = None
    if link.arp_notify == 0 and any(a.family == 4 for a in ctx.spec.addressing.addresses):
        # The kernel applies flags before sysctls: no ARP goes out at this "up",
        # only later, when announce.py asks for it (see there).
        conf = {m.IPV4_DEVCONF_ARP_NOTIFY: 1}
        ctx.arp_notify_before = 0
    nl.request(
        m.set_link(link.index, up=True, ipv4_conf=conf),
        op="bring up",
        obj=f"{name} in {ctx.guest.label}",
    )
    index = link.index
    restore = {m.IPV4_DEVCONF_ARP_NOTIFY: 0} if conf else None

    def undo() -> None:
        _quietly(
            lambda: nl.request(
                m.set_link(index, up=False, ipv4_conf=restore), op="bring down", obj=name
            )
        )

    return undo


def _add_address(ctx: AttachContext, iface: IPInterface) -> Undo:
    nl = ctx.guest_nl
    index = ctx.guest_index
    brd = iface.broadcast()
    obj = f"{iface} on {ctx.spec.container_ifname} in {ctx.guest.label}"
    nl.request(
        m.add_address(
            index,
            iface.address.af,
            iface.address.packed,
            iface.prefixlen,
            broadcast=brd.packed if brd else None,
            nodad=iface.family == 6,
        ),
        op="add address",
        obj=obj,
    )

    def undo() -> None:
        _quietly(
            lambda: nl.request(
                m.delete_address(index, iface.address.af, iface.address.packed, iface.prefixlen),
                op="remove address",
                obj=obj,
            )
        )

    return undo


def _remove_defaults(ctx: AttachContext, gateway: IPAddress) -> Undo | None:
    nl = ctx.guest_nl
    replies = nl.dump(m.dump_routes(gateway.af), op="list routes", obj=f"in {ctx.guest.label}")
    removed = []
    for _type, data, start, end in replies:
        route = m.parse_route(data, start, end)
        if route.dst_len == 0 and route.table == m.RT_TABLE_MAIN and route.type == m.RTN_UNICAST:
            nl.request(
                m.delete_route(route), op="remove default route", obj=f"in {ctx.guest.label}"
            )
            removed.append(route)
    if not removed:
        return None

    def undo() -> None:
        for route in removed:
            try:
                nl.request(m.add_route(route), op="restore default route", obj=ctx.guest.label)
            except NetlinkError as exc:
                if exc.errno != EEXIST:
                    raise

    return undo


def _add_route(ctx: AttachContext, gateway: IPAddress, *, onlink: bool) -> Undo:
    """The on-link host route to the gateway, or the default route through it."""
    nl = ctx.guest_nl
    index = ctx.guest_index
    if onlink:
        dst, dst_len, via, scope = gateway.packed, gateway.bits, None, m.RT_SCOPE_LINK
        what = f"{gateway}/{gateway.bits} dev {ctx.spec.container_ifname}"
    else:
        dst, dst_len, via, scope = None, 0, gateway.packed, m.RT_SCOPE_UNIVERSE
        what = f"default via {gateway} dev {ctx.spec.container_ifname}"
    route = m.Route(
        family=gateway.af,
        dst_len=dst_len,
        table=m.RT_TABLE_MAIN,
        protocol=m.RTPROT_BOOT,
        scope=scope,
        type=m.RTN_UNICAST,
        dst=dst,
        gateway=via,
        oif=index,
        priority=None,
        prefsrc=None,
    )
    nl.request(m.add_route(route), op="add route", obj=f"{what} in {ctx.guest.label}")

    def undo() -> None:
        _quietly(lambda: nl.request(m.delete_route(route), op="remove route", obj=what))

    return undo


def _quietly(call: Callable[[], object]) -> None:
    """Run an undo that may find its object already gone with the guest's interface."""
    try:
        call()
    except NetlinkError as exc:
        if exc.errno not in _GONE:
            raise
