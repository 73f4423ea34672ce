"""Linux bridge: a veth pair (``veth``), the host end a port of the bridge.

The bridge is created when missing (tolerating another pipework creating it at
the same moment). With a VLAN (``@VLAN``, ``--vlan``), the bridge filters VLANs
and the port is an untagged member with that PVID: filtering is turned on only
on a bridge pipework created, or with ``--vlan-filtering``, because it changes
what every other port of the bridge sees.
"""

from __future__ import annotations

import time
from errno import EEXIST, EINVAL, ENOENT, EOPNOTSUPP

from ..errors import HostStateError, NetlinkError
from ..marks import BRIDGE_MARK
from ..netlink import messages as m
from ..steps import Step
from .base import no_support
from .veth import UplinkHold, VethDriver, veth_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback
    from .base import Differences
    from .idle import Collection

RTMGRP_LINK = 1
_STP_STATES = {1: "listening", 2: "learning", 4: "blocking"}


class BridgeDriver(VethDriver):
    kind = "bridge"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        """An existing Linux bridge; a missing one named br* (as the original), or any
        name with --create-bridge."""
        if link is None:
            return name.startswith("br") or spec.create_bridge
        return link.kind == "bridge"

    def plan(self, ctx: AttachContext) -> list[Step]:
        return bridge_steps(ctx)

    def wait_ready(self, ctx: AttachContext) -> str | None:
        return wait_until_forwarding(ctx)

    def uplink_differences(self, ctx: AttachContext, existing: Link, diff: Differences) -> None:
        bridge = ctx.uplink
        if existing.master is None:
            diff.missing.append(f"it is not a port of {ctx.spec.host_if}")
        elif bridge is None or existing.master != bridge.index:
            diff.conflicts.append(f"it is on another bridge than {ctx.spec.host_if}")

    def owns(self, link: Link, names: dict[int, str]) -> bool:
        return link.slave_kind == "bridge"

    def collect_into(self, found: Collection) -> None:
        """Remove the bridges pipework created that nothing uses any more (``idle``)."""
        from ..netlink.socket import NetlinkSocket
        from .idle import under_gc_lock

        with NetlinkSocket() as nl:
            if any(_marked(link) for link in nl.links(obj="for gc")):
                under_gc_lock(found, "remove unused bridges", lambda: _remove_idle(nl, found))


DRIVER = BridgeDriver()


def _marked(link: Link) -> bool:
    """A bridge pipework created: its alias is the mark, exactly. Only the host's root
    writes a host link's alias, so no guest can forge it."""
    return link.kind == "bridge" and link.alias == BRIDGE_MARK


def _remove_idle(nl: NetlinkSocket, found: Collection) -> None:
    """Under the exclusive bridge lock: read the host once, remove each idle marked bridge."""
    from .idle import HostView

    view = HostView(nl)
    for link in view.links:
        if not _marked(link) or view.in_use(link) is not None:
            continue
        try:
            nl.delete_link(link.index, obj=f"unused bridge {link.name}")
        except NetlinkError as exc:
            found.failed.append(f"remove unused bridge {link.name}: {exc}")
        else:
            found.bridges.append(link.name)


def bridge_steps(
    ctx: AttachContext, ports: Callable[[UplinkHold | None], list[Step]] | None = None
) -> list[Step]:
    """The steps of a veth attach to the bridge ``spec.host_if``, made when missing.
    ``ports``: the steps of a kind that puts more ports of its own on the bridge (a
    VXLAN device), run once the bridge exists and before the veth; given the hold of
    the bridge lock, to take first (gc must not remove the bridge under them)."""
    spec = ctx.spec
    bridge_name = spec.host_if
    assert bridge_name is not None
    # gc removes a bridge pipework created once it is unused: an attach relying on
    # one holds the bridge lock from its first step until its port exists. A bridge
    # without pipework's mark is never removed by gc, so attaching to it costs nothing.
    hold = None
    if ctx.uplink is None or ctx.uplink.alias == BRIDGE_MARK:
        hold = UplinkHold(lambda rollback: _recheck_bridge(ctx, bridge_name, rollback))
    steps = []
    if ctx.uplink is None:
        steps.append(
            Step(
                f"ip link add {bridge_name} type bridge && ip link set {bridge_name} up",
                lambda rollback: _create_bridge(ctx, bridge_name, rollback, hold),
            )
        )
    if spec.vlan is not None:
        steps.append(
            Step(
                f"ip link set {bridge_name} type bridge vlan_filtering 1",
                lambda rollback: _vlan_filtering(ctx, rollback, hold),
            )
        )
    if ports is not None:
        steps += ports(hold)
    steps += veth_steps(ctx, enslave=True, hold=hold)
    if spec.vlan is not None:
        vid = spec.vlan
        steps.append(
            Step(
                f"bridge vlan del dev {ctx.host_ifname} vid 1 && "
                f"bridge vlan add dev {ctx.host_ifname} vid {vid} pvid untagged",
                lambda rollback: _port_vlan(ctx, vid),
            )
        )
    return steps


def _create_bridge(
    ctx: AttachContext, name: str, rollback: Rollback, hold: UplinkHold | None = None
) -> None:
    if hold is not None:
        hold.take(rollback)
    try:
        link = ctx.host.create_link(
            m.create_bridge(name, up=True), name=name, op="create bridge", obj=name
        )
    except NetlinkError as exc:
        if exc.errno != EEXIST:
            raise
        # Another process created it between our look-up and now: use it, and
        # leave it alone on rollback, it is not ours.
        existing = ctx.host.link(name)
        if existing is None or existing.kind != "bridge":
            raise HostStateError(
                f"{name} appeared while pipework was creating it, and it is not a bridge"
            ) from None
        ctx.uplink = existing
        return
    if link is None:
        raise HostStateError(f"bridge {name} vanished right after pipework created it")
    rollback.push(f"ip link del {name}", lambda: _delete_bridge_if_unused(ctx, link.index, name))
    ctx.uplink = link
    ctx.created_bridge = True
    ctx.host.request(m.set_link(link.index, alias=BRIDGE_MARK), op="mark bridge", obj=name)


def _recheck_bridge(ctx: AttachContext, name: str, rollback: Rollback) -> None:
    """Under the bridge lock: the bridge found when planning may be gone since (a gc
    removed it, unused and pipework's): make it again, as if it had been missing."""
    if ctx.uplink is None:
        return  # the next step creates it, under the lock
    current = ctx.host.link(name)
    if current is None:
        _create_bridge(ctx, name, rollback)
    elif current.kind != "bridge":
        raise HostStateError(f"{name} was replaced while pipework was attaching, by a non-bridge")
    else:
        ctx.uplink = current


def _delete_bridge_if_unused(ctx: AttachContext, index: int, name: str) -> str | None:
    """Undo of a bridge creation, unless a concurrent attach has already put ports on it."""
    ports = [link.name for link in ctx.host.links() if link.master == index]
    if ports:
        return f"kept bridge {name}: {', '.join(ports)} joined it meanwhile"
    ctx.host.delete_link(index, obj=f"bridge {name}")
    return None


def _vlan_filtering(ctx: AttachContext, rollback: Rollback, hold: UplinkHold | None) -> None:
    """Turn on VLAN filtering, on a bridge that is ours or when the user allowed it."""
    if hold is not None:
        hold.take(rollback)
    bridge = ctx.uplink
    assert bridge is not None
    data = m.kind_data(bridge)
    if data is not None and data.get_int("IFLA_BR_VLAN_FILTERING"):
        return  # already filtering
    if not (ctx.created_bridge or bridge.alias == BRIDGE_MARK or ctx.spec.vlan_filtering):
        raise HostStateError(
            f"bridge {bridge.name} does not filter VLANs, and pipework did not create it",
            hint="turning filtering on changes every port of the bridge: pass "
            "--vlan-filtering to allow it, or use a bridge of its own",
        )
    try:
        ctx.host.request(
            m.set_bridge_vlan_filtering(bridge.index, True),
            op="turn on VLAN filtering on",
            obj=f"bridge {bridge.name}",
        )
    except NetlinkError as exc:
        if exc.errno == EOPNOTSUPP:
            raise no_support(
                "bridge VLAN filtering",
                exc,
                hint="a kernel built with CONFIG_BRIDGE_VLAN_FILTERING is needed",
            ) from None
        raise
    index = bridge.index

    def undo() -> None:
        ctx.host.request(m.set_bridge_vlan_filtering(index, False), op="undo", obj="filtering")

    rollback.push(f"ip link set {bridge.name} type bridge vlan_filtering 0", undo)


def _port_vlan(ctx: AttachContext, vid: int) -> None:
    """The port: an untagged member of ``vid`` with it as PVID, no longer of VLAN 1."""
    assert ctx.host_link is not None
    index = ctx.host_link.index
    obj = f"port {ctx.host_ifname}"
    try:
        ctx.host.request(m.bridge_port_vlan(index, 1, add=False), op="remove VLAN 1 from", obj=obj)
    except NetlinkError as exc:
        if exc.errno not in (ENOENT, EINVAL):  # the port may have no VLAN 1 (default_pvid 0)
            raise
    ctx.host.request(
        m.bridge_port_vlan(index, vid, add=True, pvid_untagged=True),
        op=f"add VLAN {vid} to",
        obj=obj,
    )


def wait_until_forwarding(ctx: AttachContext, timeout: float = 1.0) -> str | None:
    """Wait (bounded, event-driven) until the new port forwards; a warning if it will not.

    The bridge learns that the port has carrier asynchronously (the kernel's
    linkwatch work), and drops what arrives on a port still disabled: an ARP
    announcement sent the instant the guest side came up would be lost. Ports
    of an STP bridge take seconds to forward; pipework does not wait for those.
    """
    from select import select

    from ..netlink.socket import NetlinkSocket

    assert ctx.host_link is not None and ctx.uplink is not None
    if not ctx.uplink.is_up and not ctx.created_bridge:
        return f"bridge {ctx.uplink.name} is down: the guest can reach nothing until it is up"
    host_if = ctx.host_ifname

    def state() -> int | None:
        link = ctx.host.link(host_if)
        return None if link is None else link.port_state

    current = state()
    if current == m.BR_STATE_DISABLED:
        deadline = time.monotonic() + timeout
        with NetlinkSocket("events", groups=RTMGRP_LINK) as events:
            while current == m.BR_STATE_DISABLED:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return f"bridge port {host_if} still disabled after {timeout:g} s"
                if select([events], [], [], remaining)[0]:
                    events.drain()
                current = state()
    if current in _STP_STATES:
        return (
            f"bridge port {host_if} is {_STP_STATES[current]} (the bridge runs STP): "
            "the guest's traffic flows once the port forwards, after up to twice the "
            "forward delay"
        )
    return None
