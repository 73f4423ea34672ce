"""The DHCP part of an attach, after the guest interface is up without an address.

Built-in client (``dhcp``, ``--dhcp``): obtain a lease from inside the guest's
namespace, put its address and routes on the interface, optionally its DNS
servers in the guest's resolv.conf, and for ``dhcp-f`` / ``--dhcp-keep`` start
the renewal process (keeper.py). Each is a step with its undo: a failure after
the lease releases it again. The external clients are external.py.
"""

from __future__ import annotations

from ..executor import Step

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Rollback
    from .client import Lease, Session


def plan(ctx: AttachContext) -> list[Step]:
    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    if dhcp.client != "dhcp":
        from .external import external_steps

        return external_steps(ctx)
    name = ctx.spec.container_ifname
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


def _obtain(ctx: AttachContext, rollback: Rollback) -> None:
    from .. import drivers
    from ..addressing import guest_link
    from ..netns import inside
    from .client import Session
    from .configure import apply_lease

    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    # A DISCOVER sent before the bridge port forwards is lost, and the first
    # retransmission comes a second later: wait for the port instead.
    not_ready = drivers.wait_ready(ctx.kind, ctx)
    if not_ready:
        rollback.notes.append(not_ready)
    link = guest_link(ctx)
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


def _write_dns(ctx: AttachContext, rollback: Rollback) -> None:
    from .resolvconf import write_guest_resolv_conf

    assert ctx.lease is not None
    write_guest_resolv_conf(ctx.guest, ctx.lease, rollback.push)


def _keep(ctx: AttachContext, rollback: Rollback) -> None:
    from . import keeper, state
    from .client import Lease

    lease = ctx.lease
    assert isinstance(lease, Lease)
    name = state.key(ctx.guest.netns.inode, ctx.spec.container_ifname)
    # one replaced with --force: its process must not outlive it, nor remove our files
    keeper.stop(name, release=False)
    record = keeper.record(ctx, lease)
    state.save(name, record)
    pid = keeper.start(name)

    def undo() -> None:
        keeper.stop(name, release=False)  # the lease itself is released by the step before

    rollback.push(f"kill {pid}  # the renewal process", undo)
