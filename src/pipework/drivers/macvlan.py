"""A macvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

Mode ``bridge`` by default, as the original; ``--macvlan-mode`` chooses private,
vepa, passthru or source. The MTU is the parent's unless given.
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
    mode = ctx.spec.macvlan_mode or "bridge"
    parent = ctx.uplink.name if ctx.spec.vlan is None else f"{ctx.uplink.name}.{ctx.spec.vlan}"  # type: ignore[union-attr]
    text = ctx.in_guest(
        f"ip link add link {parent} name {ctx.spec.container_ifname} type macvlan mode {mode}"
    )
    return steps + child_steps(ctx, "macvlan", [("IFLA_MACVLAN_MODE", m.MACVLAN_MODE[mode])], text)
