"""Interfaces created directly inside the guest: macvlan, ipvlan, IPoIB, dummy.

One RTM_NEWLINK with IFLA_NET_NS_FD makes the interface in the guest with its
final name, MTU and MAC (the parent, if any, is looked up on the host); nothing
is created on the host and moved. The interface is then marked, inside the
guest, so that ``inspect`` and ``detach`` recognise it.
"""

from __future__ import annotations

from errno import EEXIST, EOPNOTSUPP

from ..errors import HostStateError, NetlinkError
from ..mac import format_mac
from ..marks import guest_mark
from ..netlink import messages as m
from ..steps import Step
from .base import no_support

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..netlink.messages import Link
    from ..steps import Rollback


class Parent:
    """The lower device of the interface made in the guest: the NIC itself, or its
    ``IF.VLAN`` once the step that makes it has run (None: no lower device)."""

    __slots__ = ("link",)

    def __init__(self, link: Link | None) -> None:
        self.link = link


def child_steps(
    ctx: AttachContext, kind: str, data: list[tuple[str, object]], text: str, parent: Parent
) -> list[Step]:
    """Create the ``kind`` interface in the guest (``text``: the ip equivalent), mark it."""
    spec = ctx.spec
    extra = f" address {format_mac(spec.mac)}" if spec.mac else ""
    mtu = f" mtu {spec.mtu}" if spec.mtu else ""
    return [
        Step(f"{text}{mtu}{extra}", lambda rollback: _create(ctx, kind, data, parent, rollback)),
        Step(
            ctx.in_guest(f"ip link set {spec.container_ifname} alias '{_mark(ctx, kind)}'"),
            lambda rollback: _mark_it(ctx, kind),
        ),
    ]


def _mark(ctx: AttachContext, kind: str) -> str:
    parent = {"parent": ctx.uplink.name} if ctx.uplink is not None else {}
    return guest_mark(
        kind, ctx.guest.label, ctx.spec.container_ifname, ctx.guest.netns.inode, **parent
    )


def _create(
    ctx: AttachContext,
    kind: str,
    data: list[tuple[str, object]],
    parent: Parent,
    rollback: Rollback,
) -> None:
    spec = ctx.spec
    lower = parent.link
    name = spec.container_ifname
    req = m.create_link(
        kind,
        name,
        parent=lower.index if lower is not None else None,
        netns_fd=ctx.guest.netns.fd,
        mtu=spec.mtu if spec.mtu is not None else (lower.mtu if lower is not None else None),
        mac=spec.mac,
        data=data,
    )
    try:
        ctx.host.request(req, op=f"create {kind}", obj=f"{name} in {ctx.guest.label}")
    except NetlinkError as exc:
        if exc.errno == EOPNOTSUPP:
            raise no_support(kind, exc) from None
        if exc.errno == EEXIST:
            raise HostStateError(
                f"interface {name} already exists in {ctx.guest.label}",
                hint="choose another container interface name with -i, or detach it",
            ) from None
        raise
    nl = ctx.guest_nl

    def undo() -> None:
        nl.delete_link(name=name, obj=f"{name} in guest")

    rollback.push(ctx.in_guest(f"ip link del {name}"), undo)


def _mark_it(ctx: AttachContext, kind: str) -> None:
    link = ctx.guest_end()
    ctx.guest_nl.request(
        m.set_link(link.index, alias=_mark(ctx, kind)), op="mark", obj=ctx.spec.container_ifname
    )
