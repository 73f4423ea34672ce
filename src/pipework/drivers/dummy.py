"""A dummy interface inside the guest (``pipework dummy GUEST ADDR``): an address with
no wire behind it, for services that bind to it."""

from __future__ import annotations

from ..errors import HostStateError
from .base import Driver
from .child import Parent, child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..steps import Step


class DummyDriver(Driver):
    kind = "dummy"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        return link is None and name.startswith("dummy")

    def check(self, spec: AttachSpec, link: Link | None) -> None:
        super().check(spec, link)
        if spec.vlan is not None:
            raise HostStateError("a VLAN has no meaning for a dummy interface")

    def plan(self, ctx: AttachContext) -> list[Step]:
        text = ctx.in_guest(f"ip link add {ctx.spec.container_ifname} type dummy")
        return child_steps(ctx, "dummy", [], text, Parent(None))


DRIVER = DummyDriver()
