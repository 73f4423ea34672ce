"""CHECK: the live state of an attachment against the result ADD gave (prevResult).

The container interface is there, with the MAC, MTU, addresses and routes of the
result; it is pipework's (its host end carries this attachment's mark, or the
interface inside does for the kinds that have no host end); and a bridge port
still hangs off its bridge. Each difference is reported by name: a runtime shows
CHECK's message to whoever has to fix it.
"""

from __future__ import annotations

from . import errors as e
from .errors import CniError
from .result import items

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Guest
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from .netconf import Netconf
    from .protocol import Environment
    from .result import Result

#: CHECK's own failure: the live state is not what ADD made
MISMATCH = 101


def _differs(what: str) -> CniError:
    return CniError(MISMATCH, what)


def check_attachment(conf: Netconf, env: Environment, guest: Guest, prev: Result) -> list[str]:
    """Raise for the first difference; return the result's addresses (bare) of the
    interface, for the IPAM's own check."""
    from ..inet import parse_interface
    from ..mac import format_mac
    from ..netlink.socket import NetlinkSocket
    from .netconf import label

    interfaces = items(prev, "interfaces")
    index = None
    for number, entry in enumerate(interfaces):
        if entry.get("name") == env.ifname and entry.get("sandbox") in (None, env.netns):
            index = number
    if index is None:
        raise CniError(e.INVALID_CONFIG, f"prevResult has no interface {env.ifname} in {env.netns}")
    expected = interfaces[index]
    name = label(conf.name, env.container_id)
    with NetlinkSocket.inside(guest.netns) as nl:
        link = nl.link(env.ifname, obj=f"{env.ifname} in {env.netns}")
        if link is None:
            raise _differs(f"{env.ifname} is gone from {env.netns}")
        mac = expected.get("mac")
        if isinstance(mac, str) and link.address and format_mac(link.address) != mac.lower():
            raise _differs(
                f"{env.ifname} has the MAC {format_mac(link.address)}, the result says {mac}"
            )
        if conf.mtu is not None and link.mtu != conf.mtu:
            raise _differs(
                f"{env.ifname} has the MTU {link.mtu}, the configuration says {conf.mtu}"
            )
        with NetlinkSocket() as host:
            _check_owner(host, conf, guest, link, name)
        present = {str(a) for a in nl.addresses(obj=env.ifname) if a.index == link.index}
        addresses = []
        for ip in items(prev, "ips"):
            if ip.get("interface", index) != index:
                continue
            text = str(ip["address"])
            iface = parse_interface(text)
            if f"{iface.address}/{iface.prefixlen}" not in present:
                raise _differs(f"{env.ifname} lost its address {text}")
            addresses.append(str(iface.address))
        _check_routes(nl, prev, link, env.ifname)
    return addresses


def _check_owner(host: NetlinkSocket, conf: Netconf, guest: Guest, link: Link, name: str) -> None:
    """The interface is this attachment's: its host end's mark (veth kinds) or its own."""
    from ..marks import parse_mark, parse_veth_mark

    if not conf.on_bridge:
        mark = parse_mark(link.alias)
        if not mark or mark.get("guest") != name or mark.get("ns") != str(guest.netns.inode):
            raise _differs(f"{link.name} in {guest.netns.path} is not the one pipework made")
        return
    links = host.links()
    for end in links:
        if parse_veth_mark(end.alias) != (name, link.name, guest.netns.inode):
            continue
        bridge = next((b for b in links if b.name == conf.host_if), None)
        if bridge is None:
            raise _differs(f"the bridge {conf.host_if} is gone")
        if bridge.kind == "bridge" and end.master != bridge.index:
            raise _differs(f"{end.name} is no longer a port of {conf.host_if}")
        return
    raise _differs(f"the host end of {link.name} is gone, or not the one pipework made")


def _check_routes(nl: NetlinkSocket, prev: Result, link: Link, ifname: str) -> None:
    from ..inet import parse_address, parse_network

    live = nl.routes()
    for route in items(prev, "routes"):
        dst = parse_network(str(route["dst"]))
        gw = route.get("gw")
        via = parse_address(gw).packed if isinstance(gw, str) and gw else None
        width = dst.prefixlen
        for seen in live:
            if seen.family != dst.address.af or seen.dst_len != width:
                continue
            if width and seen.dst != dst.network_address().packed:
                continue
            if via is not None and seen.gateway != via:
                continue
            break
        else:
            raise _differs(f"the route to {route['dst']} is gone from the container ({ifname})")
