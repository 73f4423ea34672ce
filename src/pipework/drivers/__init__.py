"""Host-side kinds: which driver plumbs a request, chosen from the request and the host.

One module per kind; each has ``plan(ctx) -> [Step]``. Choosing reads the host
(does the interface exist, what kind is it) but changes nothing.
"""

from __future__ import annotations

from ..errors import HostStateError, NetlinkError, NotSupportedYet, UsageError
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


def no_support(kind: str, exc: NetlinkError, hint: str | None = None) -> HostStateError:
    """The kernel refused a kind of link or a feature it was built without (EOPNOTSUPP)."""
    detail = exc.kernel_message or "EOPNOTSUPP"
    return HostStateError(
        f"this kernel has no {kind} support (RTNETLINK: Operation not supported)",
        hint=f"{hint or f'a kernel with the {kind} driver is needed'} ({detail})",
    )


def get_link(host: NetlinkSocket, name: str) -> m.Link | None:
    """The host link called ``name``, or None."""
    try:
        replies = host.request(m.get_link(name), op="look up", obj=f"host interface {name}")
    except NetlinkError as exc:
        if exc.errno == 19:  # ENODEV
            return None
        raise
    return m.parse_link(*replies[0][1:]) if replies else None


def find_by_mac(host: NetlinkSocket, mac: bytes) -> m.Link:
    """The one host link with this MAC (``mac:<address>``): not a VLAN sub-interface,
    which shares its parent's MAC, nor a bridge or OVS port, which may too."""
    from ..mac import format_mac

    found = [
        link
        for link in (m.parse_link(*r[1:]) for r in host.dump(m.dump_links(), op="list links"))
        if link.address == mac and link.kind not in ("vlan", "bridge", "openvswitch")
    ]
    if not found:
        raise HostStateError(f"no host interface has the MAC {format_mac(mac)}")
    if len(found) > 1:
        names = ", ".join(link.name for link in found)
        raise HostStateError(f"several host interfaces have the MAC {format_mac(mac)}: {names}")
    return found[0]


def choose(spec: AttachSpec, host: NetlinkSocket) -> HostTarget:
    """The driver for ``spec``, from the request and the host (read, never changed).

    As the original: an existing Linux bridge or OVS bridge gets a veth pair, an
    InfiniBand interface an IPoIB child, any other interface a macvlan (an ipvlan
    with --ipvlan-mode); a missing name starting with br is created as a Linux
    bridge, with ovs as an OVS bridge, and dummy* means a dummy interface.
    """
    if spec.host_mac is not None:
        link: m.Link | None = find_by_mac(host, spec.host_mac)
        name = link.name if link else ""
    else:
        assert spec.host_if is not None
        name = spec.host_if
        link = get_link(host, name)
    # @TAG that is only valid as an IPoIB partition key (hexadecimal), on anything else
    not_ib = link is None or link.type != ARPHRD_INFINIBAND
    if spec.vlan is None and spec.pkey is not None and not_ib:
        raise UsageError(f"invalid VLAN id '{spec.pkey:x}': must be a number from 1 to 4094")
    if spec.direct_phys:
        if link is None:
            raise HostStateError(f"no host interface {name!r} to move into the guest")
        if link.kind in ("bridge", "openvswitch") or link.master:
            raise HostStateError(
                f"{name} is a {link.kind or 'port of a bridge'}; --direct-phys moves a NIC "
                "that nothing else uses"
            )
        return HostTarget("direct", link)
    if link is None:
        if name.startswith("br") or spec.create_bridge:
            return HostTarget("bridge", None)
        # An OVS bridge without a kernel link is one whose datapath failed; the
        # OVS driver says so when the port it adds gets no OpenFlow number.
        if name.startswith("ovs") or _is_ovs_bridge(name, unreachable=False):
            return HostTarget("ovs", None)
        if name.startswith("dummy"):
            if spec.vlan is not None:
                raise HostStateError("a VLAN has no meaning for a dummy interface")
            return HostTarget("dummy", None)
        raise HostStateError(
            f"no host interface {name!r}",
            hint="pipework creates a Linux bridge only when its name starts with 'br' "
            "(an Open vSwitch one with 'ovs'), or with --create-bridge",
        )
    if link.kind == "bridge":
        return HostTarget("bridge", link)
    # An OVS bridge's own link is an "openvswitch" device on the kernel datapath and
    # a tap ("tun") on the userspace one; only then is OVS's database asked.
    if link.kind == "openvswitch" or (link.kind == "tun" and _is_ovs_bridge(name)):
        return HostTarget("ovs", link)
    if link.type == ARPHRD_INFINIBAND:
        return HostTarget("ipoib", link)
    return HostTarget("ipvlan" if spec.ipvlan_mode else "macvlan", link)


def _is_ovs_bridge(name: str, *, unreachable: bool | None = None) -> bool:
    """Whether OVS has a bridge ``name``; with its database down, ``unreachable``
    is the answer, or (None) the error is raised."""
    from ..programs import which

    if which("ovs-vsctl") is None:
        return False
    from ..errors import CommandError
    from .ovs import bridge_exists

    try:
        return bridge_exists(name)
    except CommandError:
        if unreachable is None:
            raise
        return unreachable


def plan(kind: str, ctx: AttachContext) -> list[Step]:
    """The host-side steps of driver ``kind`` (imported only when chosen)."""
    if kind not in KINDS:
        raise NotSupportedYet(f"host-side kind {kind}")
    module = __import__(f"pipework.drivers.{KINDS[kind]}", fromlist=["plan"])
    steps: list[Step] = module.plan(ctx)
    return steps


#: driver kind -> the module that plans it
KINDS = {
    "bridge": "bridge",
    "ovs": "ovs",
    "macvlan": "macvlan",
    "ipvlan": "ipvlan",
    "ipoib": "ipoib",
    "dummy": "dummy",
    "direct": "direct",
}


def wait_ready(kind: str, ctx: AttachContext) -> str | None:
    """Block until the new link carries traffic (so announcements are not lost)."""
    if kind == "bridge":
        from . import bridge

        return bridge.wait_until_forwarding(ctx)
    return None
