"""A macvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

Mode ``bridge`` by default, as the original; ``--macvlan-mode`` chooses private,
vepa, passthru or source. The MTU is the parent's unless given.
"""

from __future__ import annotations

from ..netlink import messages as m
from .vlan import nic_child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Step


def plan(ctx: AttachContext) -> list[Step]:
    mode = ctx.spec.macvlan_mode or "bridge"
    return nic_child_steps(ctx, "macvlan", mode, [("IFLA_MACVLAN_MODE", m.MACVLAN_MODE[mode])])
