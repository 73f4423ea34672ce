"""Linux bridge: a veth pair, the host end a bridge port, the guest end born in the guest.

Steps: create the bridge if needed (tolerating another pipework creating it at
the same moment), then one RTM_NEWLINK that makes both ends at once — the host
end up, enslaved and sized like the bridge, the peer already inside the guest
with its final name, MAC and MTU — then mark the host end as ours.
"""

from __future__ import annotations

import time
from binascii import crc32

from ..errors import HostStateError, NetlinkError
from ..executor import Step
from ..mac import format_mac
from ..marks import BRIDGE_MARK, veth_mark
from ..netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Rollback
    from ..model import Guest

ENODEV, EEXIST = 19, 17
RTMGRP_LINK = 1
_STP_STATES = {1: "listening", 2: "learning", 4: "blocking"}
PROC_DYNAMIC_FIRST = 0xF0000000  # namespace inode numbers are allocated from here


def host_veth_name(container_ifname: str, guest: Guest) -> str:
    """The original's ``v<containerif>pl<pid>``, kept within 15 bytes deterministically.

    Guests without a process (a bare netns file) use ``ns<n>`` instead of
    ``pl<pid>``, n being the namespace's inode number minus the kernel's base, which
    is small and unique among live namespaces. When the result is too long, the
    container interface name is cut and followed by 4 hex digits of its CRC, so two
    long names sharing a prefix still give two different host names.
    """
    if guest.pid is not None:
        tag = f"pl{guest.pid}"
    else:
        inode = guest.netns.inode
        tag = f"ns{inode - PROC_DYNAMIC_FIRST if inode >= PROC_DYNAMIC_FIRST else inode}"
    name = f"v{container_ifname}{tag}"
    if len(name) <= 15:
        return name
    digest = f"{crc32(container_ifname.encode()) & 0xFFFF:04x}"
    room = max(15 - 1 - len(digest) - len(tag), 0)
    return f"v{container_ifname[:room]}{digest}{tag}"[:15]


def plan(ctx: AttachContext) -> list[Step]:
    spec = ctx.spec
    bridge_name = spec.host_if
    assert bridge_name is not None
    ctx.host_ifname = spec.host_ifname or host_veth_name(spec.container_ifname, ctx.guest)
    steps = []
    if ctx.uplink is None:
        steps.append(
            Step(
                f"ip link add {bridge_name} type bridge && ip link set {bridge_name} up",
                lambda rollback: _create_bridge(ctx, bridge_name, rollback),
            )
        )
    mtu = spec.mtu or (ctx.uplink.mtu if ctx.uplink is not None else None)
    extra = f" address {format_mac(spec.mac)}" if spec.mac else ""
    guest = ctx.guest
    ns_arg = str(guest.pid) if guest.pid is not None else guest.name
    steps.append(
        Step(
            f"ip link add {ctx.host_ifname}{f' mtu {mtu}' if mtu else ''} master {bridge_name} up "
            f"type veth peer name {spec.container_ifname}{extra} netns {ns_arg}",
            lambda rollback: _create_veth(ctx, rollback),
        )
    )
    steps.append(
        Step(
            f"ip link set {ctx.host_ifname} alias '{_mark(ctx)}'",
            lambda rollback: _mark_host_end(ctx),
        )
    )
    return steps


def _mark(ctx: AttachContext) -> str:
    return veth_mark(ctx.guest.label, ctx.spec.container_ifname, ctx.guest.netns.inode)


def _create_echoed(
    ctx: AttachContext, req: tuple[int, int, bytes], name: str, op: str, obj: str
) -> m.Link | None:
    """Create a link and read it back in the same round trip (NLM_F_ECHO, kernel >= 6.1);
    on older kernels, with one more request by name."""
    msg_type, flags, body = req
    replies = ctx.host.request((msg_type, flags | m.NLM_F_ECHO, body), op=op, obj=obj)
    for rtype, data, start, end in replies:
        if rtype == m.RTM_NEWLINK:
            return m.parse_link(data, start, end)
    return _get(ctx, name)


def _create_bridge(ctx: AttachContext, name: str, rollback: Rollback) -> None:
    try:
        link = _create_echoed(ctx, m.create_bridge(name, up=True), name, "create bridge", name)
    except NetlinkError as exc:
        if exc.errno != EEXIST:
            raise
        # Another process created it between our look-up and now: use it, and
        # leave it alone on rollback, it is not ours.
        existing = _get(ctx, name)
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


def _delete_bridge_if_unused(ctx: AttachContext, index: int, name: str) -> str | None:
    """Undo of a bridge creation, unless a concurrent attach has already put ports on it."""
    ports = [
        link.name
        for link in (
            m.parse_link(d, a, b) for _t, d, a, b in ctx.host.dump(m.dump_links(), op="list links")
        )
        if link.master == index
    ]
    if ports:
        return f"kept bridge {name}: {', '.join(ports)} joined it meanwhile"
    _delete_quietly(ctx, index, f"bridge {name}")
    return None


def _create_veth(ctx: AttachContext, rollback: Rollback) -> None:
    spec = ctx.spec
    bridge = ctx.uplink
    assert bridge is not None
    mtu = spec.mtu if spec.mtu is not None else bridge.mtu
    req = m.create_veth(
        ctx.host_ifname,
        spec.container_ifname,
        peer_netns_fd=ctx.guest.netns.fd,
        mtu=mtu,
        master=bridge.index,
        up=True,
        peer_mac=spec.mac,
    )
    obj = f"{ctx.host_ifname} (peer {spec.container_ifname} in {ctx.guest.label})"
    try:
        host_link = _create_echoed(ctx, req, ctx.host_ifname, "create veth", obj)
    except NetlinkError as exc:
        if exc.errno != EEXIST:
            raise
        _replace_or_refuse(ctx)  # raises, unless --force removed the old attachment
        host_link = _create_echoed(ctx, req, ctx.host_ifname, "create veth", obj)
    if host_link is None:  # the guest died at this very moment, taking the pair with it
        raise HostStateError(f"{ctx.guest.label} exited while pipework was attaching it")
    index = host_link.index
    # Deleting one end deletes both, and with them every address and route the
    # later steps put on the guest end.
    rollback.push(
        f"ip link del {ctx.host_ifname}",
        lambda: _delete_quietly(ctx, index, f"veth {ctx.host_ifname}"),
    )
    ctx.host_link = host_link
    ctx.guest_index = host_link.link  # the peer's index, inside the guest


def _mark_host_end(ctx: AttachContext) -> None:
    assert ctx.host_link is not None
    ctx.host.request(
        m.set_link(ctx.host_link.index, alias=_mark(ctx)),
        op="mark",
        obj=f"host interface {ctx.host_ifname}",
    )


def _get(ctx: AttachContext, name: str) -> m.Link | None:
    from . import get_link

    return get_link(ctx.host, name)


def _delete_quietly(ctx: AttachContext, index: int, what: str) -> None:
    try:
        ctx.host.request(m.delete_link(index), op="delete", obj=what)
    except NetlinkError as exc:
        if exc.errno != ENODEV:  # already gone (the guest exited): nothing left to undo
            raise


def _replace_or_refuse(ctx: AttachContext) -> None:
    """A name is taken. Our own attachment of this guest interface: the same request is
    a no-op, a different one is refused unless --force. Anything else: refused."""
    from ..errors import AlreadyAttached
    from ..idempotency import differences, existing_attachment

    existing = existing_attachment(ctx)
    if existing is None:
        raise _explain_name_taken(ctx)
    guest_link, diffs = differences(ctx, existing)
    if not diffs:
        raise AlreadyAttached(existing, guest_link)
    if not ctx.spec.force:
        raise HostStateError(
            f"{ctx.guest.label} {ctx.spec.container_ifname} is already attached, "
            f"differently: {'; '.join(diffs)}",
            hint="--force replaces it, pipework detach removes it",
        )
    # --force: the old attachment goes first (it cannot come back if the new one fails)
    _delete_quietly(ctx, existing.index, f"veth {existing.name}")


def _explain_name_taken(ctx: AttachContext) -> HostStateError:
    """Which of the two names is taken, and by what (we never delete what is not ours)."""
    existing = _get(ctx, ctx.host_ifname)
    if existing is not None:
        state = "up" if existing.is_up else "down"
        kind = existing.kind or "interface"
        alias = f", alias {existing.alias!r}" if existing.alias else ""
        return HostStateError(
            f"host interface {ctx.host_ifname} already exists ({kind}, {state}{alias})",
            hint="pipework never deletes an interface it did not create: remove it, "
            "or choose another host-side name with -l",
        )
    name = ctx.spec.container_ifname
    return HostStateError(
        f"interface {name} already exists in {ctx.guest.label}",
        hint="choose another container interface name with -i",
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
        link = _get(ctx, host_if)
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
