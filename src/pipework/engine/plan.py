"""The order of one attach's steps. Pure: building a plan changes nothing.

1. the driver's host-side steps (the link, born inside the guest, and its mark);
2. the static addresses, while the interface is still down, so that the moment it
   comes up (and ``pipework --wait`` in the guest sees carrier) they are there;
3. what DHCP needs before link-up (DHCPv6: DAD off on the new interface);
4. link up;
5. DHCP (the built-in client, or an external one), once the link carries traffic;
6. the default routes of ``@gateway``;
7. last, a check that the guest still runs: a guest that exited meanwhile held its
   namespace only through our fd, so the attach is rolled back, not reported done.
"""

from __future__ import annotations

from ..routes import needs_onlink_route
from ..steps import Step
from . import addressing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .context import AttachContext


def compose(ctx: AttachContext) -> list[Step]:
    """Every step of the attach described by ``ctx``, in order."""
    spec = ctx.spec
    name = spec.container_ifname
    wanted = spec.addressing
    steps = ctx.driver.plan(ctx)
    for iface in wanted.addresses:
        brd = iface.broadcast()
        text = f"ip addr add {iface}{f' brd {brd}' if brd else ''} dev {name}"
        if iface.family == 6:
            text += " nodad"
        steps.append(Step(ctx.in_guest(text), addressing.adder(ctx, iface)))
    if wanted.dhcp is not None:
        from ..dhcp.steps import before_link_up

        steps += before_link_up(ctx)
    steps.append(Step(ctx.in_guest(f"ip link set {name} up"), addressing.link_upper(ctx)))
    if wanted.dhcp is not None:
        from ..dhcp.steps import plan as dhcp_plan

        steps += dhcp_plan(ctx)
    for gateway in wanted.gateways:
        commands = [f"ip -{gateway.family} route del default"]
        if needs_onlink_route(gateway, wanted.addresses):
            commands.append(
                f"ip route get {gateway} || ip route add {gateway}/{gateway.bits} dev {name}"
            )
            commands.append(f"ip route add default via {gateway}")
        else:
            commands.append(f"ip route add default via {gateway} dev {name}")
        text = "; ".join(ctx.in_guest(cmd) for cmd in commands)
        steps.append(Step(text, addressing.gateway_setter(ctx, gateway)))
    if ctx.guest.pid is not None:
        steps.append(
            Step(f"# check that process {ctx.guest.pid} still runs", addressing.liveness(ctx))
        )
    return steps
