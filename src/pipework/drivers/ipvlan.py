"""An ipvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

Chosen with ``--ipvlan-mode l2|l3|l3s``: the guests share the NIC's MAC, for
networks that allow one MAC per port.
"""

from __future__ import annotations

from ..netlink import messages as m
from .child import child_steps
from .vlan import vlan_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Step


def plan(ctx: AttachContext) -> list[Step]:
    steps = vlan_steps(ctx)
    mode = ctx.spec.ipvlan_mode or "l2"
    parent = ctx.uplink.name if ctx.spec.vlan is None else f"{ctx.uplink.name}.{ctx.spec.vlan}"  # type: ignore[union-attr]
    text = ctx.in_guest(
        f"ip link add link {parent} name {ctx.spec.container_ifname} type ipvlan mode {mode}"
    )
    return steps + child_steps(ctx, "ipvlan", [("IFLA_IPVLAN_MODE", m.IPVLAN_MODE[mode])], text)
