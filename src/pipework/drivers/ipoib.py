"""An IPoIB child of an InfiniBand interface, inside the guest, with an optional
partition key (``@PKEY``, hexadecimal as in the original). The container interface
is ``ib0`` unless given, and a MAC cannot be chosen (IPoIB addresses are not
Ethernet's), as in the original."""

from __future__ import annotations

from ..errors import UsageError
from .base import ARPHRD_INFINIBAND, Driver
from .child import Parent, child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..steps import Step


class IpoibDriver(Driver):
    kind = "ipoib"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        return link is not None and link.type == ARPHRD_INFINIBAND

    def check(self, spec: AttachSpec, link: Link | None) -> None:
        # (a tag that is only a partition key is what IPoIB takes: no VLAN check)
        if spec.mac is not None:
            raise UsageError("a MAC address cannot be set on an IPoIB interface")

    def with_defaults(self, spec: AttachSpec) -> AttachSpec:
        if spec.container_ifname == "eth1":
            return spec.replace(container_ifname="ib0")  # the original's default for IPoIB
        return spec

    def plan(self, ctx: AttachContext) -> list[Step]:
        spec = ctx.spec
        uplink = ctx.uplink
        assert uplink is not None
        data: list[tuple[str, object]] = []
        pkey = ""
        if spec.pkey is not None:
            data.append(("IFLA_IPOIB_PKEY", spec.pkey))
            pkey = f" pkey 0x{spec.pkey:x}"
        text = ctx.in_guest(
            f"ip link add link {uplink.name} name {spec.container_ifname} type ipoib{pkey}"
        )
        return child_steps(ctx, "ipoib", data, text, Parent(uplink))


DRIVER = IpoibDriver()
