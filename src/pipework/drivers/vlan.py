"""802.1Q sub-interfaces on the host (``IF.VLAN``), the parent of a tagged macvlan or ipvlan.

As the original: ``IF.VLAN`` is created when missing and reused when it exists
with the same tag; an ``IF.VLAN`` with another tag (or not a VLAN at all) is
refused. One pipework created is removed again if the attach fails.
"""

from __future__ import annotations

from ..errors import HostStateError, NetlinkError
from ..executor import Step
from ..netlink import messages as m
from .child import EEXIST, EOPNOTSUPP, no_support
from .veth import delete_quietly, get

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Rollback


def vlan_steps(ctx: AttachContext) -> list[Step]:
    """Make the parent of the guest interface: the uplink itself, or its ``IF.VLAN``."""
    uplink = ctx.uplink
    assert uplink is not None
    vid = ctx.spec.vlan
    if vid is None:
        ctx.parent_link = uplink
        return []
    name = f"{uplink.name}.{vid}"
    if len(name) > 15:
        raise HostStateError(f"the VLAN interface name {name} would be longer than 15 bytes")
    return [
        Step(
            f"ip link add link {uplink.name} name {name} type vlan id {vid} && "
            f"ip link set {name} up",
            lambda rollback: _ensure(ctx, name, vid, rollback),
        )
    ]


def _ensure(ctx: AttachContext, name: str, vid: int, rollback: Rollback) -> None:
    uplink = ctx.uplink
    assert uplink is not None
    existing = get(ctx, name)
    if existing is not None:
        data = m.kind_data(existing)
        tag = data.get_int("IFLA_VLAN_ID") if data is not None else None
        if existing.kind != "vlan" or tag != vid:
            raise HostStateError(
                f"{name} already exists but is not a VLAN device for tag {vid}",
                hint="remove it, or use another VLAN",
            )
        ctx.parent_link = existing
        return
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
        ctx.parent_link = get(ctx, name)
        return
    link = get(ctx, name)
    if link is None:
        raise HostStateError(f"{name} vanished right after pipework created it")
    ctx.parent_link = link
    rollback.push(f"ip link del {name}", lambda: delete_quietly(ctx, link.index, name))
    # the original brings the parent up as well
    ctx.host.request(m.set_link(uplink.index, up=True), op="bring up", obj=uplink.name)
