"""An ipvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

Chosen with ``--ipvlan-mode l2|l3|l3s``: the guests share the NIC's MAC, for
networks that allow one MAC per port.
"""

from __future__ import annotations

from ..netlink import messages as m
from .base import Driver
from .vlan import nic_child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..steps import Step


class IpvlanDriver(Driver):
    kind = "ipvlan"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        return link is not None and spec.ipvlan_mode is not None

    def plan(self, ctx: AttachContext) -> list[Step]:
        mode = ctx.spec.ipvlan_mode or "l2"
        return nic_child_steps(ctx, "ipvlan", mode, [("IFLA_IPVLAN_MODE", m.IPVLAN_MODE[mode])])


DRIVER = IpvlanDriver()
