"""A macvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

What the original does with any host interface that is neither a bridge nor an
InfiniBand device, so it is the last kind the registry asks. Mode ``bridge`` by
default, as the original; ``--macvlan-mode`` chooses private, vepa, passthru or
source. The MTU is the parent's unless given.
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


class MacvlanDriver(Driver):
    kind = "macvlan"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        return link is not None

    def plan(self, ctx: AttachContext) -> list[Step]:
        mode = ctx.spec.macvlan_mode or "bridge"
        return nic_child_steps(ctx, "macvlan", mode, [("IFLA_MACVLAN_MODE", m.MACVLAN_MODE[mode])])


DRIVER = MacvlanDriver()
