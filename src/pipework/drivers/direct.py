"""``--direct-phys``: move a host interface itself into the guest, renamed on the way.

One request moves and renames it (``ip link set NIC netns GUEST name IFNAME``).
Inside the guest it carries pipework's mark with its original name (and MAC, when
pipework changed it), so ``detach`` can give it back to the host as it was — which
the original cannot do. ``mac:<address>`` selects the interface by its MAC.
"""

from __future__ import annotations

from errno import EEXIST

from ..errors import HostStateError, NetlinkError
from ..mac import format_mac
from ..marks import guest_mark
from ..netlink import messages as m
from ..steps import Step
from .base import Driver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback


class DirectDriver(Driver):
    kind = "direct"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        """--direct-phys (the request names this kind), on a NIC nothing else uses."""
        if not spec.direct_phys:
            return False
        if link is None:
            raise HostStateError(f"no host interface {name!r} to move into the guest")
        if link.kind in ("bridge", "openvswitch") or link.master:
            raise HostStateError(
                f"{name} is a {link.kind or 'port of a bridge'}; --direct-phys moves a NIC "
                "that nothing else uses"
            )
        return True

    def plan(self, ctx: AttachContext) -> list[Step]:
        return _plan(ctx)

    def remove_inside(
        self, nl: NetlinkSocket, link: Link, mark: dict[str, str], label: str
    ) -> tuple[str, str]:
        """Give the NIC back to the host as it was: its name, MAC and alias."""
        from ..mac import parse_mac
        from ..netns import NetNS

        original = mark.get("orig", link.name)
        mac = parse_mac(mark["origmac"]) if "origmac" in mark else None
        with NetNS.current() as home:
            give_back(nl, link.name, home.fd, original, mac, mark.get("origalias", ""))
        return (
            f"ip link set {link.name} netns 1 name {original}",
            f"{link.name} (given back to the host as {original})",
        )


DRIVER = DirectDriver()


def _plan(ctx: AttachContext) -> list[Step]:
    nic = ctx.uplink
    assert nic is not None
    spec = ctx.spec
    name = spec.container_ifname
    steps = [
        Step(f"ip link set {nic.name} netns {ctx.ns_word} name {name}", lambda rb: _move(ctx, rb)),
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
    nl: NetlinkSocket, name: str, home_fd: int, original: str, mac: bytes | None, alias: str = ""
) -> None:
    """Move an interface from the guest back to the host as it was: its original name,
    MAC and alias (pipework's mark goes)."""
    link = nl.link(name)
    if link is None:
        return  # gone already (the guest's namespace took it)
    index = link.index
    nl.request(m.set_link(index, up=False), op="bring down", obj=name)
    nl.request(m.set_link(index, address=mac, alias=alias), op="restore", obj=name)
    nl.request(m.move_link(index, home_fd, original), op="give back", obj=f"{name} as {original}")


def _configure(ctx: AttachContext) -> None:
    link = ctx.guest_end()
    ctx.guest_nl.request(
        m.set_link(link.index, mtu=ctx.spec.mtu, address=ctx.spec.mac),
        op="configure",
        obj=f"{ctx.spec.container_ifname} in {ctx.guest.label}",
    )


def _mark_it(ctx: AttachContext) -> None:
    link = ctx.guest_end()
    ctx.guest_nl.request(
        m.set_link(link.index, alias=_mark(ctx)), op="mark", obj=ctx.spec.container_ifname
    )
