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

ARPHRD_INFINIBAND = 32


def lookup_link(ctx: AttachContext, name: str) -> m.Link | None:
    try:
        replies = ctx.host.request(m.get_link(name), op="look up", obj=f"host interface {name}")
    except NetlinkError as exc:
        if exc.errno == 19:  # ENODEV
            return None
        raise
    return m.parse_link(*replies[0][1:]) if replies else None


def choose(ctx: AttachContext) -> str:
    """The driver for ``ctx.spec``: today 'bridge'; other kinds say what is missing."""
    spec = ctx.spec
    if spec.direct_phys:
        raise NotSupportedYet("--direct-phys (moving a host interface into the guest)")
    if spec.host_mac is not None:
        raise NotSupportedYet("selecting the host interface by MAC (mac:…)")
    assert spec.host_if is not None
    name = spec.host_if
    link = lookup_link(ctx, name)
    if link is None:
        if name.startswith("br") or spec.create_bridge:
            return _bridge(ctx, None)
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
        return _bridge(ctx, link)
    if link.kind == "openvswitch":
        raise NotSupportedYet(f"Open vSwitch bridges ({name})")
    if link.type == ARPHRD_INFINIBAND:
        raise NotSupportedYet(f"IPoIB child interfaces ({name})")
    raise NotSupportedYet(f"macvlan on the physical interface {name}")


def _bridge(ctx: AttachContext, link: m.Link | None) -> str:
    if ctx.spec.vlan is not None:
        raise NotSupportedYet("VLAN tags (@VLAN) on a Linux bridge")
    ctx.bridge = link
    return "bridge"


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
