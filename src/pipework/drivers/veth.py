"""The veth pair every bridge-like kind uses (Linux bridge, Open vSwitch).

One RTM_NEWLINK makes both ends at once: the host end up (and enslaved, when
the uplink is a Linux bridge) and sized like the uplink, the peer already inside
the guest with its final name, MAC and MTU. Then the host end is marked as ours.

A name already taken is where re-runs are recognised: pipework's own attachment
of the same guest interface (found by its mark) is the same request (nothing to
do), a different one (refused, or replaced with --force), and anything else is
never touched.
"""

from __future__ import annotations

from binascii import crc32
from errno import EEXIST

from ..errors import AlreadyAttached, AttachmentDiffers, HostStateError, NetlinkError
from ..mac import format_mac
from ..marks import parse_veth_mark, veth_mark
from ..netlink import messages as m
from ..steps import Step
from .base import Driver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .._lowlevel.runstate import BridgeLock
    from ..engine.context import AttachContext
    from ..model import AttachSpec, Guest
    from ..netlink.messages import Link
    from ..steps import Rollback

PROC_DYNAMIC_FIRST = 0xF0000000  # namespace inode numbers are allocated from here


class VethDriver(Driver):
    """A kind whose guest interface is the peer of a marked veth on the host."""

    host_end = True

    def host_ifname(self, spec: AttachSpec, guest: Guest) -> str:
        return spec.host_ifname or host_veth_name(spec.container_ifname, guest)


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


class UplinkHold:
    """The bridge lock (``_lowlevel.runstate``), held shared from the first step that
    relies on a bridge ``gc`` may remove (one pipework created, or is creating) until
    the port that uses it exists: ``gc`` decides under the same lock, exclusive, so
    it never removes such a bridge between the attach finding it and using it.

    Taking it re-reads the bridge (``recheck``): a ``gc`` may have removed it between
    planning and the lock. The rollback releases it, whichever step fails.
    """

    __slots__ = ("_lock", "_recheck")

    def __init__(self, recheck: Callable[[Rollback], None]) -> None:
        self._lock: BridgeLock | None = None
        self._recheck = recheck

    def take(self, rollback: Rollback) -> None:
        if self._lock is not None:
            return
        from .._lowlevel.runstate import BridgeLock

        lock = BridgeLock()
        lock.shared()
        self._lock = lock
        rollback.push("# release the bridge lock", self.release)
        self._recheck(rollback)

    def release(self) -> None:
        """Let gc in again: the port exists, the bridge is in use (idempotent)."""
        if self._lock is not None:
            self._lock.release()


def veth_steps(ctx: AttachContext, *, enslave: bool, hold: UplinkHold | None = None) -> list[Step]:
    """Create the pair (the host end a port of the Linux bridge when ``enslave``), mark it.
    With ``hold``, the veth step takes it first, and lets it go once the host end is a
    port of the bridge (``enslave``; OVS lets it go after adding the port)."""
    spec = ctx.spec
    mtu = spec.mtu or (ctx.uplink.mtu if ctx.uplink is not None else None)
    extra = f" address {format_mac(spec.mac)}" if spec.mac else ""
    master = f" master {spec.host_if}" if enslave else ""
    return [
        Step(
            f"ip link add {ctx.host_ifname}{f' mtu {mtu}' if mtu else ''}{master} up "
            f"type veth peer name {spec.container_ifname}{extra} netns {ctx.ns_word}",
            lambda rollback: _create_veth(ctx, rollback, enslave, hold),
        ),
        Step(
            f"ip link set {ctx.host_ifname} alias '{_mark(ctx)}'",
            lambda rollback: _mark_host_end(ctx),
        ),
    ]


def _mark(ctx: AttachContext) -> str:
    return veth_mark(ctx.guest.label, ctx.spec.container_ifname, ctx.guest.netns.inode)


def _create_veth(
    ctx: AttachContext, rollback: Rollback, enslave: bool, hold: UplinkHold | None
) -> None:
    if hold is not None:
        hold.take(rollback)
    spec = ctx.spec
    uplink = ctx.uplink
    mtu = spec.mtu if spec.mtu is not None else (uplink.mtu if uplink is not None else None)
    req = m.create_veth(
        ctx.host_ifname,
        spec.container_ifname,
        peer_netns_fd=ctx.guest.netns.fd,
        mtu=mtu,
        master=uplink.index if enslave and uplink is not None else None,
        up=True,
        peer_mac=spec.mac,
    )
    obj = f"{ctx.host_ifname} (peer {spec.container_ifname} in {ctx.guest.label})"
    name = ctx.host_ifname
    try:
        host_link = ctx.host.create_link(req, name=name, op="create veth", obj=obj)
    except NetlinkError as exc:
        if exc.errno != EEXIST:
            raise
        unfinished = _replace_or_refuse(ctx)  # raises, unless there is nothing to refuse
        if unfinished is not None:
            _finish(ctx, rollback, unfinished, enslave)
            if hold is not None and enslave:
                hold.release()
            return
        host_link = ctx.host.create_link(req, name=name, op="create veth", obj=obj)
    if host_link is None:  # the guest died at this very moment, taking the pair with it
        raise HostStateError(f"{ctx.guest.label} exited while pipework was attaching it")
    index = host_link.index

    # Deleting one end deletes both, and with them every address and route the
    # later steps put on the guest end.
    def undo() -> None:
        ctx.host.delete_link(index, obj=f"veth {name}")

    rollback.push(f"ip link del {name}", undo)
    ctx.host_link = host_link
    ctx.guest_index = host_link.link  # the peer's index, inside the guest
    if hold is not None and enslave:
        hold.release()


def _mark_host_end(ctx: AttachContext) -> None:
    assert ctx.host_link is not None
    ctx.host.request(
        m.set_link(ctx.host_link.index, alias=_mark(ctx)),
        op="mark",
        obj=f"host interface {ctx.host_ifname}",
    )


def _finish(ctx: AttachContext, rollback: Rollback, host_link: Link, enslave: bool) -> None:
    """Take over an attachment of this guest interface that a run killed half-way left
    (the later steps add what it lacks): its host end up, on the bridge, as asked."""
    uplink = ctx.uplink
    master = uplink.index if enslave and uplink is not None else None
    if not host_link.is_up or (master is not None and host_link.master != master):
        ctx.host.request(
            m.set_link(host_link.index, up=True, master=master),
            op="bring up",
            obj=f"host interface {host_link.name}",
        )
    guest = ctx.guest_nl.link(ctx.spec.container_ifname)
    if guest is None:
        raise HostStateError(f"{ctx.spec.container_ifname} vanished from {ctx.guest.label}")
    ctx.host_link = host_link
    ctx.guest_index = guest.index
    ctx.finishing = True
    rollback.notes.append(
        f"{ctx.spec.container_ifname} in {ctx.guest.label} was attached half-way "
        "(a run that was interrupted?): finished it"
    )


def _ours(ctx: AttachContext, link: Link | None) -> bool:
    """Whether ``link`` is the marked host end of this very guest interface."""
    mark = parse_veth_mark(link.alias if link else None)
    return (
        mark is not None
        and mark[1] == ctx.spec.container_ifname
        and mark[2] == ctx.guest.netns.inode
    )


def _made_unmarked(ctx: AttachContext, link: Link) -> bool:
    """Whether ``link``, with pipework's name for this attachment's host end but no
    alias at all, is a veth whose peer is this guest interface: what a run killed
    between creating the pair and marking it leaves (or the original script, which
    never marked). The host's kernel says where the peer is; only host root can
    make a host link, so nothing here is the guest's word."""
    if link.kind != "veth" or link.alias or link.link is None or link.link_netnsid is None:
        return False
    peer = ctx.guest_nl.link(ctx.spec.container_ifname)
    if peer is None or peer.index != link.link:
        return False
    return link.link_netnsid == ctx.host.nsid(ctx.guest.netns.fd, obj=ctx.guest.label)


def existing_attachment(ctx: AttachContext) -> Link | None:
    """The host end of this guest interface's previous attachment, if pipework made one."""
    by_name = ctx.host.link(ctx.host_ifname)
    if by_name is not None:
        return by_name if _ours(ctx, by_name) or _made_unmarked(ctx, by_name) else None
    # The host-side name is free: the guest's interface may be ours under another
    # host name (-l), found through its peer.
    guest = ctx.guest_nl.link(ctx.spec.container_ifname)
    if guest is None or not guest.link:
        return None
    peer = ctx.host.link(index=guest.link, obj="peer")
    return peer if _ours(ctx, peer) else None


def _replace_or_refuse(ctx: AttachContext) -> Link | None:
    """A name is taken. Our own attachment of this guest interface: the same request is
    a no-op (AlreadyAttached), one that lacks part of the request and has nothing else
    is finished (its host end is returned), a different one is refused unless --force.
    Anything else: refused."""
    existing = existing_attachment(ctx)
    if existing is None:
        raise _explain_name_taken(ctx)
    guest_link, diff = ctx.driver.same_as_asked(ctx, existing)
    unmarked = not _ours(ctx, existing)
    if not diff.conflicts and not diff.missing and not unmarked:
        raise AlreadyAttached(existing, guest_link)
    if not diff.conflicts:
        return existing
    if not ctx.spec.force:
        raise AttachmentDiffers(
            f"{ctx.guest.label} {ctx.spec.container_ifname} is already attached, "
            f"differently: {'; '.join(diff.conflicts + diff.missing)}",
            hint="--force replaces it, pipework detach removes it",
        )
    # --force: the old attachment goes first (it cannot come back if the new one fails)
    ctx.driver.release(existing)
    ctx.host.delete_link(existing.index, obj=f"veth {existing.name}")
    return None


def _explain_name_taken(ctx: AttachContext) -> HostStateError:
    """Which of the two names is taken, and by what (we never delete what is not ours)."""
    existing = ctx.host.link(ctx.host_ifname)
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
