"""802.1Q sub-interfaces on the host (``IF.VLAN``), the parent of a tagged macvlan or ipvlan.

As the original: ``IF.VLAN`` is created when missing and reused when it exists
with the same tag; an ``IF.VLAN`` with another tag (or not a VLAN at all) is
refused. One pipework created is removed again if the attach fails.
"""

from __future__ import annotations

from errno import EEXIST, EOPNOTSUPP

from ..errors import HostStateError, NetlinkError
from ..netlink import messages as m
from ..steps import Step
from .base import no_support
from .child import Parent, child_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..steps import Rollback


def nic_child_steps(
    ctx: AttachContext, kind: str, mode: str, data: list[tuple[str, object]]
) -> list[Step]:
    """A macvlan or ipvlan in the guest, on the NIC or on its ``IF.VLAN`` (made first)."""
    uplink = ctx.uplink
    assert uplink is not None
    vid = ctx.spec.vlan
    name = uplink.name if vid is None else f"{uplink.name}.{vid}"
    text = ctx.in_guest(
        f"ip link add link {name} name {ctx.spec.container_ifname} type {kind} mode {mode}"
    )
    parent = Parent(uplink if vid is None else None)
    return vlan_steps(ctx, parent) + child_steps(ctx, kind, data, text, parent)


def vlan_steps(ctx: AttachContext, parent: Parent) -> list[Step]:
    """Make the parent of the guest interface ready: the uplink itself (up), or its
    ``IF.VLAN``, which the step puts in ``parent``."""
    uplink = ctx.uplink
    assert uplink is not None
    vid = ctx.spec.vlan
    if vid is None:
        if uplink.is_up:
            return []
        # as the original: a macvlan on a NIC that is down would carry nothing
        return [
            Step(f"ip link set {uplink.name} up", lambda rollback: _bring_up(ctx, uplink, rollback))
        ]
    name = f"{uplink.name}.{vid}"
    if len(name) > 15:
        raise HostStateError(f"the VLAN interface name {name} would be longer than 15 bytes")
    return [
        Step(
            f"ip link set {uplink.name} up && "
            f"ip link add link {uplink.name} name {name} up type vlan id {vid}",
            lambda rollback: _ensure(ctx, name, vid, parent, rollback),
        )
    ]


def _ensure(ctx: AttachContext, name: str, vid: int, parent: Parent, rollback: Rollback) -> None:
    uplink = ctx.uplink
    assert uplink is not None
    existing = ctx.host.link(name)
    if existing is not None:
        # (the kind first: the attributes of another kind have no VLAN id to ask for)
        data = m.kind_data(existing) if existing.kind == "vlan" else None
        tag = data.get_int("IFLA_VLAN_ID") if data is not None else None
        if tag != vid:
            raise HostStateError(
                f"{name} already exists but is not a VLAN device for tag {vid}",
                hint="remove it, or use another VLAN",
            )
        parent.link = existing
        for lower in (uplink, existing):  # as the original: both up, or nothing flows
            if not lower.is_up:
                _bring_up(ctx, lower, rollback)
        return
    # as the original, the NIC comes up too; first, as a VLAN cannot come up on a
    # parent that is down (ENETDOWN)
    if not uplink.is_up:
        _bring_up(ctx, uplink, rollback)
    req = m.create_link(
        "vlan", name, parent=uplink.index, mtu=uplink.mtu, data=[("IFLA_VLAN_ID", vid)], up=True
    )
    try:
        ctx.host.request(req, op="create VLAN interface", obj=name)
    except NetlinkError as exc:
        if exc.errno == EOPNOTSUPP:
            raise no_support("802.1Q VLAN", exc) from None
        if exc.errno != EEXIST:  # made by another pipework meanwhile: use it, not ours
            raise
        parent.link = ctx.host.link(name)
        return
    link = ctx.host.link(name)
    if link is None:
        raise HostStateError(f"{name} vanished right after pipework created it")
    parent.link = link

    def undo() -> None:
        ctx.host.delete_link(link.index, obj=name)

    rollback.push(f"ip link del {name}", undo)


def _bring_up(ctx: AttachContext, link: m.Link, rollback: Rollback) -> None:
    ctx.host.request(m.set_link(link.index, up=True), op="bring up", obj=link.name)

    def undo() -> None:
        ctx.host.request(m.set_link(link.index, up=False), op="bring down", obj=link.name)

    rollback.push(f"ip link set {link.name} down", undo)
