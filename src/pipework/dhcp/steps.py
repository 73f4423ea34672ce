"""The DHCP part of an attach, after the guest interface is up without an address.

Built-in client (``dhcp``, ``--dhcp``): obtain a lease from inside the guest's
namespace, put its address and routes on the interface, optionally its DNS
servers in the guest's resolv.conf, and for ``dhcp-f`` / ``--dhcp-keep`` start
the renewal process (keeper.py). Each is a step with its undo: a failure after
the lease releases it again. The external clients are external.py.
"""

from __future__ import annotations

from ..steps import Step

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..netlink.messages import Link
    from ..steps import Rollback
    from .client import Lease, Session


def plan(ctx: AttachContext) -> list[Step]:
    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    if dhcp.client != "dhcp":
        from .external import external_steps

        return external_steps(ctx)
    name = ctx.spec.container_ifname
    if dhcp.family == 6:
        steps = [
            Step(
                ctx.in_guest(f"pipework-dhcp6 {name}")
                + "  # built-in client: SOLICIT, ADVERTISE, REQUEST, REPLY; the address",
                lambda rollback: _obtain6(ctx, rollback),
            )
        ]
    else:
        steps = [
            Step(
                ctx.in_guest(f"pipework-dhcp {name}")
                + "  # built-in client: DISCOVER, OFFER, REQUEST, ACK; address and routes",
                lambda rollback: _obtain(ctx, rollback),
            )
        ]
    if dhcp.dns:
        steps.append(
            Step(
                "# write the lease's DNS servers into the guest's resolv.conf",
                lambda rollback: _write_dns(ctx, rollback),
            )
        )
    if dhcp.foreground:
        steps.append(
            Step(
                f"{_python()} -m pipework.dhcp.keeper {ctx.guest.netns.inode}-{name} &"
                "  # renews the lease",
                lambda rollback: _keep(ctx, rollback),
            )
        )
    return steps


def _python() -> str:
    import sys

    return sys.executable or "python3"


def hostname_for(ctx: AttachContext) -> str | None:
    """Option 12: as asked, else the guest's name, as the original sends it; left out
    when the name cannot be a hostname (a path, say)."""
    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    if dhcp.hostname is not None:
        return dhcp.hostname
    name = ctx.guest.name
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")
    if not name or len(name) > 63 or not set(name) <= allowed or name[0] in "-.":
        return None
    return name


def _ready_link(ctx: AttachContext, rollback: Rollback) -> Link:
    """The guest interface, once it can carry the first DHCP message: a message
    sent before the bridge port forwards is lost, and the first retransmission
    comes a second later, so wait for the port instead."""
    not_ready = ctx.driver.wait_ready(ctx)
    if not_ready:
        rollback.notes.append(not_ready)
    return ctx.guest_end()


def _obtain(ctx: AttachContext, rollback: Rollback) -> None:
    from ..netns import inside
    from .client import Session
    from .configure import apply_lease

    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    link = _ready_link(ctx, rollback)
    session = Session(
        ctx.spec.container_ifname,
        link.address or b"",
        hostname=hostname_for(ctx),
        vendor_class=dhcp.vendor_class,
    )
    with inside(ctx.guest.netns):
        session.open()
    ctx.dhcp_session = session
    lease = session.obtain(dhcp.timeout)
    rollback.push("release the DHCP lease", lambda: _release(session, lease))
    rollback.notes += apply_lease(
        ctx.guest_nl,
        link.index,
        ctx.guest.label,
        lease,
        expiring=dhcp.foreground,
        push=rollback.push,
    )
    ctx.lease = lease


def _release(session: Session, lease: Lease) -> None:
    try:
        session.release(lease)
    except OSError:
        pass  # best effort: the server reclaims the lease when it runs out anyway


def before_link_up(ctx: AttachContext) -> list[Step]:
    """DHCPv6 speaks from the link-local address, which DAD would hold back for a
    second after the link comes up: turn DAD off on the new interface first."""
    dhcp = ctx.spec.addressing.dhcp
    if dhcp is None or dhcp.client != "dhcp" or dhcp.family != 6:
        return []
    name = ctx.spec.container_ifname
    return [
        Step(
            ctx.in_guest(f"sysctl -w net.ipv6.conf.{name}.accept_dad=0"),
            lambda _rollback: _no_dad(ctx),
        )
    ]


def _no_dad(ctx: AttachContext) -> None:
    from ..errors import HostStateError
    from ..netns import ns_sysctl

    try:
        ns_sysctl(ctx.guest.netns, f"net/ipv6/conf/{ctx.spec.container_ifname}/accept_dad", "0")
    except OSError as exc:
        raise HostStateError(
            f"turn off DAD on {ctx.spec.container_ifname} in {ctx.guest.label}: {exc.strerror}",
            hint="DHCPv6 needs IPv6 in the guest",
        ) from None


def _obtain6(ctx: AttachContext, rollback: Rollback) -> None:
    from ..inet import IPAddress
    from ..netlink import messages as m
    from ..netns import inside
    from ..steps import gone_ok
    from .v6 import Session6

    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    link = _ready_link(ctx, rollback)
    session = Session6(ctx.spec.container_ifname, link.index, link.address or b"")
    with inside(ctx.guest.netns):
        session.open()
    try:
        lease = session.obtain(dhcp.timeout)
    finally:
        session.close()
    nl, index = ctx.guest_nl, link.index
    address = IPAddress(6, lease.address)
    # /128: DHCPv6 gives an address, not a prefix (that comes from router advertisements)
    nl.request(
        m.add_address(index, m.AF_INET6, lease.address, 128, nodad=True),
        op="add the leased address",
        obj=f"{address}/128 in {ctx.guest.label}",
    )
    rollback.push(
        f"ip -6 addr del {address}/128",
        gone_ok(
            lambda: nl.request(
                m.delete_address(index, m.AF_INET6, lease.address, 128),
                op="remove",
                obj=str(address),
            )
        ),
    )
    ctx.dns = ([str(IPAddress(6, d)) for d in lease.dns], None)


def _write_dns(ctx: AttachContext, rollback: Rollback) -> None:
    from .resolvconf import write_guest_resolv_conf

    if ctx.lease is not None:
        servers = [".".join(map(str, d)) for d in ctx.lease.dns]
        write_guest_resolv_conf(ctx.guest, servers, ctx.lease.domain, rollback.push)
    elif ctx.dns is not None:
        write_guest_resolv_conf(ctx.guest, ctx.dns[0], ctx.dns[1], rollback.push)


def _keep(ctx: AttachContext, rollback: Rollback) -> None:
    from . import keeper, state
    from .client import Lease

    lease = ctx.lease
    assert isinstance(lease, Lease)
    name = state.key(ctx.guest.netns.inode, ctx.spec.container_ifname)
    # one replaced with --force: its process must not outlive it, nor remove our files
    keeper.stop(name, release=False)
    record = keeper.record(ctx, lease, hostname_for(ctx))
    state.save(name, record)
    pid = keeper.start(name)

    def undo() -> None:
        keeper.stop(name, release=False)  # the lease itself is released by the step before

    rollback.push(f"kill {pid}  # the renewal process", undo)
