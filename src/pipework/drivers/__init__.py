"""Host-side kinds: the registry, and the choice of the driver that plumbs a request.

Each kind is one module of this package holding ``DRIVER`` (see ``base.Driver``
for what a kind implements). ``KINDS`` lists them in the order ``choose`` asks
them: the first that claims a request plumbs it, so macvlan, the original's
answer for any interface that is no bridge, comes after the kinds with a more
specific claim; vxlan comes first, its segments' bridges being Linux bridges too.
A request that names its kind (``AttachSpec.kind``: the original's
``--direct-phys``, a VXLAN segment) asks that kind alone. A new kind is one new module and its
name here; the engine, detach, ls and gc go through the registry and know no kind
by name.

Modules are imported when first asked for: an attach to a bridge loads the
bridge driver and the ones before it, nothing else.
"""

from __future__ import annotations

from ..errors import HostStateError
from .base import Driver, HostTarget

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket

__all__ = [
    "KINDS",
    "Driver",
    "HostTarget",
    "all_drivers",
    "choose",
    "driver",
    "inside_owner",
    "owner",
]

#: the host-side kinds, in the order ``choose`` asks them
KINDS = ("vxlan", "bridge", "ovs", "dummy", "ipoib", "ipvlan", "macvlan", "direct")


def driver(kind: str) -> Driver:
    """The driver of ``kind`` (a name from KINDS)."""
    if kind not in KINDS:
        raise KeyError(kind)
    module = __import__(f"pipework.drivers.{kind}", fromlist=["DRIVER"])
    found: Driver = module.DRIVER
    return found


def all_drivers() -> Iterator[Driver]:
    for kind in KINDS:
        yield driver(kind)


def choose(spec: AttachSpec, host: NetlinkSocket) -> HostTarget:
    """The driver for ``spec``, from the request and the host (read, never changed).

    As the original: an existing Linux bridge or OVS bridge gets a veth pair, an
    InfiniBand interface an IPoIB child, any other interface a macvlan (an ipvlan
    with --ipvlan-mode); a missing name starting with br is created as a Linux
    bridge, with ovs as an OVS bridge, and dummy* means a dummy interface.
    """
    if spec.host_mac is not None:
        link: Link | None = find_by_mac(host, spec.host_mac)
        name = link.name if link else ""
    else:
        assert spec.host_if is not None
        name = spec.host_if
        link = host.link(name, obj=f"host interface {name}")
    asked = (spec.kind,) if spec.kind is not None else KINDS
    for kind in asked:
        candidate = driver(kind)
        if candidate.claims(spec, link, name):
            candidate.check(spec, link)
            return HostTarget(candidate, link)
    raise HostStateError(
        f"no host interface {name!r}",
        hint="pipework creates a Linux bridge only when its name starts with 'br' "
        "(an Open vSwitch one with 'ovs'), or with --create-bridge",
    )


def find_by_mac(host: NetlinkSocket, mac: bytes) -> Link:
    """The one host link with this MAC (``mac:<address>``): not a VLAN sub-interface,
    which shares its parent's MAC, nor a bridge or OVS port, which may too."""
    from ..mac import format_mac

    found = [
        link
        for link in host.links()
        if link.address == mac and link.kind not in ("vlan", "bridge", "openvswitch")
    ]
    if not found:
        raise HostStateError(f"no host interface has the MAC {format_mac(mac)}")
    if len(found) > 1:
        names = ", ".join(link.name for link in found)
        raise HostStateError(f"several host interfaces have the MAC {format_mac(mac)}: {names}")
    return found[0]


def owner(link: Link, names: dict[int, str]) -> Driver | None:
    """The kind that made a host end carrying pipework's veth mark, as the kernel
    shows it now (``names``: index -> name of every host link)."""
    for candidate in all_drivers():
        if candidate.host_end and candidate.owns(link, names):
            return candidate
    return None


def inside_owner(kind: str) -> Driver:
    """The kind named by a mark inside a guest; kinds made by other verbs (``link``)
    are removed the way every kind removes an interface it made."""
    return driver(kind) if kind in KINDS else Driver()
