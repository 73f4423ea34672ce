"""An IPoIB child of an InfiniBand interface, inside the guest, with an optional
partition key (``@PKEY``, hexadecimal as in the original). The container interface
is ``ib0`` unless given, and a MAC cannot be chosen (IPoIB addresses are not
Ethernet's), as in the original."""

from __future__ import annotations

from ..errors import UsageError
from .child import child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Step


def plan(ctx: AttachContext) -> list[Step]:
    spec = ctx.spec
    if spec.mac is not None:
        raise UsageError("a MAC address cannot be set on an IPoIB interface")
    ctx.parent_link = ctx.uplink
    data: list[tuple[str, object]] = []
    pkey = ""
    if spec.pkey is not None:
        data.append(("IFLA_IPOIB_PKEY", spec.pkey))
        pkey = f" pkey 0x{spec.pkey:x}"
    text = ctx.in_guest(
        f"ip link add link {ctx.uplink.name} name {spec.container_ifname} type ipoib{pkey}"  # type: ignore[union-attr]
    )
    return child_steps(ctx, "ipoib", data, text)
