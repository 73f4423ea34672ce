"""Attach: resolve the guest, choose the driver, plan the steps, apply them, read back.

AttachSpec -> guests.resolve() -> drivers.choose() -> plan -> executor.apply() -> Attachment
"""

from __future__ import annotations

from . import addressing, drivers, executor
from .announce import announce
from .context import AttachContext
from .errors import NotSupportedYet, PipeworkError
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
    """Plumb the guest named in ``spec``; on any failure nothing is left behind.

    The host side is checked before the guest is looked up, so a request pipework
    cannot do (a kind not built yet, a missing interface) is refused first.
    """
    check_supported(spec)
    own_host = host is None
    host_nl = host if host is not None else NetlinkSocket()
    try:
        target = drivers.choose(spec, host_nl)
        with resolve(spec.guest) as guest:
            return attach_guest(spec, guest, verbose=verbose, host=host_nl, target=target)
    finally:
        if own_host:
            host_nl.close()


def attach_guest(
    spec: AttachSpec,
    guest: Guest,
    *,
    verbose: bool = False,
    host: NetlinkSocket | None = None,
    target: drivers.HostTarget | None = None,
) -> Attachment:
    """Attach an already resolved (pinned) guest. ``host`` lets many attaches share a socket."""
    check_supported(spec)
    own_host = host is None
    host_nl = host if host is not None else NetlinkSocket()
    try:
        if target is None:
            target = drivers.choose(spec, host_nl)
        ctx = AttachContext(spec, guest, host_nl)
        ctx.bridge = target.link
        try:
            steps = drivers.plan(target.kind, ctx) + addressing.plan(ctx)
            warnings = executor.apply(steps, verbose=verbose)
            warnings += _after(target.kind, ctx)
            return _result(ctx, warnings)
        finally:
            ctx.close()
    finally:
        if own_host:
            host_nl.close()


def _after(kind: str, ctx: AttachContext) -> list[str]:
    """Announce the addresses. The attach is done: failures here are only warnings."""
    warnings: list[str] = []
    try:
        not_ready = drivers.wait_ready(kind, ctx)
        if not_ready:
            warnings.append(not_ready)
        mac = ctx.guest_link.address if ctx.guest_link else None
        if ctx.spec.addressing.addresses and mac:
            warnings += announce(ctx, mac)
    except (PipeworkError, OSError) as exc:
        warnings.append(f"the interface is ready, but announcing it failed: {exc}")
    return warnings


def _result(ctx: AttachContext, warnings: list[str]) -> Attachment:
    link = ctx.guest_link
    assert link is not None and ctx.bridge is not None
    spec, guest = ctx.spec, ctx.guest
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
        mac=link.address or b"",
        mtu=link.mtu or 0,
        created_bridge=ctx.created_bridge,
        warnings=tuple(warnings),
    )
