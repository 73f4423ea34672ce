"""The CNI commands: ADD, DEL, CHECK, STATUS, GC and VERSION.

An attachment made for a runtime is marked with the guest label ``cni:NETWORK/ID``
(the network's name and CNI_CONTAINERID), so DEL and GC find their own host ends
from the kernel, after the container's namespace is gone too, and never another
network's or the command line's. ADD is pipework's own attach (its rollback, its
marks, ``ls`` and ``inspect`` see it); when a step after IPAM fails, the addresses
IPAM gave are released before the error is reported.
"""

from __future__ import annotations

import os
import sys

from ..errors import PipeworkError, UsageError
from . import errors as e
from .errors import CniError
from .netconf import label
from .protocol import (
    SUPPORTED_VERSIONS,
    check_version,
    parse_config,
    read_environment,
)
from .result import items

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..inet import IPAddress, IPInterface
    from ..model import Attachment, Guest, RouteSpec
    from ..netlink.socket import NetlinkSocket
    from .ipam import Ipam
    from .netconf import Netconf
    from .protocol import Environment
    from .result import Result

LATEST = SUPPORTED_VERSIONS[-1]
#: the GC keys of the spec (1.1.0 names it valid-attachments; drafts said attachments)
GC_KEYS = ("cni.dev/valid-attachments", "cni.dev/attachments")


def main(environ: Mapping[str, str], stdin: bytes) -> int:
    """Run one CNI command; the result or the spec's error JSON goes to stdout."""
    version = _asked_version(stdin)  # errors answer in it too, when it is one we speak
    try:
        env = read_environment(environ)
        if env.command == "VERSION":
            _write({"cniVersion": version, "supportedVersions": list(SUPPORTED_VERSIONS)})
            return 0
        config = parse_config(stdin)
        version = check_version(config, env.command)
        output = _COMMANDS[env.command](env, config, stdin)
    except CniError as exc:
        return _fail(version, exc.code, exc.message, exc.details)
    except UsageError as exc:
        return _fail(version, e.INVALID_CONFIG, exc.message, _for_runtime(exc.hint))
    except PipeworkError as exc:
        return _fail(version, e.ATTACH_FAILED, exc.message, _for_runtime(exc.hint))
    except Exception as exc:  # a runtime reads only stdout: even a bug answers in JSON
        if environ.get("PIPEWORK_DEBUG"):
            raise
        return _fail(
            version,
            e.ATTACH_FAILED,
            f"internal error: {type(exc).__name__}: {exc}",
            "please report it; PIPEWORK_DEBUG=1 shows the traceback",
        )
    if output is not None:
        _write(output)
    return 0


def _for_runtime(hint: str | None) -> str:
    """A hint for the spec's ``details``, unless it tells a command-line user which
    option to use (``-i``, ``--force``): a runtime's user has no such option."""
    if not hint or any(word.startswith("-") and len(word) > 1 for word in hint.split()):
        return ""
    return hint


def _fail(version: str, code: int, message: str, details: str) -> int:
    error: dict[str, object] = {"cniVersion": version, "code": code, "msg": message}
    if details:
        error["details"] = details
    _write(error)
    return 1


def _write(value: object) -> None:
    from .._lowlevel import jsonlite

    sys.stdout.write(jsonlite.dumps(value) + "\n")
    sys.stdout.flush()


def _asked_version(stdin: bytes) -> str:
    """The configuration's cniVersion when it is one this plugin speaks; the latest
    otherwise (VERSION may come with no configuration at all)."""
    if not stdin.strip():
        return LATEST
    try:
        value = parse_config(stdin).get("cniVersion")
    except CniError:
        return LATEST
    return value if isinstance(value, str) and value in SUPPORTED_VERSIONS else LATEST


def _setup(env: Environment, config: Mapping[str, object], stdin: bytes) -> tuple[Netconf, Ipam]:
    from .ipam import Ipam
    from .netconf import read_netconf

    conf = read_netconf(config)
    return conf, Ipam(config, env, stdin, conf.name)


def _add(env: Environment, config: Mapping[str, object], stdin: bytes) -> Result:
    from .result import in_version, normalize

    conf, ipam = _setup(env, config, stdin)
    version = str(config["cniVersion"])
    prev = normalize(config["prevResult"], "prevResult") if config.get("prevResult") else None
    mac = _requested_mac(env, config, conf)
    guest = _open_guest(env, conf)
    try:
        given = ipam.add()
        result = _attach(env, conf, guest, given, mac)
    except BaseException:
        _release(ipam)  # (what a delegate refused to give, it has released itself)
        raise
    finally:
        guest.close()
    if prev is not None:
        result = _chain(prev, result)
    return in_version(result, version)


def _release(ipam: Ipam) -> None:
    """Give back what IPAM gave, the attach having failed; the attach's error is the
    one to report, so a failure here only adds a line on stderr."""
    try:
        ipam.delete()
    except PipeworkError as exc:
        sys.stderr.write(f"pipework: could not release the addresses: {exc}\n")


def _requested_mac(env: Environment, config: Mapping[str, object], conf: Netconf) -> bytes | None:
    from .netconf import parse_mac_field

    runtime = config.get("runtimeConfig")
    if isinstance(runtime, dict) and runtime.get("mac"):
        value = runtime["mac"]
        if not isinstance(value, str):
            raise CniError(e.INVALID_CONFIG, "runtimeConfig.mac must be a string")
        return parse_mac_field(value, "runtimeConfig.mac")
    arg = env.arg("MAC")
    if arg:
        try:
            return parse_mac_field(arg, "CNI_ARGS MAC")
        except CniError as exc:
            raise CniError(e.INVALID_ENVIRONMENT, exc.message) from None
    return conf.mac


def _open_guest(env: Environment, conf: Netconf) -> Guest:
    from ..model import Guest
    from ..names import GuestRef
    from ..netns import NetNS

    name = label(conf.name, env.container_id)
    try:
        netns = NetNS.open(env.netns, name)
    except PipeworkError as exc:
        raise CniError(e.UNKNOWN_CONTAINER, exc.message) from None
    return Guest(
        GuestRef("netns", env.netns), "cni", name[4:], None, netns, f"CNI_NETNS {env.netns}"
    )


def _attach(
    env: Environment,
    conf: Netconf,
    guest: Guest,
    given: Result | None,
    mac: bytes | None,
) -> Result:
    from ..engine.attach import attach_guest
    from ..model import Addressing
    from ..netlink.socket import NetlinkSocket
    from .netconf import attach_spec

    addresses, gateways, routes = _addressing(given, conf)
    addressing = Addressing(addresses, gateways, routes=routes)
    spec = attach_spec(
        conf, guest.ref, env.ifname, addressing, mac, _host_veth_name(conf.name, env)
    )
    with NetlinkSocket() as host:
        done = attach_guest(spec, guest, host=host)
        try:
            if conf.is_gateway:
                _gateways_on_bridge(host, done.bridge, given)
            return _result(host, conf, env, done, given)
        except BaseException:
            from ..ops.detach import detach_resolved

            detach_resolved(guest, None, env.ifname)
            raise


def _host_veth_name(network: str, env: Environment) -> str:
    """The host end's name: ``veth`` and 10 hex digits of a hash of what makes the
    attachment unique, the same for a retried ADD (the reference plugins' names are
    random; a name from the attachment needs no state to be found again)."""
    try:
        from _blake2 import blake2s
    except ImportError:  # pragma: no cover - not CPython
        from hashlib import blake2s
    key = f"{network}/{env.container_id}/{env.ifname}".encode()
    return "veth" + blake2s(key, digest_size=5).hexdigest()


def _addressing(
    given: Result | None, conf: Netconf
) -> tuple[tuple[IPInterface, ...], tuple[IPAddress, ...], tuple[RouteSpec, ...]]:
    """Addresses, gateways (isDefaultGateway) and routes from an IPAM result."""
    from ..inet import parse_address, parse_interface, parse_network
    from ..model import RouteSpec as Route

    if given is None:
        return (), (), ()
    addresses = []
    gateways: dict[int, IPAddress] = {}
    for ip in items(given, "ips"):
        iface = parse_interface(str(ip["address"]))
        addresses.append(iface)
        gateway = ip.get("gateway")
        if conf.is_default_gateway and isinstance(gateway, str) and gateway:
            gateways.setdefault(iface.family, parse_address(gateway))
    routes = []
    for route in items(given, "routes"):
        dst = parse_network(str(route["dst"]))
        gw = route.get("gw")
        if dst.prefixlen == 0 and conf.is_default_gateway and dst.family in gateways:
            continue  # the default route isDefaultGateway makes already
        via = parse_address(gw) if isinstance(gw, str) and gw else _gateway_of(given, dst.family)
        routes.append(Route(dst, via))
    return tuple(addresses), tuple(gateways.values()), tuple(routes)


def _gateway_of(given: Result, family: int) -> IPAddress | None:
    """A route without ``gw`` goes through the gateway of its family's address (as the
    reference plugins' ConfigureIface does), or on-link when there is none."""
    from ..inet import parse_address

    for ip in items(given, "ips"):
        gateway = ip.get("gateway")
        if isinstance(gateway, str) and gateway:
            address = parse_address(gateway)
            if address.family == family:
                return address
    return None


def _gateways_on_bridge(host: NetlinkSocket, bridge: str, given: Result | None) -> None:
    """isGateway: each gateway of the IPAM result, with its subnet's prefix, on the
    bridge (left there after DEL, as the bridge plugin leaves it: others use it)."""
    from errno import EEXIST

    from ..errors import NetlinkError
    from ..inet import parse_address, parse_interface
    from ..netlink import messages as m

    if given is None:
        return
    link = host.link(bridge, obj=f"bridge {bridge}")
    if link is None:
        return
    for ip in items(given, "ips"):
        gateway = ip.get("gateway")
        if not isinstance(gateway, str) or not gateway:
            continue
        address = parse_address(gateway)
        prefix = parse_interface(str(ip["address"])).prefixlen
        # with its subnet's broadcast, as the container's own address and the bridge
        # plugin's gateway have it (the kernel adds no broadcast route without it)
        brd = parse_interface(f"{gateway}/{prefix}").broadcast()
        try:
            host.request(
                m.add_address(
                    link.index,
                    address.af,
                    address.packed,
                    prefix,
                    broadcast=brd.packed if brd else None,
                ),
                op="add gateway address",
                obj=f"{gateway}/{prefix} on {bridge}",
            )
        except NetlinkError as exc:
            if exc.errno != EEXIST:
                raise


def _result(
    host: NetlinkSocket, conf: Netconf, env: Environment, done: Attachment, given: Result | None
) -> Result:
    from ..mac import format_mac

    interfaces: list[dict[str, object]] = []
    if conf.on_bridge:
        for name in (done.bridge, done.host_ifname):
            link = host.link(name, obj=name)
            entry: dict[str, object] = {"name": name}
            if link is not None and link.address:
                entry["mac"] = format_mac(link.address)
            interfaces.append(entry)
    inside: dict[str, object] = {"name": env.ifname, "sandbox": env.netns}
    if done.mac:
        inside["mac"] = format_mac(done.mac)
    inside["mtu"] = done.mtu
    interfaces.append(inside)
    index = len(interfaces) - 1
    ips = [dict(ip, interface=index) for ip in items(given or {}, "ips")]
    return {
        "interfaces": interfaces,
        "ips": ips,
        "routes": _result_routes(conf, given),
        "dns": (given or {}).get("dns") or {},
    }


def _result_routes(conf: Netconf, given: Result | None) -> list[dict[str, object]]:
    """The IPAM's routes, and with isDefaultGateway the default route of each family
    with a gateway in place of the IPAM's own (the one _addressing made): the result
    lists every route the plugin made, so CHECK sees one that goes, as the reference
    bridge plugin's result does."""
    from ..inet import parse_address, parse_network

    routes = items(given or {}, "routes")
    if not conf.is_default_gateway:
        return routes
    gateways: dict[int, str] = {}
    for ip in items(given or {}, "ips"):
        gateway = ip.get("gateway")
        if isinstance(gateway, str) and gateway:
            gateways.setdefault(parse_address(gateway).family, gateway)
    out = []
    for route in routes:
        dst = parse_network(str(route["dst"]))
        if not (dst.prefixlen == 0 and dst.family in gateways):
            out.append(route)
    for family, gateway in gateways.items():
        out.append({"dst": "0.0.0.0/0" if family == 4 else "::/0", "gw": gateway})
    return out


def _chain(prev: Result, ours: Result) -> Result:
    """A chained ADD: the previous plugins' result, and ours after it."""
    before = items(prev, "interfaces")
    shift = len(before)
    ips = [dict(ip, interface=int(str(ip["interface"])) + shift) for ip in items(ours, "ips")]
    return {
        "interfaces": before + items(ours, "interfaces"),
        "ips": items(prev, "ips") + ips,
        "routes": items(prev, "routes") + items(ours, "routes"),
        "dns": ours.get("dns") or prev.get("dns") or {},
    }


def _del(env: Environment, config: Mapping[str, object], stdin: bytes) -> None:
    """DEL: what ADD made goes, and its addresses back to IPAM; success when they are
    gone already, when CNI_NETNS is empty and when the namespace no longer exists."""
    from ..ops.detach import detach_resolved

    conf, ipam = _setup(env, config, stdin)
    name = label(conf.name, env.container_id)
    guest = None
    if env.netns and os.path.exists(env.netns):
        try:
            guest = _open_guest(env, conf)
        except CniError:
            guest = None  # not a namespace any more (an unmounted bind mount's file)
    try:
        if guest is None:
            detach_resolved(None, lambda seen, _ifname: seen == name, env.ifname)
        else:
            detach_resolved(guest, lambda seen, _ifname: seen == name, env.ifname)
    finally:
        if guest is not None:
            guest.close()
    ipam.delete()


def _check(env: Environment, config: Mapping[str, object], stdin: bytes) -> None:
    from .check import check_attachment
    from .result import normalize

    conf, ipam = _setup(env, config, stdin)
    if not config.get("prevResult"):
        raise CniError(e.INVALID_CONFIG, "CHECK needs prevResult (the result of ADD)")
    prev = normalize(config["prevResult"], "prevResult")
    guest = _open_guest(env, conf)
    with guest:
        addresses = check_attachment(conf, env, guest, prev)
    ipam.check(addresses)


def _gc(env: Environment, config: Mapping[str, object], stdin: bytes) -> None:
    """GC: this network's attachments that the runtime no longer lists go, and so do
    their addresses; other networks' and the command line's are never looked at."""
    from ..ops.detach import detach_resolved

    conf, ipam = _setup(env, config, stdin)
    valid = _valid_attachments(config)
    prefix = label(conf.name, "")
    detach_resolved(
        None,
        lambda seen, ifname: seen.startswith(prefix) and (seen[len(prefix) :], ifname) not in valid,
        "",
        everything=True,
    )
    ipam.gc(valid)


def _valid_attachments(config: Mapping[str, object]) -> set[tuple[str, str]]:
    for key in GC_KEYS:
        if key not in config:
            continue
        value = config[key]
        if not isinstance(value, list):
            raise CniError(e.INVALID_CONFIG, f"{key} must be a list")
        valid = set()
        for item in value:
            if not isinstance(item, dict):
                raise CniError(e.INVALID_CONFIG, f"{key}: each entry must be an object")
            cid, ifname = item.get("containerID"), item.get("ifname")
            if not isinstance(cid, str) or not isinstance(ifname, str):
                raise CniError(e.INVALID_CONFIG, f"{key}: containerID and ifname are strings")
            valid.add((cid, ifname))
        return valid
    return set()


def _status(env: Environment, config: Mapping[str, object], stdin: bytes) -> None:
    """STATUS: ready when the host interface is there (a bridge may still be made)."""
    from ..netlink.socket import NetlinkSocket

    conf, ipam = _setup(env, config, stdin)
    if conf.place in ("master", "device"):
        with NetlinkSocket() as host:
            if host.link(conf.host_if, obj=conf.host_if) is None:
                raise CniError(
                    e.NOT_AVAILABLE,
                    f"the {conf.place} {conf.host_if} does not exist on this host",
                )
    from .ipam import PluginMissing

    try:
        ipam.status()
    except PluginMissing as exc:
        # an IPAM plugin not (yet) installed: the network is not available, not invalid
        raise CniError(e.NOT_AVAILABLE, exc.message) from None


_COMMANDS = {"ADD": _add, "DEL": _del, "CHECK": _check, "GC": _gc, "STATUS": _status}


def run_from_environment() -> int:
    """The entry point when ``CNI_COMMAND`` is set and no argument is given."""
    return main(os.environ, sys.stdin.buffer.read())
