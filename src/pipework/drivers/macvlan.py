"""A macvlan on a host NIC (or its ``IF.VLAN``), created directly inside the guest.

What the original does with any host interface that is neither a bridge nor an
InfiniBand device, so it is the last kind the registry asks. Mode ``bridge`` by
default, as the original; ``--macvlan-mode`` chooses private, vepa, passthru or
source. The MTU is the parent's unless given. A Wi-Fi parent gets a warning
(``wireless.py``): the access point drops the macvlan's own MACs. The host reaches
its guests through the parent's shim, when there is one (``shim.py``).
"""

from __future__ import annotations

from ..netlink import messages as m
from ..steps import Step
from .base import Driver
from .vlan import nic_child_steps
from .wireless import macvlan_warning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link


class MacvlanDriver(Driver):
    kind = "macvlan"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        return link is not None

    def plan(self, ctx: AttachContext) -> list[Step]:
        mode = ctx.spec.macvlan_mode or "bridge"
        steps = nic_child_steps(ctx, "macvlan", mode, [("IFLA_MACVLAN_MODE", m.MACVLAN_MODE[mode])])
        assert ctx.uplink is not None
        warning = macvlan_warning(ctx.uplink.name)
        if warning:
            note = warning
            steps.append(Step(f"# warning: {note}", lambda rollback: rollback.notes.append(note)))
        from .shim import attach_steps

        return steps + attach_steps(ctx)


DRIVER = MacvlanDriver()
