"""What every host-side kind implements, and the defaults most of them share.

A driver is one module of this package holding ``DRIVER``, an instance of a
``Driver`` subclass; the registry (``drivers/__init__``) lists the modules in the
order ``choose`` asks them. Each kind answers, from the request and the host:

- ``claims``: is this request mine? (the first kind that says yes plumbs it);
- ``plan``: the steps, each with its undo; ``wait_ready``: block until the new
  link carries traffic; ``same_as_asked``: how an existing attachment of the same
  guest interface differs from the request (idempotent re-runs);
- for what it left in the kernel: ``owns`` a marked host end, ``uplink_name``
  for ``ls``, ``release`` before ``detach`` deletes it, ``remove_inside`` for an
  interface it made inside a guest, ``collect`` for ``gc``.

Drivers never import the attach engine or the verbs: they get an
``AttachContext`` and return steps.
"""

from __future__ import annotations

from ..errors import HostStateError, UsageError
from ..netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar

    from ..engine.context import AttachContext
    from ..model import AttachSpec, Guest
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Step
    from .idle import Collection

ARPHRD_INFINIBAND = 32


class Driver:
    """A host-side kind; subclasses override what their kind does differently."""

    #: the kind's name, as the registry, marks and messages say it
    kind: ClassVar[str] = ""
    #: whether the kind makes a veth pair whose host end carries pipework's mark
    host_end: ClassVar[bool] = False

    # -- choosing (reads the host, changes nothing)

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        """Whether this kind plumbs ``spec``; ``link`` is the host interface ``name``
        (None when there is none). May raise UsageError or HostStateError to refuse."""
        return False

    def check(self, spec: AttachSpec, link: Link | None) -> None:
        """Refuse what this kind cannot do, before anything changes."""
        if spec.vlan is None and spec.pkey is not None:
            # a tag that is only valid as an IPoIB partition key (hexadecimal)
            raise UsageError(f"invalid VLAN id '{spec.pkey:x}': must be a number from 1 to 4094")

    def with_defaults(self, spec: AttachSpec) -> AttachSpec:
        """The request with this kind's own defaults filled in."""
        return spec

    def host_ifname(self, spec: AttachSpec, guest: Guest) -> str:
        """The name of the host end, for kinds that have one ("" otherwise)."""
        return ""

    # -- attaching

    def plan(self, ctx: AttachContext) -> list[Step]:
        raise NotImplementedError(self.kind)

    def wait_ready(self, ctx: AttachContext) -> str | None:
        """Block (bounded) until the new link carries traffic; a warning if it will not."""
        return None

    def same_as_asked(self, ctx: AttachContext, existing: Link) -> tuple[Link, Differences]:
        """The guest end of the existing attachment whose host end is ``existing``, and
        how it differs from the request (nothing: the same attachment)."""
        diff = Differences()
        guest = guest_side_differences(ctx, diff)
        asked = ctx.spec.host_ifname
        if asked is not None and existing.name != asked:
            diff.conflicts.append(f"its host side is {existing.name}, asked {asked}")
        if not existing.is_up:
            diff.missing.append(f"its host side {existing.name} is down")
        self.uplink_differences(ctx, existing, diff)
        return guest, diff

    def uplink_differences(self, ctx: AttachContext, existing: Link, diff: Differences) -> None:
        """How the host end's place on the host differs from the request."""

    # -- what it left in the kernel

    def owns(self, link: Link, names: dict[int, str]) -> bool:
        """Whether a host end carrying pipework's veth mark was made by this kind
        (``names``: index -> name of every host link)."""
        return False

    def uplink_name(self, link: Link, names: dict[int, str]) -> str | None:
        """The host interface a marked host end hangs off, for ``ls``."""
        return names.get(link.master) if link.master else None

    def segment(
        self, link: Link, names: dict[int, str], host: NetlinkSocket
    ) -> dict[str, object] | None:
        """What more ``ls`` and ``inspect`` show of where a marked host end hangs off (a
        VXLAN segment: its VNI and remote), with a one-line ``summary``; None: nothing."""
        return None

    def release(self, link: Link) -> None:
        """What goes before the host end is deleted (an OVS port's database record)."""

    def remove_inside(
        self, nl: NetlinkSocket, link: Link, mark: dict[str, str], guest: Guest
    ) -> tuple[str, str]:
        """Undo an interface this kind made or moved inside a guest: (what an ``ip``
        command would have done, what was removed). The mark is the guest's to write:
        deleting an interface inside the guest is harmless to trust it for (the guest
        could delete it itself); anything on the host side must not be."""
        nl.delete_link(link.index, obj=link.name)
        return f"ip link del {link.name}  # in {guest.label}", f"{link.name} (in {guest.label})"

    def collect(self) -> list[str]:
        """Remove what guests that are gone left behind (``gc``); what was removed."""
        return []

    def collect_into(self, found: Collection) -> None:
        """``gc`` for this kind: by default what ``collect`` removed. A kind that removes
        several sorts of things (stale ports, unused bridges) records each in ``found``,
        and goes on past a failure, recorded there too."""
        found.removed += self.collect()


class Differences:
    """How an existing attachment of a guest interface differs from a request.

    ``conflicts``: it has something the request does not ask for (another address,
    MAC, MTU, uplink): only --force replaces it. ``missing``: it lacks part of what
    was asked and has nothing else, as an attach killed half-way leaves it (down,
    no address yet, no route): a re-run finishes the job.
    """

    __slots__ = ("conflicts", "missing")

    def __init__(self) -> None:
        self.conflicts: list[str] = []
        self.missing: list[str] = []


class HostTarget:
    """How the host side of a request is plumbed: the driver and the existing link, if any."""

    __slots__ = ("driver", "link")

    def __init__(self, driver: Driver, link: Link | None) -> None:
        self.driver = driver
        self.link = link


def no_support(kind: str, exc: Exception, hint: str | None = None) -> HostStateError:
    """The kernel refused a kind of link or a feature it was built without (EOPNOTSUPP)."""
    detail = getattr(exc, "kernel_message", None) or "EOPNOTSUPP"
    return HostStateError(
        f"this kernel has no {kind} support (RTNETLINK: Operation not supported)",
        hint=f"{hint or f'a kernel with the {kind} driver is needed'} ({detail})",
    )


def guest_side_differences(ctx: AttachContext, diff: Differences) -> Link:
    """The guest interface as the kernel shows it now; how its addresses, default
    routes, state, MAC and MTU differ from the request goes into ``diff``."""
    from ..mac import format_mac

    spec = ctx.spec
    nl = ctx.guest_nl
    guest = nl.link(spec.container_ifname)
    if guest is None:
        raise HostStateError(f"{spec.container_ifname} vanished from {ctx.guest.label}")
    want = {str(a) for a in spec.addressing.addresses}
    # link-scope addresses count when asked for: the kernel's own IPv6 link-local
    # address is never a difference, a link-local address the request names is one
    have = {
        str(a)
        for a in nl.addresses()
        if a.index == guest.index and (a.scope == m.RT_SCOPE_UNIVERSE or str(a) in want)
    }
    if spec.addressing.dhcp is not None:
        # a lease: whatever address the server gave is the one asked for
        if not any(":" not in a for a in have):
            diff.missing.append(f"it has no IPv4 address, asked {spec.addressing.dhcp}")
    elif have - want:
        diff.conflicts.append(
            f"it has {', '.join(sorted(have))}, asked {', '.join(sorted(want)) or 'no address'}"
        )
    elif want - have:
        diff.missing.append(f"it lacks {', '.join(sorted(want - have))}")
    if not guest.is_up:
        diff.missing.append("it is down")
    for gateway in spec.addressing.gateways:
        defaults = [
            r for r in nl.routes(gateway.af) if r.dst_len == 0 and r.table == m.RT_TABLE_MAIN
        ]
        if not any(r.gateway == gateway.packed for r in defaults):
            diff.missing.append(f"its default route is not via {gateway}")
    if spec.mac is not None and guest.address != spec.mac:
        diff.conflicts.append(
            f"its MAC is {format_mac(guest.address or b'')}, asked {format_mac(spec.mac)}"
        )
    if spec.mtu is not None and guest.mtu != spec.mtu:
        diff.conflicts.append(f"its MTU is {guest.mtu}, asked {spec.mtu}")
    return guest
