"""Attaching: resolve the guest, choose the driver, plan the steps, apply them, read back.

AttachSpec -> drivers.choose() -> guests.resolve() -> plan.compose() -> executor.apply()
-> Attachment
"""

from __future__ import annotations

import sys

from .. import drivers
from .._lowlevel.runstate import InterfaceLock
from ..errors import AlreadyAttached, PipeworkError
from ..guests import resolve
from ..model import Attachment
from ..netlink.socket import NetlinkSocket
from . import executor, plan
from .announce import HostAnnouncer, announce
from .context import AttachContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..drivers import HostTarget
    from ..inet import IPAddress, IPInterface
    from ..model import AttachSpec, Guest

#: stands in a result slot until its attach is done
_placeholder: PipeworkError = PipeworkError("not attached")


def attach(
    spec: AttachSpec, *, verbose: bool = False, host: NetlinkSocket | None = None
) -> Attachment:
    """Plumb the guest named in ``spec``; on any failure nothing is left behind.

    The host side is checked before the guest is looked up, so a request pipework
    cannot do (a kind not built yet, a missing interface) is refused first.
    """
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
    target: HostTarget | None = None,
) -> Attachment:
    """Attach an already resolved (pinned) guest. ``host`` lets many attaches share a socket."""
    own_host = host is None
    host_nl = host if host is not None else NetlinkSocket()
    try:
        _leave_alone()
        ctx, warnings = _apply(spec, guest, host_nl, target, verbose)
        try:
            warnings += _after(ctx)
            warnings += _firewall(ctx, verbose)
            return _result(ctx, warnings)
        finally:
            ctx.close()
    finally:
        if own_host:
            host_nl.close()


def attach_many(
    specs: Sequence[AttachSpec],
    *,
    verbose: bool = False,
    announce: bool = False,
    chunk: int = 128,
) -> list[Attachment | PipeworkError]:
    """Attach many guests in one process, each on its own: all or nothing per guest.

    Returns, in order, the Attachment of each request or the error that stopped it
    (a failed request was rolled back like a failed ``attach``). One host netlink
    socket serves them all, and the announcements of a chunk are sent after all its
    links are up: by then the kernel has made every bridge port forward, so no
    attach waits for that, one after the other.

    Unlike ``attach``, it sends no gratuitous ARPs or neighbour advertisements
    unless ``announce=True``: each is a broadcast that every guest on the bridge
    processes, so on a bridge of a thousand guests they cost more than the rest of
    the attach (measured: 10.5 ms per attach without, 19.5 ms with, at N=1000),
    and a topology built from scratch has no neighbour with a stale entry to fix.
    Ask for them when the addresses were in use elsewhere a moment ago.
    """
    results: list[Attachment | PipeworkError] = []
    targets: dict[str, HostTarget] = {}  # host interfaces already looked up
    announcer = HostAnnouncer()
    bridges_seen: dict[tuple[str, bool], list[str]] = {}  # the firewall, read once a bridge
    _leave_alone()
    with NetlinkSocket() as host:
        try:
            for first in range(0, len(specs), chunk):
                done: list[tuple[int, AttachContext, Guest, list[str]]] = []
                try:
                    for spec in specs[first : first + chunk]:
                        results.append(_placeholder)
                        attached = _attach_one(spec, host, verbose, targets)
                        if isinstance(attached, PipeworkError):
                            results[-1] = attached
                        else:
                            done.append((len(results) - 1, *attached))
                    for index, ctx, _guest, notes in done:
                        notes.extend(_firewall(ctx, verbose, bridges_seen))
                        if not announce:
                            results[index] = _result(ctx, notes)
                            continue
                        warnings = notes + _after(ctx)
                        if ctx.guest_link and ctx.guest_link.address and ctx.uplink:
                            addresses = ctx.spec.addressing.addresses
                            warnings += announcer.send(
                                ctx.uplink.name, ctx.guest_link.address, addresses
                            )
                        results[index] = _result(ctx, warnings)
                finally:
                    for _index, ctx, guest, _notes in done:
                        ctx.close()
                        guest.close()
        finally:
            announcer.close()
    return results


def _attach_one(
    spec: AttachSpec, host: NetlinkSocket, verbose: bool, targets: dict[str, HostTarget]
) -> tuple[AttachContext, Guest, list[str]] | PipeworkError:
    """Resolve and apply one request of a batch; its error instead of raising it."""
    try:
        key = spec.host_if or ""
        target = targets.get(key) if key else None
        if target is None:
            target = drivers.choose(spec, host)
        guest = resolve(spec.guest)
    except PipeworkError as exc:
        return exc
    try:
        ctx, notes = _apply(spec, guest, host, target, verbose, arp_from_host=True)
        if key and ctx.uplink is not None:  # the bridge exists now, maybe made by this run
            targets[key] = drivers.HostTarget(ctx.driver, ctx.uplink)
    except BaseException as exc:
        guest.close()
        if isinstance(exc, PipeworkError):
            return exc
        raise
    return ctx, guest, notes


def _apply(
    spec: AttachSpec,
    guest: Guest,
    host: NetlinkSocket,
    target: HostTarget | None,
    verbose: bool,
    *,
    arp_from_host: bool = False,
) -> tuple[AttachContext, list[str]]:
    """Plan and apply one attach (rolled back on failure); the context stays open."""
    if target is None:
        target = drivers.choose(spec, host)
    if spec.host_shim and target.driver.kind != "macvlan":
        from ..errors import UsageError

        raise UsageError(
            f"--host-shim is for a macvlan on a NIC; {spec.host_if} is a {target.driver.kind}"
        )
    ctx = AttachContext(spec, guest, host, target.driver, target.link, arp_from_host=arp_from_host)
    name = ctx.spec.container_ifname
    lock = InterfaceLock(guest.netns.inode, name, f"{name} in {guest.label}")
    try:
        lock.take()
        steps = plan.compose(ctx)
        try:
            notes = executor.apply(steps, verbose=verbose)
        except AlreadyAttached as same:
            ctx.unchanged = True
            ctx.host_link, ctx.guest_link = same.host_link, same.guest_link  # type: ignore[assignment]
            ctx.host_ifname = ctx.host_link.name if ctx.host_link else ""
            notes = []
    except BaseException:
        ctx.close()
        raise
    finally:
        lock.release()
    return ctx, notes


def _after(ctx: AttachContext) -> list[str]:
    """Announce the addresses. The attach is done: failures here are only warnings."""
    warnings: list[str] = []
    if ctx.unchanged:
        return warnings
    try:
        not_ready = ctx.driver.wait_ready(ctx)
        if not_ready:
            warnings.append(not_ready)
        mac = ctx.guest_link.address if ctx.guest_link else None
        if ctx.spec.addressing.addresses and mac:
            warnings += announce(ctx, mac)
            if not_ready and "STP" in not_ready:
                from .reannounce import schedule

                later = schedule(ctx, mac)
                if later:
                    warnings[warnings.index(not_ready)] = later
    except (PipeworkError, OSError) as exc:
        warnings.append(f"the interface is ready, but announcing it failed: {exc}")
    return warnings


def _firewall(
    ctx: AttachContext, verbose: bool, seen: dict[tuple[str, bool], list[str]] | None = None
) -> list[str]:
    """On a bridge whose traffic crosses the firewall (br_netfilter), add pipework's
    accept rule when asked (``--allow-forward``), then warn if the firewall still drops
    what goes between the bridge's ports. Free when br_netfilter is off: one read of
    /proc/sys; when it is on, the rulesets are read (docs/doctor.md says the cost)."""
    bridge = ctx.uplink
    if bridge is None or bridge.kind != "bridge":
        if ctx.spec.allow_forward:  # (br_netfilter sees Linux bridges only)
            return [f"--allow-forward is for a Linux bridge: nothing done for {ctx.spec.host_if}"]
        return []
    key = (bridge.name, ctx.spec.allow_forward)
    if seen is not None:
        if key not in seen:
            seen[key] = _firewall(ctx, verbose)
        return seen[key]
    if not _br_netfilter_on():
        return []  # (before importing doctor.forward: 0.6 ms, as much as the netlink work)
    from ..doctor import forward

    try:
        if ctx.spec.allow_forward:
            forward.note_rules(bridge.name)  # before the rules: detach must find them
            for command in forward.allow_forward(bridge.name):
                if verbose:
                    from .._lowlevel.terminal import printable

                    sys.stderr.write(f"+ {printable(command)}\n")
        message = forward.warning(bridge.name)
    except (PipeworkError, OSError) as exc:
        return [f"the firewall of bridge {bridge.name} could not be read or changed: {exc}"]
    return [message] if message else []


def _leave_alone() -> None:
    """With NetworkManager or systemd-networkd on the host, the udev rule that has them
    leave pipework's interfaces alone is in place before any is made (doctor.agents).
    Three stats where neither runs."""
    import os

    if os.path.exists("/run/udev/rules.d/90-pipework-unmanaged.rules") or not (
        os.path.isdir("/run/NetworkManager") or os.path.exists("/run/systemd/netif/state")
    ):
        return
    from ..doctor.agents import ensure_udev_rule

    try:
        ensure_udev_rule()
    except OSError:
        pass  # a read-only /run: doctor reports the agents that may take them


def _br_netfilter_on() -> bool:
    """Whether traffic within a bridge crosses the IP firewall in this namespace (the
    switches doctor.forward.NF_CALL names)."""
    import os

    for version in ("", "6"):
        try:
            fd = os.open(f"/proc/sys/net/bridge/bridge-nf-call-ip{version}tables", os.O_RDONLY)
        except OSError:
            continue  # no br_netfilter here
        try:
            if os.read(fd, 8).strip() == b"1":
                return True
        finally:
            os.close(fd)
    return False


def _addresses(ctx: AttachContext) -> tuple[IPInterface, ...]:
    """The static addresses asked for; with DHCP, what the guest interface has now."""
    if ctx.spec.addressing.dhcp is None:
        return ctx.spec.addressing.addresses
    if ctx.lease is not None:
        from ..dhcp.configure import lease_interface

        return (lease_interface(ctx.lease),)
    from ..inet import IPAddress, IPInterface
    from ..netlink import messages as m

    index = ctx.guest_link.index if ctx.guest_link else None
    return tuple(
        IPInterface(IPAddress(4 if a.family == m.AF_INET else 6, a.local), a.prefixlen)
        for a in ctx.guest_nl.addresses()
        if a.index == index and a.scope == m.RT_SCOPE_UNIVERSE and a.local
    )


def _gateways(ctx: AttachContext) -> tuple[IPAddress, ...]:
    if ctx.lease is not None and ctx.lease.routers and not ctx.lease.routes:
        from ..inet import IPAddress

        return (IPAddress(4, ctx.lease.routers[0]),)
    return ctx.spec.addressing.gateways


def _result(ctx: AttachContext, warnings: list[str]) -> Attachment:
    link = ctx.guest_link
    assert link is not None
    spec, guest = ctx.spec, ctx.guest
    return Attachment(
        guest=guest.label,
        runtime=guest.runtime,
        pid=guest.pid,
        netns_inode=guest.netns.inode,
        container_ifname=spec.container_ifname,
        host_ifname=ctx.host_ifname,
        bridge=ctx.uplink.name if ctx.uplink is not None else (spec.host_if or ""),
        addresses=_addresses(ctx),
        gateways=_gateways(ctx),
        mac=link.address or b"",
        mtu=link.mtu or 0,
        created_bridge=ctx.created_bridge,
        warnings=tuple(warnings),
        changed=not ctx.unchanged,
    )
