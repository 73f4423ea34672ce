"""A dummy interface inside the guest (``pipework dummy GUEST ADDR``): an address with
no wire behind it, for services that bind to it."""

from __future__ import annotations

from .child import child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Step


def plan(ctx: AttachContext) -> list[Step]:
    text = ctx.in_guest(f"ip link add {ctx.spec.container_ifname} type dummy")
    return child_steps(ctx, "dummy", [], text)
