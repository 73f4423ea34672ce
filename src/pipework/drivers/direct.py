"""``--direct-phys``: move a host interface itself into the guest, renamed on the way.

One request moves and renames it (``ip link set NIC netns GUEST name IFNAME``).
Inside the guest it carries pipework's mark with its original name (and MAC, when
pipework changed it), so ``detach`` can give it back to the host as it was — which
the original cannot do. ``mac:<address>`` selects the interface by its MAC.
"""

from __future__ import annotations

from ..errors import HostStateError, NetlinkError
from ..executor import Step
from ..mac import format_mac
from ..marks import guest_mark
from ..netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Rollback

EEXIST, ENODEV = 17, 19


def plan(ctx: AttachContext) -> list[Step]:
    nic = ctx.uplink
    assert nic is not None
    spec = ctx.spec
    name = spec.container_ifname
    ns = str(ctx.guest.pid) if ctx.guest.pid is not None else ctx.guest.name
    steps = [
        Step(f"ip link set {nic.name} netns {ns} name {name}", lambda rb: _move(ctx, rb)),
    ]
    if spec.mtu is not None or spec.mac is not None:
        extra = (f" mtu {spec.mtu}" if spec.mtu else "") + (
            f" address {format_mac(spec.mac)}" if spec.mac else ""
        )
        steps.append(Step(ctx.in_guest(f"ip link set {name}{extra}"), lambda rb: _configure(ctx)))
    steps.append(
        Step(ctx.in_guest(f"ip link set {name} alias '{_mark(ctx)}'"), lambda rb: _mark_it(ctx))
    )
    return steps


def _mark(ctx: AttachContext) -> str:
    nic = ctx.uplink
    assert nic is not None
    extra = {"orig": nic.name}
    if ctx.spec.mac is not None and nic.address:
        extra["origmac"] = format_mac(nic.address)
    if nic.alias:
        extra["origalias"] = nic.alias
    return guest_mark(
        "direct", ctx.guest.label, ctx.spec.container_ifname, ctx.guest.netns.inode, **extra
    )


def _move(ctx: AttachContext, rollback: Rollback) -> None:
    nic = ctx.uplink
    assert nic is not None
    name = ctx.spec.container_ifname
    try:
        ctx.host.request(
            m.move_link(nic.index, ctx.guest.netns.fd, name),
            op="move",
            obj=f"{nic.name} into {ctx.guest.label} as {name}",
        )
    except NetlinkError as exc:
        if exc.errno == EEXIST:
            raise HostStateError(
                f"interface {name} already exists in {ctx.guest.label}",
                hint="choose another container interface name with -i",
            ) from None
        raise
    home = ctx.home_netns()
    nl = ctx.guest_nl
    original = nic.name

    alias = nic.alias or ""

    def undo() -> None:
        give_back(nl, name, home.fd, original, None, alias)

    rollback.push(f"ip link set {name} netns 1 name {original}", undo)


def give_back(
    nl: object, name: str, home_fd: int, original: str, mac: bytes | None, alias: str = ""
) -> None:
    """Move an interface from the guest back to the host as it was: its original name,
    MAC and alias (pipework's mark goes)."""
    from ..netlink.socket import NetlinkSocket

    assert isinstance(nl, NetlinkSocket)
    try:
        reply = nl.request(m.get_link(name), op="look up", obj=name)
    except NetlinkError as exc:
        if exc.errno == ENODEV:
            return  # gone already (the guest's namespace took it)
        raise
    index = m.parse_link(*reply[0][1:]).index
    nl.request(m.set_link(index, up=False), op="bring down", obj=name)
    nl.request(m.set_link(index, address=mac, alias=alias), op="restore", obj=name)
    nl.request(m.move_link(index, home_fd, original), op="give back", obj=f"{name} as {original}")


def _configure(ctx: AttachContext) -> None:
    from ..addressing import guest_link

    link = guest_link(ctx)
    ctx.guest_nl.request(
        m.set_link(link.index, mtu=ctx.spec.mtu, address=ctx.spec.mac),
        op="configure",
        obj=f"{ctx.spec.container_ifname} in {ctx.guest.label}",
    )


def _mark_it(ctx: AttachContext) -> None:
    from ..addressing import guest_link

    link = guest_link(ctx)
    ctx.guest_nl.request(
        m.set_link(link.index, alias=_mark(ctx)), op="mark", obj=ctx.spec.container_ifname
    )
