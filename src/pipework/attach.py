"""Attach: resolve the guest, choose the driver, plan the steps, apply them, read back.

AttachSpec -> guests.resolve() -> drivers.choose() -> plan -> executor.apply() -> Attachment
"""

from __future__ import annotations

from . import addressing, drivers, executor
from .announce import announce
from .context import AttachContext
from .errors import NotSupportedYet
from .guests import resolve
from .model import Attachment
from .netlink.socket import NetlinkSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import AttachSpec, Guest


def check_supported(spec: AttachSpec) -> None:
    """Refuse, before anything else, the forms of the original that are not built yet."""
    dhcp = spec.addressing.dhcp
    if dhcp is not None:
        raise NotSupportedYet(f"DHCP ({dhcp})")


def attach(
    spec: AttachSpec, *, verbose: bool = False, host: NetlinkSocket | None = None
) -> Attachment:
    """Plumb the guest named in ``spec``; on any failure nothing is left behind."""
    check_supported(spec)
    guest = resolve(spec.guest)
    try:
        return attach_guest(spec, guest, verbose=verbose, host=host)
    finally:
        guest.close()


def attach_guest(
    spec: AttachSpec, guest: Guest, *, verbose: bool = False, host: NetlinkSocket | None = None
) -> Attachment:
    """Attach an already resolved (pinned) guest. ``host`` lets many attaches share a socket."""
    check_supported(spec)
    own_host = host is None
    host_nl = host if host is not None else NetlinkSocket()
    ctx = AttachContext(spec, guest, host_nl)
    try:
        kind = drivers.choose(ctx)
        steps = drivers.plan(kind, ctx) + addressing.plan(ctx)
        executor.apply(steps, verbose=verbose)
        link = ctx.guest_link
        assert link is not None and ctx.bridge is not None
        mac = link.address or b""
        warnings: list[str] = []
        not_ready = drivers.wait_ready(kind, ctx)
        if not_ready:
            warnings.append(not_ready)
        if spec.addressing.addresses and mac:
            warnings += announce(ctx, mac)
        return Attachment(
            guest=guest.label,
            runtime=guest.runtime,
            pid=guest.pid,
            netns_inode=guest.netns.inode,
            container_ifname=spec.container_ifname,
            host_ifname=ctx.host_ifname,
            bridge=ctx.bridge.name,
            addresses=spec.addressing.addresses,
            gateways=spec.addressing.gateways,
            mac=mac,
            mtu=link.mtu or 0,
            created_bridge=ctx.created_bridge,
            warnings=tuple(warnings),
        )
    finally:
        ctx.close()
        if own_host:
            host_nl.close()
