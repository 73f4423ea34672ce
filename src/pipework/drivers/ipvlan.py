"""An ipvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

Chosen with ``--ipvlan-mode l2|l3|l3s``: the guests share the NIC's MAC, for
networks that allow one MAC per port.
"""

from __future__ import annotations

from ..netlink import messages as m
from .vlan import nic_child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Step


def plan(ctx: AttachContext) -> list[Step]:
    mode = ctx.spec.ipvlan_mode or "l2"
    return nic_child_steps(ctx, "ipvlan", mode, [("IFLA_IPVLAN_MODE", m.IPVLAN_MODE[mode])])
