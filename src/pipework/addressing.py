"""Static addressing of the guest interface: addresses, link up, gateway routes.

Order matters: the addresses go on while the interface is still down, so that the
moment it comes up (and `pipework --wait` in the guest sees carrier) they are
there. As in the original, the IPv4 broadcast is set and ``@gateway`` replaces the
default route: the old default routes are deleted (each put back exactly on
rollback) and, if the kernel has no route to the gateway, an on-link host route
through the new interface is added first (the original's ``ip route get GW ||
ip route add GW/32 dev IF``). IPv6 addresses skip duplicate address detection
(``nodad``, as Docker does for container interfaces): the address was chosen by
the user and must work the moment pipework returns.
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
    from .executor import Rollback
    from .inet import IPAddress, IPInterface
    from .netlink.socket import NetlinkSocket

    _V = TypeVar("_V")
    #: records an undo: Rollback.push, or a no-op where nothing is rolled back
    Push = Callable[[str, Callable[[], "str | None"]], None]

ESRCH, ENODEV, EEXIST, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL = 3, 19, 17, 101, 113, 99
_GONE = (ENODEV, ESRCH, EADDRNOTAVAIL)


def plan(ctx: AttachContext) -> list[Step]:
    spec = ctx.spec
    name = spec.container_ifname
    addressing = spec.addressing
    steps = []
    for iface in addressing.addresses:
        brd = iface.broadcast()
        text = f"ip addr add {iface}{f' brd {brd}' if brd else ''} dev {name}"
        if iface.family == 6:
            text += " nodad"
        steps.append(Step(ctx.in_guest(text), _later(_add_address, ctx, iface)))
    if addressing.dhcp is not None:
        from .dhcp.steps import before_link_up

        steps += before_link_up(ctx)
    steps.append(Step(ctx.in_guest(f"ip link set {name} up"), _later(_link_up, ctx, None)))
    if addressing.dhcp is not None:
        from .dhcp.steps import plan as dhcp_plan

        steps += dhcp_plan(ctx)
    for gateway in addressing.gateways:
        commands = [f"ip -{gateway.family} route del default"]
        if needs_onlink_route(gateway, addressing.addresses):
            commands.append(
                f"ip route get {gateway} || ip route add {gateway}/{gateway.bits} dev {name}"
            )
            commands.append(f"ip route add default via {gateway}")
        else:
            commands.append(f"ip route add default via {gateway} dev {name}")
        text = "; ".join(ctx.in_guest(cmd) for cmd in commands)
        steps.append(Step(text, _later(_set_gateway, ctx, gateway)))
    if ctx.guest.pid is not None:
        steps.append(
            Step(
                f"# check that process {ctx.guest.pid} still runs", _later(_check_alive, ctx, None)
            )
        )
    return steps


def _check_alive(ctx: AttachContext, _unused: None, rollback: Rollback) -> None:
    """The last step: a guest that exited while we worked held its namespace only
    through our fd, which dies with us; say so and roll back rather than succeed."""
    if not ctx.guest.alive():
        raise HostStateError(
            f"{ctx.guest.label} exited while pipework was attaching it (process "
            f"{ctx.guest.pid} is gone); nothing was left attached"
        )


def _later(
    action: Callable[[AttachContext, _V, Rollback], None], ctx: AttachContext, value: _V
) -> Callable[[Rollback], None]:
    """Bind a step's action to its value now; the executor runs it with its rollback."""
    return lambda rollback: action(ctx, value, rollback)


def guest_link(ctx: AttachContext) -> m.Link:
    """The guest end of the new pair, found by the index the kernel gave it.

    By index, not by name: a name inside the guest could be renamed or replaced
    in between, and pipework must only ever configure the link it created.
    """
    if ctx.guest_link is not None:
        return ctx.guest_link
    name = ctx.spec.container_ifname
    nl = ctx.guest_nl
    # by index; by name only on kernels that do not report the peer's index
    req = m.get_link(index=ctx.guest_index) if ctx.guest_index else m.get_link(name)
    replies = nl.request(req, op="look up", obj=f"{name} in {ctx.guest.label}")
    link = m.parse_link(*replies[0][1:]) if replies else None
    if link is None or link.name != name:
        raise HostStateError(
            f"{name} in {ctx.guest.label} is not the interface pipework just created "
            "(was it renamed?)"
        )
    ctx.guest_link = link
    ctx.guest_index = link.index
    return link


def _add_address(ctx: AttachContext, iface: IPInterface, rollback: Rollback) -> None:
    nl = ctx.guest_nl
    index = guest_link(ctx).index
    brd = iface.broadcast()
    obj = f"{iface} on {ctx.spec.container_ifname} in {ctx.guest.label}"
    packed, af = iface.address.packed, iface.address.af
    nl.request(
        m.add_address(
            index,
            af,
            packed,
            iface.prefixlen,
            broadcast=brd.packed if brd else None,
            nodad=iface.family == 6,
        ),
        op="add address",
        obj=obj,
    )
    rollback.push(
        f"ip addr del {iface}",
        quietly(
            lambda: nl.request(
                m.delete_address(index, af, packed, iface.prefixlen), op="remove address", obj=obj
            )
        ),
    )


def _link_up(ctx: AttachContext, _unused: None, rollback: Rollback) -> None:
    name = ctx.spec.container_ifname
    nl = ctx.guest_nl
    link = guest_link(ctx)
    conf = None
    v4 = any(a.family == 4 for a in ctx.spec.addressing.addresses)
    if link.arp_notify == 0 and v4 and not ctx.arp_from_host:
        # The kernel applies flags before sysctls: no ARP goes out at this "up",
        # only later, when announce.py asks for it (see there).
        conf = {m.IPV4_DEVCONF_ARP_NOTIFY: 1}
        ctx.arp_notify_before = 0
    nl.request(
        m.set_link(link.index, up=True, ipv4_conf=conf),
        op="bring up",
        obj=f"{name} in {ctx.guest.label}",
    )
    restore = {m.IPV4_DEVCONF_ARP_NOTIFY: 0} if conf else None
    rollback.push(
        f"ip link set {name} down",
        quietly(
            lambda: nl.request(
                m.set_link(link.index, up=False, ipv4_conf=restore), op="bring down", obj=name
            )
        ),
    )


def _set_gateway(ctx: AttachContext, gateway: IPAddress, rollback: Rollback) -> None:
    set_default_route(
        ctx.guest_nl,
        guest_link(ctx).index,
        gateway,
        ctx.spec.addressing.addresses,
        ctx.guest.label,
        rollback.push,
    )


def set_default_route(
    nl: NetlinkSocket,
    index: int,
    gateway: IPAddress,
    addresses: tuple[IPInterface, ...],
    label: str,
    push: Push,
) -> None:
    """Replace the default routes of ``gateway``'s family with one via ``gateway`` on
    link ``index`` (``addresses``: the link's, for the on-link test); ``push``
    records how to undo each change (the old routes come back exactly)."""
    where = f"in {label}"
    for _type, data, start, end in nl.dump(m.dump_routes(gateway.af), op="list routes", obj=where):
        route = m.parse_route(data, start, end)
        if route.dst_len or route.table != m.RT_TABLE_MAIN or route.type != m.RTN_UNICAST:
            continue
        again = m.replay_route(data, start, end)  # every attribute, to put it back exactly
        nl.request(m.delete_route(route), op="remove the default route", obj=where)
        push("restore the old default route", _replayer(nl, again, where))
    oif: int | None = index
    if needs_onlink_route(gateway, addresses):
        if _reachable(nl, gateway):
            oif = None  # as the original: the kernel's existing route to the gateway decides
        else:
            add_route(
                nl, push, label, gateway.af, gateway.packed, gateway.bits, None, m.RT_SCOPE_LINK,
                index,
            )  # fmt: skip
    add_route(nl, push, label, gateway.af, None, 0, gateway.packed, m.RT_SCOPE_UNIVERSE, oif)


def needs_onlink_route(gateway: IPAddress, addresses: tuple[IPInterface, ...]) -> bool:
    """Whether the gateway lies outside every subnet of the new interface."""
    if gateway.family == 6 and gateway.is_link_local:
        return False
    return not any(iface.contains(gateway) for iface in addresses)


def _reachable(nl: NetlinkSocket, gateway: IPAddress) -> bool:
    try:
        nl.request(m.get_route(gateway.af, gateway.packed), op="look up route to", obj=str(gateway))
    except NetlinkError as exc:
        if exc.errno in (ENETUNREACH, EHOSTUNREACH):
            return False
        raise
    return True


def add_route(
    nl: NetlinkSocket,
    push: Push,
    label: str,
    family: int,
    dst: bytes | None,
    dst_len: int,
    via: bytes | None,
    scope: int,
    oif: int | None,
) -> None:
    """Add a route to the main table (``push`` records its removal)."""
    route = m.Route(
        family=family,
        dst_len=dst_len,
        table=m.RT_TABLE_MAIN,
        protocol=m.RTPROT_BOOT,
        scope=scope,
        type=m.RTN_UNICAST,
        dst=dst,
        gateway=via,
        oif=oif,
        priority=None,
        prefsrc=None,
    )
    what = _describe_route(family, dst, dst_len, via)
    nl.request(m.add_route(route), op="add route", obj=f"{what} in {label}")
    push(
        f"ip route del {what}",
        quietly(lambda: nl.request(m.delete_route(route), op="remove route", obj=what)),
    )


def _describe_route(family: int, dst: bytes | None, dst_len: int, via: bytes | None) -> str:
    from .inet import IPAddress

    version = 4 if family == 2 else 6  # AF_INET, else AF_INET6
    target = f"{IPAddress(version, dst)}/{dst_len}" if dst and dst_len else "default"
    return target + (f" via {IPAddress(version, via)}" if via else "")


def _replayer(nl: NetlinkSocket, req: tuple[int, int, bytes], where: str) -> Callable[[], None]:
    def replay() -> None:
        try:
            nl.request(req, op="restore the old default route", obj=where)
        except NetlinkError as exc:
            if exc.errno != EEXIST:
                raise

    return replay


def quietly(call: Callable[[], object]) -> Callable[[], None]:
    """An undo that may find its object already gone with the guest's interface
    (a route or address removed with it): that is not a failure of the undo."""

    def undo() -> None:
        try:
            call()
        except NetlinkError as exc:
            if exc.errno not in _GONE:
                raise

    return undo
