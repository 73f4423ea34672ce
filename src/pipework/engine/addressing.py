"""The guest-side steps of an attach: addresses, link up, default routes, liveness.

IPv4 addresses get their broadcast, as in the original. IPv6 addresses skip
duplicate address detection (``nodad``, as Docker does for container
interfaces): the address was chosen by the user and must work the moment
pipework returns. The order of these steps is ``plan.py``'s.
"""

from __future__ import annotations

from ..errors import HostStateError
from ..netlink import messages as m
from ..netlink.ops import gone_ok
from ..routes import set_default_route

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..inet import IPAddress, IPInterface
    from ..steps import Rollback
    from .context import AttachContext

    Action = Callable[[Rollback], None]


def adder(ctx: AttachContext, iface: IPInterface) -> Action:
    """The step that puts ``iface`` on the guest interface."""

    def add(rollback: Rollback) -> None:
        nl = ctx.guest_nl
        index = ctx.guest_end().index
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
            gone_ok(
                lambda: nl.request(
                    m.delete_address(index, af, packed, iface.prefixlen),
                    op="remove address",
                    obj=obj,
                )
            ),
        )

    return add


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
        set_default_route(
            ctx.guest_nl,
            ctx.guest_end().index,
            gateway,
            ctx.spec.addressing.addresses,
            ctx.guest.label,
            rollback.push,
        )

    return set_gateway


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
