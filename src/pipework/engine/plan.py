"""The steps of an attach beyond the driver's, and their order. Pure: building a plan
changes nothing; the steps change the guest when the executor runs them.

1. the driver's host-side steps (the link, born inside the guest, and its mark);
2. IPv6 turned on for the new interface when an IPv6 address or DHCPv6 is asked
   (a guest may have it off by default: Docker's ``--network none``), then the
   static addresses, while the interface is still down, so that the moment it
   comes up (and ``pipework --wait`` in the guest sees carrier) they are there;
3. what DHCP needs before link-up (DHCPv6: DAD off on the new interface);
4. link up;
5. DHCP (the built-in client, or an external one), once the link carries traffic;
6. the default routes of ``@gateway``;
7. last, a check that the guest still runs: a guest that exited meanwhile held its
   namespace only through our fd, so the attach is rolled back, not reported done.

IPv4 addresses get their broadcast, as in the original. IPv6 addresses skip
duplicate address detection (``nodad``, as Docker does for container
interfaces): the address was chosen by the user and must work the moment
pipework returns.
"""

from __future__ import annotations

from ..errors import HostStateError
from ..netlink import messages as m
from ..steps import Step, gone_ok

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..inet import IPAddress, IPInterface
    from ..model import RouteSpec
    from ..steps import Rollback
    from .context import AttachContext

    Action = Callable[[Rollback], None]


def compose(ctx: AttachContext) -> list[Step]:
    """Every step of the attach described by ``ctx``, in order."""
    spec = ctx.spec
    name = spec.container_ifname
    wanted = spec.addressing
    steps = ctx.driver.plan(ctx)
    if any(a.family == 6 for a in wanted.addresses) or (
        wanted.dhcp is not None and wanted.dhcp.family == 6
    ):
        text = ctx.in_guest(f"sysctl -w net.ipv6.conf.{name}.disable_ipv6=0")
        steps.append(Step(text, ipv6_enabler(ctx)))
    for iface in wanted.addresses:
        brd = iface.broadcast()
        text = f"ip addr add {iface}{f' brd {brd}' if brd else ''} dev {name}"
        if iface.family == 6:
            text += " nodad"
        steps.append(Step(ctx.in_guest(text), adder(ctx, iface)))
    if wanted.dhcp is not None:
        from ..dhcp.steps import before_link_up

        steps += before_link_up(ctx)
    steps.append(Step(ctx.in_guest(f"ip link set {name} up"), link_upper(ctx)))
    if wanted.dhcp is not None:
        from ..dhcp.steps import plan as dhcp_plan

        steps += dhcp_plan(ctx)
    if wanted.gateways:
        steps += _gateway_steps(ctx)
    for route in wanted.routes:
        dev = f" dev {name}"
        steps.append(Step(ctx.in_guest(f"ip route add {route}{dev}"), route_adder(ctx, route)))
    if ctx.guest.pid is not None:
        steps.append(Step(f"# check that process {ctx.guest.pid} still runs", liveness(ctx)))
    return steps


def _gateway_steps(ctx: AttachContext) -> list[Step]:
    from ..routes import needs_onlink_route  # only attaches with a gateway need it

    name = ctx.spec.container_ifname
    addresses = ctx.spec.addressing.addresses
    steps = []
    for gateway in ctx.spec.addressing.gateways:
        commands = [f"ip -{gateway.family} route del default"]
        if needs_onlink_route(gateway, addresses):
            commands.append(
                f"ip route get {gateway} || ip route add {gateway}/{gateway.bits} dev {name}"
            )
            commands.append(f"ip route add default via {gateway}")
        else:
            commands.append(f"ip route add default via {gateway} dev {name}")
        text = "; ".join(ctx.in_guest(cmd) for cmd in commands)
        steps.append(Step(text, gateway_setter(ctx, gateway)))
    return steps


def adder(ctx: AttachContext, iface: IPInterface) -> Action:
    """The step that puts ``iface`` on the guest interface."""

    def add(rollback: Rollback) -> None:
        nl = ctx.guest_nl
        index = ctx.guest_end().index
        obj = f"{iface} on {ctx.spec.container_ifname} in {ctx.guest.label}"
        packed, af = iface.address.packed, iface.address.af
        if not nl.ensure_address(index, iface, obj=obj):
            return  # there already (finishing an attach a killed run began): not ours to undo
        rollback.push(
            f"ip addr del {iface}",
            gone_ok(
                lambda: nl.request(
                    m.delete_address(index, af, packed, iface.prefixlen),
                    op="remove address",
                    obj=obj,
                )
            ),
        )

    return add


def ipv6_enabler(ctx: AttachContext) -> Action:
    """The step that turns IPv6 on for the new interface, and for it alone.

    A guest whose namespace default is ``disable_ipv6=1`` (Docker sets it in
    ``--network none`` containers) gives every new interface that setting, and the
    kernel then refuses IPv6 addresses on it (EACCES). The guest's ``all`` and
    ``default`` stay as they are: the choice is the guest's for its other interfaces.
    No netlink attribute sets an IPv6 sysctl: it is written through the guest's
    /proc/sys/net (``netns.ns_sysctl``).
    """

    def enable(rollback: Rollback) -> None:
        from ..netns import ns_sysctl

        name = ctx.spec.container_ifname
        key = f"net/ipv6/conf/{name}/disable_ipv6"
        try:
            before = ns_sysctl(ctx.guest.netns, key, "0")
        except FileNotFoundError:
            # no IPv6 state on the interface at all (an MTU below 1280, a kernel booted
            # with ipv6.disable=1): nothing to turn on; adding the address says why
            return
        except OSError as exc:
            what = f"turn on IPv6 on {name} in {ctx.guest.label}"
            raise HostStateError(f"{what}: {exc.strerror}") from None
        if before == "0":
            return

        def undo() -> None:
            # mostly gone with the interface; a NIC moved in (--direct-phys) stays
            try:
                ns_sysctl(ctx.guest.netns, key, before)
            except FileNotFoundError:
                pass

        rollback.push(ctx.in_guest(f"sysctl -w net.ipv6.conf.{name}.disable_ipv6={before}"), undo)

    return enable


def link_upper(ctx: AttachContext) -> Action:
    """The step that brings the guest interface up (arming the gratuitous ARP)."""

    def up(rollback: Rollback) -> None:
        name = ctx.spec.container_ifname
        nl = ctx.guest_nl
        link = ctx.guest_end()
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
            gone_ok(
                lambda: nl.request(
                    m.set_link(link.index, up=False, ipv4_conf=restore),
                    op="bring down",
                    obj=name,
                )
            ),
        )

    return up


def gateway_setter(ctx: AttachContext, gateway: IPAddress) -> Action:
    """The step that makes ``gateway`` the guest's default route of its family."""

    def set_gateway(rollback: Rollback) -> None:
        from ..routes import set_default_route

        set_default_route(
            ctx.guest_nl,
            ctx.guest_end().index,
            gateway,
            ctx.spec.addressing.addresses,
            ctx.guest.label,
            rollback.push,
        )

    return set_gateway


def route_adder(ctx: AttachContext, route: RouteSpec) -> Action:
    """The step that adds ``route`` through the guest interface."""

    def add(rollback: Rollback) -> None:
        from ..routes import add_route

        dst = route.dst
        width = dst.prefixlen
        add_route(
            ctx.guest_nl,
            rollback.push,
            ctx.guest.label,
            dst.address.af,
            dst.network_address().packed if width else None,
            width,
            route.via.packed if route.via is not None else None,
            m.RT_SCOPE_UNIVERSE if route.via is not None else m.RT_SCOPE_LINK,
            ctx.guest_end().index,
        )

    return add


def liveness(ctx: AttachContext) -> Action:
    """The last step: a guest that exited while we worked held its namespace only
    through our fd, which dies with us; say so and roll back rather than succeed."""

    def check(_rollback: Rollback) -> None:
        if not ctx.guest.alive():
            raise HostStateError(
                f"{ctx.guest.label} exited while pipework was attaching it (process "
                f"{ctx.guest.pid} is gone); nothing was left attached"
            )

    return check
