"""CNI results: one working shape inside, each spec version's shape on the way out.

Inside, a result is a dict in 1.1.0's shape (``interfaces``, ``ips`` with their
``interface`` index, ``routes``, ``dns``). Results read from elsewhere (an IPAM
plugin's, a ``prevResult``) are checked and brought to it; results written are
cut to the version the configuration asked for: 0.3.x and 0.4.0 give every IP its
``version``; 1.0.0 has neither that nor 1.1.0's interface ``mtu`` and route
attributes.
"""

from __future__ import annotations

from . import errors as e
from .errors import CniError
from .protocol import version_tuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

Result = dict[str, object]
#: what 1.1.0 added to interfaces and routes, cut for older versions
NEW_IN_1_1 = {
    "interfaces": ("mtu", "socketPath", "pciID"),
    "routes": ("mtu", "advmss", "priority", "table", "scope"),
}


def empty() -> Result:
    return {"interfaces": [], "ips": [], "routes": [], "dns": {}}


def normalize(value: object, what: str) -> Result:
    """A result from an IPAM plugin or a prevResult, checked, in the working shape."""
    from ..errors import UsageError
    from ..inet import parse_address, parse_interface, parse_network

    if not isinstance(value, dict):
        raise CniError(e.DECODING_FAILURE, f"{what} is not a JSON object")
    out = empty()
    interfaces = value.get("interfaces") or []
    ips = value.get("ips") or []
    routes = value.get("routes") or []
    dns = value.get("dns") or {}
    if not isinstance(interfaces, list) or not isinstance(ips, list):
        raise CniError(e.DECODING_FAILURE, f"{what}: interfaces and ips must be lists")
    if not isinstance(routes, list) or not isinstance(dns, dict):
        raise CniError(e.DECODING_FAILURE, f"{what}: routes must be a list, dns an object")
    try:
        for iface in interfaces:
            if not isinstance(iface, dict) or not isinstance(iface.get("name"), str):
                raise CniError(e.DECODING_FAILURE, f"{what}: an interface without a name")
            out_iface = {k: v for k, v in iface.items() if k in _INTERFACE_KEYS}
            assert isinstance(out["interfaces"], list)
            out["interfaces"].append(out_iface)
        for ip in ips:
            if not isinstance(ip, dict) or not isinstance(ip.get("address"), str):
                raise CniError(e.DECODING_FAILURE, f"{what}: an IP without an address")
            parse_interface(ip["address"], f"{what} address")
            entry: dict[str, object] = {"address": ip["address"]}
            if isinstance(ip.get("gateway"), str) and ip["gateway"]:
                parse_address(ip["gateway"], f"{what} gateway")
                entry["gateway"] = ip["gateway"]
            index = ip.get("interface")
            if isinstance(index, int) and not isinstance(index, bool):
                if not 0 <= index < len(interfaces):
                    raise CniError(e.DECODING_FAILURE, f"{what}: IP interface index {index}")
                entry["interface"] = index
            assert isinstance(out["ips"], list)
            out["ips"].append(entry)
        for route in routes:
            if not isinstance(route, dict) or not isinstance(route.get("dst"), str):
                raise CniError(e.DECODING_FAILURE, f"{what}: a route without dst")
            parse_network(route["dst"], f"{what} route")
            if isinstance(route.get("gw"), str) and route["gw"]:
                parse_address(route["gw"], f"{what} route gateway")
            assert isinstance(out["routes"], list)
            out["routes"].append({k: v for k, v in route.items() if k in _ROUTE_KEYS})
    except UsageError as exc:
        raise CniError(e.DECODING_FAILURE, exc.message) from None
    out["dns"] = {k: v for k, v in dns.items() if k in _DNS_KEYS}
    return out


_INTERFACE_KEYS = ("name", "mac", "sandbox", "mtu", "socketPath", "pciID")
_ROUTE_KEYS = ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")
_DNS_KEYS = ("nameservers", "domain", "search", "options")


def in_version(result: Mapping[str, object], version: str) -> Result:
    """``result`` in the shape of spec ``version`` (one of SUPPORTED_VERSIONS)."""
    major = version_tuple(version)
    out: Result = {"cniVersion": version}
    interfaces = [dict(i) for i in items(result, "interfaces")]
    routes = [dict(r) for r in items(result, "routes")]
    if major < (1, 1, 0):
        for entries, key in ((interfaces, "interfaces"), (routes, "routes")):
            for item in entries:
                for attr in NEW_IN_1_1[key]:
                    item.pop(attr, None)
    ips = []
    for ip in items(result, "ips"):
        entry = dict(ip)
        if major < (1, 0, 0):
            entry = {"version": "6" if ":" in str(ip["address"]) else "4", **entry}
        ips.append(entry)
    if interfaces:
        out["interfaces"] = interfaces
    if ips:
        out["ips"] = ips
    if routes:
        out["routes"] = routes
    dns = result.get("dns")
    out["dns"] = dict(dns) if isinstance(dns, dict) else {}
    return out


def items(result: Mapping[str, object], key: str) -> list[dict[str, object]]:
    """The entries of a result's list ``key`` (interfaces, ips, routes) that are objects."""
    value = result.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
