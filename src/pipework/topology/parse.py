"""A topology file (containerlab's format, with pipework's additions) as checked records.

``load(path)`` reads the file (``source``), checks everything a kernel change could
trip on later (node names, endpoints, interface names, addresses, MACs, MTUs, VNIs),
and returns a frozen ``Topology``. Nothing is looked up on the host here: whether a
guest runs is ``up``'s question. Every error names the file and the line.

What containerlab defines and does not matter to the network (``image``,
``startup-config``, ``binds``…) is accepted and ignored: ``IGNORED_*`` list them.
"""

from __future__ import annotations

from .._lowlevel.record import Record
from ..errors import UsageError
from .source import LineDict, LineList, TopologyError, read

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY
    from typing import Any

    from ..inet import IPAddress, IPInterface
    from ..model import RouteSpec
    from ..names import GuestRef

#: node kinds pipework builds itself; every other kind is an existing guest
NODE_KINDS_BUILT = ("netns", "bridge")
LINK_TYPES = ("veth", "host", "macvlan", "vxlan", "dummy")
#: endpoint words that are not nodes (containerlab's); mgmt-net is not supported
SPECIAL_ENDPOINTS = ("host", "macvlan", "mgmt-net")
MACVLAN_MODES = ("bridge", "private", "vepa", "passthru", "source")

TOP_KEYS = ("name", "prefix", "topology")
IGNORED_TOP_KEYS = ("mgmt", "settings", "debug")
TOPOLOGY_KEYS = ("nodes", "links", "defaults", "kinds")
IGNORED_TOPOLOGY_KEYS = ("groups",)
NODE_KEYS = (
    "kind", "exec", "runtime", "guest", "gateway", "gateway6", "routes", "allow-forward"
)  # fmt: skip
#: containerlab node settings that change nothing pipework builds
IGNORED_NODE_KEYS = (
    "image", "image-pull-policy", "type", "group", "license", "startup-config",
    "startup-delay", "enforce-startup-config", "suppress-startup-config", "binds",
    "ports", "env", "env-files", "labels", "cmd", "entrypoint", "user", "memory",
    "cpu", "cpu-set", "shm-size", "mgmt-ipv4", "mgmt-ipv6", "publish", "sandbox",
    "kernel", "restart-policy", "auto-remove", "network-mode", "sysctls", "dns",
    "certificate", "healthcheck", "aliases", "components", "config", "extras",
    "wait-for", "stages", "devices", "cap-add", "mgmt-net", "runtime-options",
    "extra-hosts", "devices", "position",
)  # fmt: skip
LINK_KEYS = (
    "type", "endpoints", "endpoint", "mtu", "ipv4", "ipv6", "host-interface", "mode",
    "remote", "vni", "udp-port",
)  # fmt: skip
IGNORED_LINK_KEYS = ("vars", "labels")
ENDPOINT_KEYS = ("node", "interface", "mac", "ipv4", "ipv6")
IGNORED_ENDPOINT_KEYS = ("vars",)


class Endpoint(Record):
    """One end of a link inside a node: its interface, MAC and addresses."""

    node: str
    ifname: str
    _: KW_ONLY
    mac: bytes | None = None
    addresses: tuple[IPInterface, ...] = ()
    line: int = 0


class LinkDecl(Record):
    """One link of the file.

    veth: two endpoints (a bridge node on one side makes it a bridge port); host: one
    endpoint, ``host_ifname`` the host end; macvlan: one endpoint on the host's
    ``host_ifname``; vxlan: one endpoint, ``remote``/``vni``/``udp_port``; dummy: one.
    """

    kind: str
    endpoints: tuple[Endpoint, ...]
    _: KW_ONLY
    host_ifname: str | None = None
    mtu: int | None = None
    mode: str | None = None
    remote: IPAddress | None = None
    vni: int | None = None
    udp_port: int | None = None
    line: int = 0

    def describe(self) -> str:
        ends = [f"{e.node}:{e.ifname}" for e in self.endpoints]
        if self.kind == "host":
            ends.append(f"host:{self.host_ifname}")
        elif self.kind == "macvlan":
            ends.append(f"macvlan:{self.host_ifname}")
        elif self.kind == "vxlan":
            ends.append(f"vxlan:{self.remote}/{self.vni}")
        return " <-> ".join(ends)


class Node(Record):
    """A node: a netns pipework creates, a bridge, or an existing guest (``lookup``)."""

    name: str
    kind: str  # netns | bridge | guest
    _: KW_ONLY
    clab_kind: str = ""
    lookup: tuple[GuestRef, ...] = ()  # guest: the references tried in order
    exec: tuple[tuple[str, ...], ...] = ()
    gateways: tuple[IPAddress, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    line: int = 0
    allow_forward: bool = False  # a bridge node: --allow-forward for its ports


class Topology(Record):
    name: str
    path: str
    nodes: tuple[Node, ...]
    links: tuple[LinkDecl, ...]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


def load(path: str) -> Topology:
    """Read and check a topology file; TopologyError (exit 2) naming FILE:LINE if bad."""
    try:
        # JSON is read fast, without positions, first; only a bad file is read again
        # with them, so that its error names the line
        return _Checker(path).topology(read(path, lines=False))
    except TopologyError as exc:
        if exc.line:
            raise
    return _Checker(path).topology(read(path))


class _Checker:
    __slots__ = ("addresses", "host_names", "path", "used")

    def __init__(self, path: str) -> None:
        self.path = path
        self.used: dict[tuple[str, str], int] = {}  # (node, ifname) -> line
        self.addresses: dict[bytes, tuple[str, int]] = {}
        self.host_names: dict[str, int] = {}  # interface names pipework makes in the host

    def fail(self, line: int, message: str) -> TopologyError:
        return TopologyError(self.path, line, message)

    def check(self, line: int, call: Any, *args: Any) -> Any:
        """``call(*args)``, its UsageError re-raised as this file's, at ``line``."""
        try:
            return call(*args)
        except TopologyError:
            raise
        except UsageError as exc:
            raise self.fail(line, str(exc)) from None

    def mapping(self, value: Any, line: int, what: str) -> LineDict:
        if not isinstance(value, LineDict):
            raise self.fail(line, f"{what} must be a mapping")
        return value

    def keys(
        self, mapping: LineDict, known: tuple[str, ...], ignored: tuple[str, ...], what: str
    ) -> None:
        for key in mapping:
            if key not in known and key not in ignored:
                raise self.fail(
                    mapping.lines[key],
                    f"unknown key {key!r} in {what} (known: {', '.join(known)})",
                )

    def text(self, mapping: LineDict, key: str, what: str) -> str:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.fail(mapping.lines[key], f"{what} must be a string")
        return str(value)

    def integer(self, mapping: LineDict, key: str, low: int, high: int) -> int:
        value = mapping[key]
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise self.fail(mapping.lines[key], f"{key} must be a number from {low} to {high}")
        return value

    # -- the document

    def topology(self, doc: Any) -> Topology:
        doc = self.mapping(doc, 1, "the file")
        self.keys(doc, TOP_KEYS, IGNORED_TOP_KEYS, "the file")
        if "name" not in doc:
            raise self.fail(doc.line, "missing 'name' (the lab's name)")
        from ..names import check_guest_name

        name = self.check(
            doc.lines["name"], check_guest_name, self.text(doc, "name", "name"), "lab name"
        )
        prefix = f"clab-{name}-"
        if "prefix" in doc:
            given = doc["prefix"]
            if not isinstance(given, str):
                raise self.fail(doc.lines["prefix"], "prefix must be a string")
            # containerlab: "" and "__lab-name" leave the lab out of container names
            prefix = "" if given in ("", "__lab-name") else f"{given}-{name}-"
        if "topology" not in doc:
            raise self.fail(doc.line, "missing 'topology'")
        topo = self.mapping(doc["topology"], doc.lines["topology"], "topology")
        self.keys(topo, TOPOLOGY_KEYS, IGNORED_TOPOLOGY_KEYS, "topology")
        default_kind = None
        if "defaults" in topo:
            defaults = self.mapping(topo["defaults"], topo.lines["defaults"], "defaults")
            if "kind" in defaults:
                default_kind = self.text(defaults, "kind", "kind")
        if "kinds" in topo:
            self.mapping(topo["kinds"], topo.lines["kinds"], "kinds")  # settings of images
        if "nodes" not in topo:
            raise self.fail(topo.line, "missing 'nodes'")
        nodes_map = self.mapping(topo["nodes"], topo.lines["nodes"], "nodes")
        nodes = tuple(
            self.node(key, value, nodes_map.lines[key], default_kind, prefix)
            for key, value in nodes_map.items()
        )
        by_name = {node.name: node for node in nodes}
        links: list[LinkDecl] = []
        if "links" in topo:
            raw_links = topo["links"]
            if raw_links is not None:
                if not isinstance(raw_links, LineList):
                    raise self.fail(topo.lines["links"], "links must be a list")
                for item, line in zip(raw_links, raw_links.lines):
                    links.append(self.link(item, line, by_name))
        self.routes_reachable(nodes, links)
        return Topology(name, self.path, nodes, tuple(links))

    # -- nodes

    def node(self, name: Any, raw: Any, line: int, default_kind: str | None, prefix: str) -> Node:
        from ..names import check_guest_name, parse_guest_ref

        if not isinstance(name, str):
            raise self.fail(line, f"node name {name!r} must be a string")
        self.check(line, check_guest_name, name, "node name")
        if name in SPECIAL_ENDPOINTS:
            raise self.fail(line, f"{name!r} is a reserved endpoint word, not a node name")
        spec = LineDict(line) if raw is None else self.mapping(raw, line, f"node {name!r}")
        self.keys(spec, NODE_KEYS, IGNORED_NODE_KEYS, f"node {name!r}")
        clab_kind = self.text(spec, "kind", "kind") if "kind" in spec else (default_kind or "")
        if not clab_kind:
            raise self.fail(line, f"node {name!r} has no kind (netns, bridge, or a guest's)")
        kind = clab_kind if clab_kind in NODE_KINDS_BUILT else "guest"
        if clab_kind in ("ovs-bridge", "host", "ext-container"):
            hint = {
                "ovs-bridge": "use kind: bridge (a Linux bridge)",
                "host": "name the host in links as host:IF",
                "ext-container": "use its kind (linux) or guest:",
            }[clab_kind]
            raise self.fail(
                spec.lines.get("kind", line), f"kind {clab_kind} is not supported; {hint}"
            )
        lookup: tuple[GuestRef, ...] = ()
        if kind == "guest":
            runtime = None
            if "runtime" in spec:
                runtime = self.text(spec, "runtime", "runtime")
            if "guest" in spec:
                text = self.text(spec, "guest", "guest")
                lookup = (self.check(spec.lines["guest"], parse_guest_ref, text),)
            else:
                names = [f"{prefix}{name}", name] if prefix else [name]
                refs = []
                for candidate in names:
                    text = f"{runtime}:{candidate}" if runtime else candidate
                    refs.append(self.check(spec.lines.get("runtime", line), parse_guest_ref, text))
                lookup = tuple(refs)
        elif "guest" in spec or "runtime" in spec:
            key = "guest" if "guest" in spec else "runtime"
            raise self.fail(spec.lines[key], f"{key} is for existing guests, not kind {kind}")
        allow_forward = spec.get("allow-forward", False)
        if "allow-forward" in spec and (kind != "bridge" or not isinstance(allow_forward, bool)):
            raise self.fail(
                spec.lines["allow-forward"], "allow-forward is true or false, on a bridge node"
            )
        if kind == "bridge":
            self.check(line, _check_ifname, name, "bridge node name")
            self.host_name(name, line)
            for key in ("exec", "gateway", "gateway6", "routes"):
                if key in spec:
                    raise self.fail(spec.lines[key], f"a bridge node has no {key}")
        gateways = tuple(
            self.gateway(spec, key, family)
            for key, family in (("gateway", 4), ("gateway6", 6))
            if key in spec
        )
        return Node(
            name,
            kind,
            clab_kind=clab_kind,
            lookup=lookup,
            exec=self.exec(spec) if "exec" in spec else (),
            gateways=gateways,
            routes=self.routes(spec) if "routes" in spec else (),
            line=line,
            allow_forward=allow_forward is True,
        )

    def gateway(self, spec: LineDict, key: str, family: int) -> IPAddress:
        from ..inet import parse_address

        address: IPAddress = self.check(
            spec.lines[key], parse_address, self.text(spec, key, key), key
        )
        if address.family != family:
            raise self.fail(spec.lines[key], f"{key} {address} is not an IPv{family} address")
        if address.is_multicast or address.is_unspecified or address.is_loopback:
            raise self.fail(spec.lines[key], f"{key} {address} cannot be a gateway")
        return address

    def routes(self, spec: LineDict) -> tuple[RouteSpec, ...]:
        from ..inet import parse_address, parse_network
        from ..model import RouteSpec

        items = spec["routes"]
        if not isinstance(items, LineList):
            raise self.fail(spec.lines["routes"], "routes must be a list of {to: NET, via: ADDR}")
        found = []
        for item, line in zip(items, items.lines):
            route = self.mapping(item, line, "a route")
            self.keys(route, ("to", "via"), (), "a route")
            if "to" not in route or "via" not in route:
                raise self.fail(line, "a route needs to: NETWORK/PREFIX and via: GATEWAY")
            dst = self.check(line, parse_network, self.text(route, "to", "to"), "route destination")
            via = self.check(line, parse_address, self.text(route, "via", "via"), "route gateway")
            if dst.family != via.family:
                raise self.fail(line, f"route to {dst}: via {via} is of the other family")
            found.append(RouteSpec(dst, via))
        return tuple(found)

    def exec(self, spec: LineDict) -> tuple[tuple[str, ...], ...]:
        import shlex

        items = spec["exec"]
        if not isinstance(items, LineList):
            raise self.fail(spec.lines["exec"], "exec must be a list of commands")
        commands = []
        for item, line in zip(items, items.lines):
            if isinstance(item, str):
                try:
                    argv = shlex.split(item)  # words as a shell splits them; no shell runs
                except ValueError as exc:
                    raise self.fail(line, f"exec {item!r}: {exc}") from None
            elif isinstance(item, LineList):
                argv = [str(word) for word in item if isinstance(word, (str, int))]
                if len(argv) != len(item):
                    raise self.fail(line, "an exec argv holds only strings")
            elif isinstance(item, LineDict) and set(item) == {"sh"}:
                argv = ["sh", "-c", self.text(item, "sh", "sh")]
            else:
                raise self.fail(line, "an exec item is a command, an argv list, or {sh: '...'}")
            if not argv or not argv[0]:
                raise self.fail(line, "empty exec command")
            if any("\0" in word for word in argv):
                raise self.fail(line, "an exec argument contains a NUL byte")
            commands.append(tuple(argv))
        return tuple(commands)

    # -- links

    def link(self, raw: Any, line: int, nodes: dict[str, Node]) -> LinkDecl:
        spec = self.mapping(raw, line, "a link")
        self.keys(spec, LINK_KEYS, IGNORED_LINK_KEYS, "a link")
        mtu = self.integer(spec, "mtu", 68, 65535) if "mtu" in spec else None
        if "type" not in spec:
            return self.brief_link(spec, line, nodes, mtu)
        kind = self.text(spec, "type", "type")
        if kind not in LINK_TYPES:
            raise self.fail(
                spec.lines["type"], f"unknown link type {kind!r}: {', '.join(LINK_TYPES)}"
            )
        allowed = {
            "veth": ("endpoints",),
            "host": ("endpoint", "host-interface"),
            "macvlan": ("endpoint", "host-interface", "mode"),
            "vxlan": ("endpoint", "remote", "vni", "udp-port"),
            "dummy": ("endpoint",),
        }[kind]
        for key in ("endpoints", "endpoint", "host-interface", "mode", "remote", "vni", "udp-port"):
            if key in spec and key not in allowed:
                raise self.fail(spec.lines[key], f"a {kind} link has no {key}")
        for key in ("ipv4", "ipv6"):
            if key in spec:
                raise self.fail(spec.lines[key], f"in the extended form, {key} goes on an endpoint")
        for key in allowed:
            if key not in spec and key not in ("mode", "udp-port"):
                raise self.fail(line, f"a {kind} link needs {key}")
        if kind == "veth":
            items = spec["endpoints"]
            if not isinstance(items, LineList) or len(items) != 2:
                raise self.fail(spec.lines["endpoints"], "a veth link needs two endpoints")
            ends = tuple(
                self.endpoint(item, item_line, nodes) for item, item_line in zip(items, items.lines)
            )
            return self.veth(ends, line, nodes, mtu)
        end = self.endpoint(spec["endpoint"], spec.lines["endpoint"], nodes)
        self.guest_side(end, nodes, kind)
        link = LinkDecl(kind, (end,), mtu=mtu, line=line)
        if kind in ("host", "macvlan"):
            host_if = self.check(
                spec.lines["host-interface"],
                _check_ifname,
                self.text(spec, "host-interface", "host-interface"),
                "host-interface",
            )
            if kind == "host":
                self.host_name(host_if, spec.lines["host-interface"])
            mode = None
            if "mode" in spec:
                mode = self.text(spec, "mode", "mode")
                if mode not in MACVLAN_MODES:
                    raise self.fail(
                        spec.lines["mode"], f"macvlan mode {mode!r}: {', '.join(MACVLAN_MODES)}"
                    )
            return link.replace(host_ifname=host_if, mode=mode)
        if kind == "vxlan":
            from ..inet import parse_address

            remote = self.check(
                spec.lines["remote"], parse_address, self.text(spec, "remote", "remote"), "remote"
            )
            if remote.is_unspecified or remote.is_loopback:
                raise self.fail(spec.lines["remote"], f"remote {remote} is not a host's address")
            vni = self.integer(spec, "vni", 1, (1 << 24) - 1)
            port = self.integer(spec, "udp-port", 1, 65535) if "udp-port" in spec else 4789
            return link.replace(remote=remote, vni=vni, udp_port=port)
        return link

    def brief_link(
        self, spec: LineDict, line: int, nodes: dict[str, Node], mtu: int | None
    ) -> LinkDecl:
        for key in ("endpoint", "host-interface", "mode", "remote", "vni", "udp-port"):
            if key in spec:
                raise self.fail(spec.lines[key], f"{key} needs the extended form (type: ...)")
        if "endpoints" not in spec:
            raise self.fail(line, "a link needs endpoints (or a type, in the extended form)")
        items = spec["endpoints"]
        if not isinstance(items, LineList) or len(items) != 2:
            raise self.fail(
                spec.lines["endpoints"], 'endpoints: ["node:if", "node:if"], two of them'
            )
        per_end: list[list[IPInterface]] = [[], []]
        for key, family in (("ipv4", 4), ("ipv6", 6)):
            if key not in spec:
                continue
            values = spec[key]
            if not isinstance(values, LineList) or len(values) != 2:
                raise self.fail(
                    spec.lines[key], f"{key}: one address per endpoint, in order (null for none)"
                )
            for i, (value, vline) in enumerate(zip(values, values.lines)):
                if value is not None:
                    per_end[i].append(self.address(value, vline, family, key))
        words = []
        for item, item_line in zip(items, items.lines):
            if not isinstance(item, str):
                raise self.fail(item_line, 'a brief endpoint is a string "node:interface"')
            node, colon, ifname = item.partition(":")
            if not colon or not node or not ifname:
                raise self.fail(item_line, f"endpoint {item!r} is not NODE:INTERFACE")
            words.append((node, ifname, item_line))
        specials = [w for w in words if w[0] in SPECIAL_ENDPOINTS]
        if len(specials) == 2:
            raise self.fail(line, "a link needs at least one node endpoint")
        if specials:
            word, host_if, sline = specials[0]
            index = words.index(specials[0])
            if word == "mgmt-net":
                raise self.fail(
                    sline, "mgmt-net endpoints are containerlab's management network; not supported"
                )
            if per_end[index]:
                raise self.fail(line, f"the {word}: end of a link takes no address")
            other = words[1 - index]
            end = self.make_endpoint(
                other[0], other[1], None, tuple(per_end[1 - index]), other[2], nodes
            )
            self.guest_side(end, nodes, word)
            host_if = self.check(sline, _check_ifname, host_if, f"{word} interface")
            if word == "host":
                self.host_name(host_if, sline)
            return LinkDecl(word, (end,), host_ifname=host_if, mtu=mtu, line=line)
        ends = tuple(
            self.make_endpoint(node, ifname, None, tuple(per_end[i]), wline, nodes)
            for i, (node, ifname, wline) in enumerate(words)
        )
        return self.veth(ends, line, nodes, mtu)

    def veth(
        self, ends: tuple[Endpoint, ...], line: int, nodes: dict[str, Node], mtu: int | None
    ) -> LinkDecl:
        a, b = ends
        if a.node == b.node:
            raise self.fail(line, f"both ends of the link are in node {a.node!r}")
        bridges = [e for e in ends if nodes[e.node].kind == "bridge"]
        if len(bridges) == 2:
            raise self.fail(line, "a link between two bridge nodes is not supported")
        for end in bridges:
            if end.addresses or end.mac:
                raise self.fail(end.line, f"the port on bridge {end.node} takes no address or MAC")
            self.host_name(end.ifname, end.line)  # the port is a host interface
        if mtu is not None and mtu < 1280 and any(x.family == 6 for e in ends for x in e.addresses):
            raise self.fail(line, f"MTU {mtu} is too small for IPv6, which needs at least 1280")
        return LinkDecl("veth", ends, mtu=mtu, line=line)

    def guest_side(self, end: Endpoint, nodes: dict[str, Node], kind: str) -> None:
        if nodes[end.node].kind == "bridge":
            raise self.fail(
                end.line, f"a {kind} link's endpoint must be a guest, not bridge {end.node}"
            )

    def endpoint(self, raw: Any, line: int, nodes: dict[str, Node]) -> Endpoint:
        spec = self.mapping(raw, line, "an endpoint")
        self.keys(spec, ENDPOINT_KEYS, IGNORED_ENDPOINT_KEYS, "an endpoint")
        for key in ("node", "interface"):
            if key not in spec:
                raise self.fail(spec.line, f"an endpoint needs {key}")
        mac = None
        if "mac" in spec:
            from ..mac import parse_mac

            mac = self.check(spec.lines["mac"], parse_mac, self.text(spec, "mac", "mac"))
        addresses: list[IPInterface] = []
        for key, family in (("ipv4", 4), ("ipv6", 6)):
            if key not in spec:
                continue
            values = spec[key]
            lines = values.lines if isinstance(values, LineList) else [spec.lines[key]]
            for value, vline in zip(values if isinstance(values, LineList) else [values], lines):
                addresses.append(self.address(value, vline, family, key))
        return self.make_endpoint(
            self.text(spec, "node", "node"),
            self.text(spec, "interface", "interface"),
            mac,
            tuple(addresses),
            spec.lines["node"],
            nodes,
        )

    def make_endpoint(
        self,
        node: str,
        ifname: str,
        mac: bytes | None,
        addresses: tuple[IPInterface, ...],
        line: int,
        nodes: dict[str, Node],
    ) -> Endpoint:
        if node in SPECIAL_ENDPOINTS:
            raise self.fail(line, f"{node}:... is only valid in the brief form")
        if node not in nodes:
            raise self.fail(line, f"unknown node {node!r}")
        self.check(line, _check_ifname, ifname, f"interface name of {node}")
        if (node, ifname) in self.used:
            raise self.fail(
                line,
                f"endpoint {node}:{ifname} is used twice (first on line {self.used[node, ifname]})",
            )
        self.used[node, ifname] = line
        for iface in addresses:
            key = bytes([iface.family]) + iface.address.packed
            if key in self.addresses:
                where, first = self.addresses[key]
                raise self.fail(
                    line, f"address {iface.address} is given twice ({where}, line {first})"
                )
            self.addresses[key] = (f"{node}:{ifname}", line)
        return Endpoint(node, ifname, mac=mac, addresses=addresses, line=line)

    def address(self, value: Any, line: int, family: int, key: str) -> IPInterface:
        from ..inet import parse_interface

        if not isinstance(value, str):
            raise self.fail(line, f"{key} must be ADDRESS/PREFIX")
        iface: IPInterface = self.check(line, parse_interface, value, key)
        if iface.family != family:
            raise self.fail(line, f"{key} {value} is not an IPv{family} address")
        return iface

    def host_name(self, name: str, line: int) -> None:
        if name in self.host_names:
            raise self.fail(
                line,
                f"host interface {name!r} is declared twice "
                f"(first on line {self.host_names[name]})",
            )
        self.host_names[name] = line

    def routes_reachable(self, nodes: tuple[Node, ...], links: list[LinkDecl]) -> None:
        """A gateway must be on a subnet of one of the node's own addresses."""
        from ..inet import check_gateway

        mine: dict[str, list[IPInterface]] = {}
        for link in links:
            for end in link.endpoints:
                mine.setdefault(end.node, []).extend(end.addresses)
        for node in nodes:
            ifaces = tuple(mine.get(node.name, ()))
            for gateway in node.gateways:
                self.check(node.line, check_gateway, gateway, ifaces)


def _check_ifname(name: str, what: str) -> str:
    from ..names import check_ifname

    return check_ifname(name, what)
