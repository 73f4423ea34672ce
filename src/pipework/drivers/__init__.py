"""Host-side kinds: which driver plumbs a request, chosen from the request and the host.

One module per kind; each has ``plan(ctx) -> [Step]``. Choosing reads the host
(does the interface exist, what kind is it) but changes nothing.
"""

from __future__ import annotations

from ..errors import HostStateError, NetlinkError, NotSupportedYet
from ..netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Step
    from ..model import AttachSpec
    from ..netlink.socket import NetlinkSocket

ARPHRD_INFINIBAND = 32


class HostTarget:
    """What the host side of a request is: the driver kind and the existing link, if any."""

    __slots__ = ("kind", "link")

    def __init__(self, kind: str, link: m.Link | None) -> None:
        self.kind = kind
        self.link = link


def get_link(host: NetlinkSocket, name: str) -> m.Link | None:
    """The host link called ``name``, or None."""
    try:
        replies = host.request(m.get_link(name), op="look up", obj=f"host interface {name}")
    except NetlinkError as exc:
        if exc.errno == 19:  # ENODEV
            return None
        raise
    return m.parse_link(*replies[0][1:]) if replies else None


def choose(spec: AttachSpec, host: NetlinkSocket) -> HostTarget:
    """The driver for ``spec``, from the request and the host (read, never changed)."""
    if spec.direct_phys:
        raise NotSupportedYet("--direct-phys (moving a host interface into the guest)")
    if spec.host_mac is not None:
        raise NotSupportedYet("selecting the host interface by MAC (mac:…)")
    assert spec.host_if is not None
    name = spec.host_if
    link = get_link(host, name)
    if link is None:
        if name.startswith("br") or spec.create_bridge:
            return _bridge(spec, None)
        if name.startswith("ovs"):
            raise NotSupportedYet(f"Open vSwitch bridges ({name})")
        if name.startswith("dummy"):
            raise NotSupportedYet("dummy interfaces")
        raise HostStateError(
            f"no host interface {name!r}",
            hint="pipework creates a Linux bridge only when its name starts with 'br', "
            "or with --create-bridge",
        )
    if link.kind == "bridge":
        return _bridge(spec, link)
    if link.kind == "openvswitch":
        raise NotSupportedYet(f"Open vSwitch bridges ({name})")
    if link.type == ARPHRD_INFINIBAND:
        raise NotSupportedYet(f"IPoIB child interfaces ({name})")
    raise NotSupportedYet(
        f"macvlan on {name} ({link.kind or 'a physical interface'}, not a bridge)"
    )


def _bridge(spec: AttachSpec, link: m.Link | None) -> HostTarget:
    if spec.vlan is not None:
        raise NotSupportedYet("VLAN tags (@VLAN) on a Linux bridge")
    return HostTarget("bridge", link)


def plan(kind: str, ctx: AttachContext) -> list[Step]:
    """The host-side steps of driver ``kind`` (imported only when chosen)."""
    if kind == "bridge":
        from . import bridge

        return bridge.plan(ctx)
    raise NotSupportedYet(f"host-side kind {kind}")


def wait_ready(kind: str, ctx: AttachContext) -> str | None:
    """Block until the new link carries traffic (so announcements are not lost)."""
    if kind == "bridge":
        from . import bridge

        return bridge.wait_until_forwarding(ctx)
    return None
