"""A ``"type": "pipework"`` network configuration, read into what an attach needs.

Field names follow the reference plugins where the meaning is the same::

    bridge            a Linux bridge (made when missing, as the bridge plugin does; a
                      missing name starting with ovs is made an Open vSwitch bridge), or
                      an existing OVS bridge: a veth pair, its host end a port
    master            a NIC: a macvlan on it (mode bridge|private|vepa|passthru), an
                      ipvlan with mode l2|l3|l3s, an IPoIB child on an InfiniBand NIC
    device            a NIC moved into the container itself (host-device)
    dummy: true       a dummy interface in the container, no wire behind it
    vlan              802.1Q: the bridge port's VLAN (OVS tag), or the NIC's sub-interface
    mtu, mac          the container interface's (mac also from CNI_ARGS MAC= or the
                      runtime's "mac" capability)
    isGateway         the gateways of the IPAM result go on the bridge
    isDefaultGateway  and the container's default route goes through them
    pkey              the IPoIB partition key
    allowForward      true: with br_netfilter on, the firewall's accept rule for traffic
                      within the bridge (pipework's own field; docs/doctor.md)
    ipam              {"type": "pipework"} allocates in process (host-local's files),
                      any other type is an IPAM plugin found in CNI_PATH
"""

from __future__ import annotations

from .._lowlevel.record import Record
from ..errors import UsageError
from . import errors as e
from .errors import CniError
from .protocol import field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..model import Addressing, AttachSpec
    from ..names import GuestRef

#: the fields of the spec every plugin reads, and those the runtime adds
SPEC_FIELDS = (
    "cniVersion",
    "cniVersions",
    "name",
    "type",
    "args",
    "ipam",
    "dns",
    "capabilities",
    "runtimeConfig",
    "prevResult",
    "disableCheck",
    "disableGC",
    # what the runtime adds for GC (1.1.0's name, and the drafts' one plugin.GC_KEYS reads)
    "cni.dev/valid-attachments",
    "cni.dev/attachments",
)
PIPEWORK_FIELDS = (
    "bridge",
    "master",
    "device",
    "dummy",
    "mode",
    "vlan",
    "mtu",
    "mac",
    "isGateway",
    "isDefaultGateway",
    "pkey",
    "allowForward",
)
#: the reference plugins' fields pipework does not do, and what to use instead
UNSUPPORTED = {
    "ipMasq": "chain the firewall or portmap plugin, or masquerade on the host",
    "hairpinMode": "set it on the port with `ip link set VETH type bridge_slave hairpin on`",
    "promiscMode": "set it with `ip link set BRIDGE promisc on`",
    "forceAddress": "pipework never changes a bridge's addresses except to add a gateway",
}
MACVLAN_MODES = ("bridge", "private", "vepa", "passthru")
IPVLAN_MODES = ("l2", "l3", "l3s")
DEFAULT_BRIDGE = "cni0"  # the reference bridge plugin's


class Netconf(Record):
    """The plugin's own fields of one network configuration, checked."""

    name: str
    place: str  # bridge | master | device | dummy: where the container's interface hangs
    host_if: str
    mode: str | None
    vlan: int | None
    mtu: int | None
    mac: bytes | None
    is_gateway: bool
    is_default_gateway: bool
    pkey: int | None
    ipam_type: str | None
    allow_forward: bool = False

    @property
    def on_bridge(self) -> bool:
        return self.place == "bridge"


def read_netconf(config: Mapping[str, object]) -> Netconf:
    """Check the plugin's fields (code 7, or 2 for a field it does not support)."""
    name = field(config, "name", str)
    if not isinstance(name, str) or not name:
        raise CniError(e.INVALID_CONFIG, "name is missing")
    _check_network_name(name)
    if config.get("type") != "pipework":
        raise CniError(e.INVALID_CONFIG, f"type is {config.get('type')!r}, not 'pipework'")
    for key in config:
        if key in UNSUPPORTED:
            if config[key] in (None, False):
                continue  # asking for the default is fine
            raise CniError(
                e.UNSUPPORTED_FIELD, f"pipework does not support {key}", UNSUPPORTED[key]
            )
        if key not in SPEC_FIELDS and key not in PIPEWORK_FIELDS:
            raise CniError(e.UNSUPPORTED_FIELD, f"unknown field {key!r} in the configuration")
    places = [k for k in ("bridge", "master", "device") if config.get(k) is not None]
    dummy = field(config, "dummy", bool) is True
    if len(places) > 1 or (places and dummy):
        chosen = places + (["dummy"] if dummy else [])
        raise CniError(e.INVALID_CONFIG, f"{' and '.join(chosen)} exclude each other")
    where = places[0] if places else None
    host_if = str(field(config, where, str)) if where else ("dummy" if dummy else DEFAULT_BRIDGE)
    if where:
        from ..names import check_ifname

        try:
            check_ifname(host_if, where)
        except UsageError as exc:
            raise CniError(e.INVALID_CONFIG, exc.message) from None
    mode = field(config, "mode", str)
    if mode is not None and where != "master":
        raise CniError(e.INVALID_CONFIG, "mode is for a master NIC (macvlan or ipvlan)")
    if mode is not None and mode not in MACVLAN_MODES + IPVLAN_MODES:
        raise CniError(
            e.INVALID_CONFIG,
            f"invalid mode {mode!r}",
            f"macvlan: {', '.join(MACVLAN_MODES)}; ipvlan: {', '.join(IPVLAN_MODES)}",
        )
    vlan = _int(config, "vlan", 1, 4094)
    if vlan is not None and (dummy or where == "device"):
        raise CniError(e.INVALID_CONFIG, "vlan is for a bridge or a master NIC")
    mtu = _int(config, "mtu", 68, 65535)
    pkey = _int(config, "pkey", 1, 0xFFFF)
    if pkey is not None and where != "master":
        raise CniError(e.INVALID_CONFIG, "pkey is for an InfiniBand master NIC")
    mac_text = field(config, "mac", str)
    mac = parse_mac_field(str(mac_text), "mac") if mac_text is not None else None
    is_gateway = field(config, "isGateway", bool) is True
    is_default = field(config, "isDefaultGateway", bool) is True
    if (is_gateway or is_default) and where not in (None, "bridge"):
        raise CniError(e.INVALID_CONFIG, "isGateway and isDefaultGateway are for a bridge")
    allow_forward = field(config, "allowForward", bool) is True
    if allow_forward and where not in (None, "bridge"):
        raise CniError(e.INVALID_CONFIG, "allowForward is for a bridge")
    ipam = field(config, "ipam", dict)
    ipam_type = None
    if isinstance(ipam, dict) and ipam:
        kind = field(ipam, "type", str, "ipam.")
        if not isinstance(kind, str) or not kind:
            raise CniError(e.INVALID_CONFIG, "ipam.type is missing")
        ipam_type = kind
    return Netconf(
        name,
        where or ("dummy" if dummy else "bridge"),
        host_if,
        mode,
        vlan,
        mtu,
        mac,
        is_gateway or is_default,
        is_default,
        pkey,
        ipam_type,
        allow_forward,
    )


def label(network: str, container_id: str) -> str:
    """The guest label of an attachment made for a runtime (in its marks): the network
    and the container, so DEL and GC know their own and nobody else's."""
    return f"cni:{network}/{container_id}"


def _check_network_name(name: str) -> None:
    # The spec's rule: the name becomes a directory (IPAM state) and part of marks.
    ok = name[0].isascii() and name[0].isalnum()
    if not ok or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in name):
        raise CniError(
            e.INVALID_CONFIG,
            f"invalid network name {name!r}",
            "letters, digits and _ . - only, starting with a letter or digit",
        )
    if len(name) > 128:
        raise CniError(e.INVALID_CONFIG, "the network name is longer than 128 characters")


def _int(config: Mapping[str, object], key: str, low: int, high: int) -> int | None:
    value = field(config, key, int)
    if value is None:
        return None
    assert isinstance(value, int)
    if not low <= value <= high:
        raise CniError(e.INVALID_CONFIG, f"{key} {value} is out of range {low}-{high}")
    return value


def parse_mac_field(text: str, what: str) -> bytes:
    from ..mac import parse_mac

    try:
        return parse_mac(text, what)
    except UsageError as exc:
        raise CniError(e.INVALID_CONFIG, exc.message) from None


def attach_spec(
    conf: Netconf,
    guest: GuestRef,
    ifname: str,
    addressing: Addressing,
    mac: bytes | None,
    host_ifname: str | None,
) -> AttachSpec:
    """The attach this configuration asks for, in pipework's own terms."""
    from ..model import AttachSpec

    ipvlan = conf.mode if conf.mode in IPVLAN_MODES else None
    try:
        return AttachSpec(
            conf.host_if,
            guest,
            addressing,
            container_ifname=ifname,
            host_ifname=host_ifname if conf.on_bridge else None,
            mac=mac,
            vlan=conf.vlan,
            mtu=conf.mtu,
            # a missing bridge is made, as the bridge plugin does; ovs* names by OVS
            create_bridge=conf.on_bridge and not conf.host_if.startswith("ovs"),
            direct_phys=conf.place == "device",
            macvlan_mode=None if ipvlan else conf.mode,
            ipvlan_mode=ipvlan,
            pkey=conf.pkey,
            allow_forward=conf.allow_forward,
        )
    except UsageError as exc:
        raise CniError(e.INVALID_CONFIG, exc.message) from None
