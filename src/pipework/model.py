"""The typed, frozen data that flows through pipework: requests in, results out.

    argv -> AttachSpec -> (resolve) Guest -> (plan) steps -> (apply) Attachment

Values are validated where they are built (``inet``, ``mac``, ``names``), so a
spec that exists is a spec that may be applied.
"""

from __future__ import annotations

from ._lowlevel.record import Record
from .errors import UsageError
from .names import GuestRef

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY

    from .inet import IPAddress, IPInterface
    from .netns import NetNS

__all__ = ["Addressing", "AttachSpec", "Attachment", "DhcpRequest", "Guest", "RouteSpec"]
MACVLAN_MODES = ("bridge", "private", "vepa", "passthru", "source")
IPVLAN_MODES = ("l2", "l3", "l3s")
OVS_DATAPATHS = ("system", "netdev")
#: DHCP clients of the original's DHCP modes (``dhcp`` is pipework's own).
DHCP_CLIENTS = ("dhcp", "udhcpc", "dhclient", "dhcpcd")
#: how long the built-in client waits for a lease by default (seconds)
DHCP_TIMEOUT = 30.0


class DhcpRequest(Record):
    """A DHCP mode: ``dhcp`` (the built-in client; ``dhcp-f`` keeps renewing), or one
    of the original's external clients, ``udhcpc-f:-t 5`` and so on.

    ``hostname`` (option 12) defaults to the guest's name, as the original sends it;
    ``dns`` writes the servers of the lease into the guest's resolv.conf; ``timeout``
    bounds the built-in client's wait for a lease.
    """

    client: str  # dhcp | udhcpc | dhclient | dhcpcd
    foreground: bool = False
    options: str = ""
    _: KW_ONLY
    hostname: str | None = None
    vendor_class: str | None = None
    dns: bool = False
    timeout: float = DHCP_TIMEOUT
    family: int = 4  # 4, or 6: DHCPv6 (the built-in client, one address)

    def __str__(self) -> str:
        text = self.client + ("-f" if self.foreground else "")
        return f"{text}:{self.options}" if self.options else text


class RouteSpec(Record):
    """A route in the guest through the new interface: to ``dst``, via ``via`` or on-link."""

    dst: IPInterface  # its network is the destination; prefix 0 is a default route
    via: IPAddress | None = None

    def __str__(self) -> str:
        dst = "default" if self.dst.prefixlen == 0 else str(self.dst.network_address())
        dst += f"/{self.dst.prefixlen}" if self.dst.prefixlen else ""
        return dst + (f" via {self.via}" if self.via is not None else "")


class Addressing(Record):
    """What goes on the guest interface: static addresses and gateways, or DHCP, or nothing;
    and routes through it (a CNI IPAM result's)."""

    addresses: tuple[IPInterface, ...] = ()
    gateways: tuple[IPAddress, ...] = ()
    dhcp: DhcpRequest | None = None
    routes: tuple[RouteSpec, ...] = ()


class AttachSpec(Record):
    """One request: plumb ``guest`` into ``host_if`` with this interface and addressing."""

    host_if: str | None  # bridge or host interface name; None when selected by MAC
    guest: GuestRef
    addressing: Addressing
    _: KW_ONLY
    container_ifname: str = "eth1"
    host_ifname: str | None = None  # -l: the host-side veth name; None = derive as the original
    host_mac: bytes | None = None  # mac:<address> selects the host interface by its MAC
    mac: bytes | None = None
    vlan: int | None = None
    mtu: int | None = None
    create_bridge: bool = False
    direct_phys: bool = False
    force: bool = False  # replace an existing, different attachment of the same guest interface
    macvlan_mode: str | None = None  # bridge (default) | private | vepa | passthru | source
    ipvlan_mode: str | None = None  # l2 | l3 | l3s: an ipvlan instead of a macvlan on a NIC
    vlan_filtering: bool = False  # may turn on VLAN filtering on a bridge pipework did not create
    ovs_datapath: str | None = None  # datapath_type of an OVS bridge pipework creates (system)
    pkey: int | None = None  # IPoIB partition key (the original's @PKEY, hexadecimal)
    #: a VXLAN segment (``vxlan:VNI``, the original syntax's ``vxlanVNI``): host_if is
    #: ``vxlan<VNI>`` (or the segment's bridge, ``brvx<VNI>``); one of remote and group
    vni: int | None = None
    vxlan_remote: IPAddress | None = None  # the far end's underlay address (unicast)
    vxlan_group: IPAddress | None = None  # or a multicast group of the underlay
    vxlan_local: IPAddress | None = None  # the source address on the underlay
    vxlan_dstport: int | None = None  # UDP destination port (None: 4789)
    vxlan_dev: str | None = None  # the underlay device (None: the route to the remote's)
    #: add the firewall's accept rule for traffic within the bridge (br_netfilter on and
    #: a FORWARD chain dropping it); removed with the bridge's last port (doctor.forward)
    allow_forward: bool = False
    host_shim: bool = False  # macvlan: the host reaches the guest through a shim on the NIC

    def __post_init__(self) -> None:
        _validate_spec(self)

    @property
    def kind(self) -> str | None:
        """The host-side kind the request names itself (``--direct-phys``: the NIC itself,
        moved into the guest); None: pipework chooses it from the host interface."""
        if self.direct_phys:
            return "direct"
        return "vxlan" if self.vni is not None else None


def _validate_spec(spec: AttachSpec) -> None:
    """Check a request however it was built (command line or Python API), before any change."""
    from .inet import IPAddress, IPInterface, check_gateway, check_interface
    from .names import check_guest_ref, check_ifname

    if not isinstance(spec.guest, GuestRef):
        raise UsageError("guest must be a GuestRef (see pipework.parse_guest_ref)")
    check_guest_ref(spec.guest)
    if spec.host_if is None and spec.host_mac is None:
        raise UsageError("no host interface given")
    if spec.host_if is not None:
        check_ifname(spec.host_if, "host interface name")
    check_ifname(spec.container_ifname, "container interface name")
    if spec.host_ifname is not None:
        check_ifname(spec.host_ifname, "host-side interface name")
    for mac, what in ((spec.mac, "MAC address"), (spec.host_mac, "host interface MAC")):
        if mac is not None and (
            not isinstance(mac, bytes) or len(mac) != 6 or mac[0] & 1 or not any(mac)
        ):
            raise UsageError(f"invalid {what} {mac!r}: need 6 bytes, unicast, not all zero")
    if spec.vlan is not None and (type(spec.vlan) is not int or not 1 <= spec.vlan <= 4094):
        raise UsageError(f"invalid VLAN id {spec.vlan!r}: must be 1-4094")
    if spec.pkey is not None and (type(spec.pkey) is not int or not 1 <= spec.pkey <= 0xFFFF):
        raise UsageError(f"invalid IPoIB partition key {spec.pkey!r}: must be 0x1-0xffff")
    if spec.mtu is not None and (type(spec.mtu) is not int or not 68 <= spec.mtu <= 65535):
        raise UsageError(f"invalid MTU {spec.mtu!r}: must be 68-65535")
    for value, allowed, what in (
        (spec.macvlan_mode, MACVLAN_MODES, "macvlan mode"),
        (spec.ipvlan_mode, IPVLAN_MODES, "ipvlan mode"),
        (spec.ovs_datapath, OVS_DATAPATHS, "OVS datapath type"),
    ):
        if value is not None and value not in allowed:
            raise UsageError(f"invalid {what} {value!r}: one of {', '.join(allowed)}")
    if spec.macvlan_mode is not None and spec.ipvlan_mode is not None:
        raise UsageError("a macvlan mode and an ipvlan mode exclude each other")
    _validate_vxlan(spec)
    for flag in (
        "create_bridge",
        "direct_phys",
        "force",
        "vlan_filtering",
        "allow_forward",
        "host_shim",
    ):
        if type(getattr(spec, flag)) is not bool:
            raise UsageError(f"{flag} must be True or False, not {getattr(spec, flag)!r}")
    addressing = spec.addressing
    if not isinstance(addressing, Addressing):
        raise UsageError("addressing must be an Addressing")
    if not isinstance(addressing.addresses, tuple) or not isinstance(addressing.gateways, tuple):
        raise UsageError("addresses and gateways must be tuples")
    if not all(isinstance(a, IPInterface) for a in addressing.addresses):
        raise UsageError("addresses must be IPInterface values (see pipework.parse_interface)")
    if not all(isinstance(g, IPAddress) for g in addressing.gateways):
        raise UsageError("gateways must be IPAddress values (see pipework.parse_address)")
    for iface in addressing.addresses:
        check_interface(iface)
    if (
        spec.mtu is not None
        and spec.mtu < 1280
        and any(a.family == 6 for a in addressing.addresses)
    ):
        raise UsageError(f"MTU {spec.mtu} is too small for IPv6, which needs at least 1280")
    if len({a.address for a in addressing.addresses}) != len(addressing.addresses):
        raise UsageError("the same address is given twice")
    families = [g.family for g in addressing.gateways]
    if len(set(families)) != len(families):
        raise UsageError("at most one gateway per address family")
    for gateway in addressing.gateways:
        check_gateway(gateway, addressing.addresses)
    if not isinstance(addressing.routes, tuple) or not all(
        isinstance(r, RouteSpec) for r in addressing.routes
    ):
        raise UsageError("routes must be a tuple of RouteSpec values")
    for route in addressing.routes:
        if not isinstance(route.dst, IPInterface):
            raise UsageError(f"invalid route destination {route.dst!r}")
        if route.via is not None and (
            not isinstance(route.via, IPAddress) or route.via.family != route.dst.family
        ):
            raise UsageError(f"route {route}: the gateway is not of the destination's family")
    dhcp = addressing.dhcp
    if dhcp is not None:
        if not isinstance(dhcp, DhcpRequest) or dhcp.client not in DHCP_CLIENTS:
            raise UsageError(f"invalid DHCP request {dhcp!r}")
        if addressing.addresses or addressing.gateways:
            raise UsageError("DHCP cannot be combined with static addresses or gateways")
        _validate_dhcp(dhcp)


#: the largest VXLAN network identifier (24 bits; RFC 7348)
VNI_MAX = 0xFFFFFF
#: the VXLAN fields of a request, and the option that sets each
VXLAN_OPTIONS = {
    "vxlan_remote": "--remote",
    "vxlan_group": "--group",
    "vxlan_local": "--local",
    "vxlan_dstport": "--dstport",
    "vxlan_dev": "--vxlan-dev",
}


def vxlan_names(vni: int) -> tuple[str, str]:
    """(bridge, VXLAN device) of the segment ``vni`` on a host: ``brvx<VNI>``, ``vx<VNI>``."""
    return f"brvx{vni}", f"vx{vni}"


def _validate_vxlan(spec: AttachSpec) -> None:
    """A VXLAN segment: its VNI, exactly one of remote and group, a local address of
    their family, a port; its options without a segment are a mistake."""
    from .inet import IPAddress
    from .names import check_ifname

    vni = spec.vni
    if vni is None:
        given = [flag for field, flag in VXLAN_OPTIONS.items() if getattr(spec, field) is not None]
        if given:
            raise UsageError(
                f"{', '.join(given)}: options of a VXLAN segment (--to vxlan:VNI, or vxlanVNI)"
            )
        return
    if type(vni) is not int or not 1 <= vni <= VNI_MAX:
        raise UsageError(f"invalid VXLAN id {vni!r}: must be 1-{VNI_MAX}")
    if spec.host_if not in (f"vxlan{vni}", vxlan_names(vni)[0]):
        raise UsageError(f"VXLAN segment {vni} is host interface vxlan{vni}, not {spec.host_if!r}")
    if spec.host_mac is not None or spec.direct_phys or spec.create_bridge:
        raise UsageError("a VXLAN segment excludes mac:, --direct-phys and --create-bridge")
    if spec.vlan is not None or spec.pkey is not None:
        raise UsageError("a VXLAN segment carries no VLAN tag: give each VLAN its own VNI")
    for value, what in (
        (spec.vxlan_remote, "VXLAN remote"),
        (spec.vxlan_group, "VXLAN group"),
        (spec.vxlan_local, "VXLAN local address"),
    ):
        if value is not None and not isinstance(value, IPAddress):
            raise UsageError(f"{what} must be an IPAddress (see pipework.parse_address)")
    remote, group, local = spec.vxlan_remote, spec.vxlan_group, spec.vxlan_local
    if (remote is None) == (group is None):
        raise UsageError(
            f"VXLAN segment {vni} needs --remote ADDR (the other host) or --group ADDR "
            "(a multicast group), one of them"
        )
    peer = remote if remote is not None else group
    assert peer is not None
    if remote is not None and (
        remote.is_multicast or remote.is_unspecified or remote.is_limited_broadcast
    ):
        raise UsageError(f"invalid VXLAN remote {remote}: a unicast address (--group: multicast)")
    if group is not None and not group.is_multicast:
        raise UsageError(f"invalid VXLAN group {group}: not a multicast address")
    if local is not None:
        if local.is_multicast or local.is_unspecified or local.is_limited_broadcast:
            raise UsageError(f"invalid VXLAN local address {local}: a unicast address")
        if local.family != peer.family:
            raise UsageError(
                f"VXLAN local address {local} is IPv{local.family}, the "
                f"{'remote' if remote is not None else 'group'} {peer} IPv{peer.family}"
            )
    port = spec.vxlan_dstport
    if port is not None and (type(port) is not int or not 1 <= port <= 65535):
        raise UsageError(f"invalid VXLAN port {port!r}: must be 1-65535")
    if spec.vxlan_dev is not None:
        check_ifname(spec.vxlan_dev, "VXLAN underlay device")


def _validate_dhcp(dhcp: DhcpRequest) -> None:
    if dhcp.family not in (4, 6):
        raise UsageError(f"invalid DHCP address family {dhcp.family!r}: 4 or 6")
    if dhcp.family == 6 and dhcp.client != "dhcp":
        raise UsageError(f"DHCPv6 is the built-in client's (dhcp); {dhcp.client} is DHCPv4 here")
    if dhcp.family == 6 and dhcp.foreground:
        raise UsageError("DHCPv6 leases are not renewed yet: use dhcp (not dhcp-f) with -a 6")
    if type(dhcp.timeout) not in (int, float) or not 0 < dhcp.timeout <= 3600:
        raise UsageError(f"invalid DHCP timeout {dhcp.timeout!r}: must be 0-3600 seconds")
    for value, what in ((dhcp.hostname, "DHCP hostname"), (dhcp.vendor_class, "vendor class")):
        if value is None:
            continue
        if not isinstance(value, str) or not 0 < len(value) <= 255 or not value.isascii():
            raise UsageError(f"invalid {what} {value!r}: 1-255 ASCII characters")
        if not value.isprintable():
            raise UsageError(f"invalid {what} {value!r}: control characters")
    if dhcp.client != "dhcp" and (dhcp.hostname or dhcp.vendor_class or dhcp.dns):
        raise UsageError(
            f"{dhcp.client} takes its own options (after '{dhcp.client}:'); "
            "--hostname and --dns are for the built-in client"
        )


class Attachment(Record):
    """What an attach did, read back from the kernel."""

    _: KW_ONLY
    guest: str
    runtime: str
    pid: int | None
    netns_inode: int
    container_ifname: str
    host_ifname: str
    bridge: str  # the host interface it hangs off: bridge, OVS bridge or parent NIC
    addresses: tuple[IPInterface, ...]
    gateways: tuple[IPAddress, ...]
    mac: bytes
    mtu: int
    created_bridge: bool
    warnings: tuple[str, ...] = ()
    changed: bool = True  # False when the same request had already been done: nothing changed


class Guest:
    """A resolved guest: who it is, how it was found, and its pinned network namespace.

    Not a value record: it owns an open namespace fd, closed by ``close()`` or by
    leaving a ``with`` block.
    """

    __slots__ = ("detail", "name", "netns", "pid", "ref", "runtime", "starttime", "tried")

    def __init__(
        self,
        ref: GuestRef,
        runtime: str,
        name: str,
        pid: int | None,
        netns: NetNS,
        detail: str,
        tried: tuple[str, ...] = (),
        starttime: int | None = None,
    ) -> None:
        self.ref = ref
        self.runtime = runtime
        self.name = name
        self.pid = pid
        self.netns = netns
        self.detail = detail
        self.tried = tried
        self.starttime = starttime  # of ``pid``: tells the same process from a reused pid

    def alive(self) -> bool:
        """Whether the guest's process still runs (a bare namespace is always alive)."""
        if self.pid is None or self.starttime is None:
            return True
        from ._lowlevel.procfs import process_starttime

        return process_starttime(self.pid) == self.starttime

    @property
    def label(self) -> str:
        """How messages name the guest: ``lxc:devenv``, ``docker:web``, ``netns:/path``."""
        return f"{self.runtime}:{self.name}"

    def close(self) -> None:
        self.netns.close()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Guest({self.label!r}, pid={self.pid}, netns={self.netns.inode})"
