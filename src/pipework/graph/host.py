"""The host as it is now, read from the kernel (and OVS's database) into a ``Picture``.

Every namespace is read through the host's own netlink socket, by the id the host
knows it by (IFLA_TARGET_NETNSID), never by entering it: so a guest's links name
their peers by ids in one table, the host's, and each veth is found from both of
its ends. The guests drawn are those pipework knows: the named namespaces, the
namespaces behind the veths carrying pipework's mark, and the namespaces linked
to those (``pipework link``). A guest's own marks only ever add words to a label.
"""

from __future__ import annotations

import os

from ..marks import parse_mark, parse_veth_mark
from ..netlink import messages as m
from .model import Cluster, Edge, Ids, Node, Picture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..netlink.socket import NetlinkSocket

ARPHRD_LOOPBACK = 772
#: host kinds drawn as NICs (no kind at all: a physical or virtio NIC)
NIC_KINDS = (None, "bond", "team", "vlan", "dummy", "macvlan", "ipvlan", "ipoib")
#: guest-side kinds whose lower device (IFLA_LINK) is the interface they hang off
CHILD_KINDS = ("macvlan", "ipvlan", "ipoib", "vlan", "macvtap", "ipvtap")
#: at most this many namespaces are followed through links between guests
MAX_NAMESPACES = 4096


class _Namespace:
    """One guest namespace: how the host names it, what it holds."""

    __slots__ = ("addresses", "hearsay", "inode", "labels", "links", "nsid")

    def __init__(self, nsid: int) -> None:
        self.nsid = nsid
        self.labels: list[str] = []
        #: what a linked guest's mark calls this one: shown only when nothing else names it
        self.hearsay: str | None = None
        self.inode: int | None = None
        self.links: list[m.Link] = []
        self.addresses: list[m.Address] = []

    def name(self, label: str) -> None:
        if label not in self.labels:
            self.labels.append(label)


def _dump_links_of(sock: NetlinkSocket, nsid: int) -> list[m.Link]:
    msg_type, flags, body = m.dump_links()
    body += m.IFLA.encode([("IFLA_TARGET_NETNSID", nsid)])
    from ..errors import NetlinkError
    from ..netlink.socket import PEER_GONE

    try:
        replies = sock.dump((msg_type, flags, body), op="list links", obj=f"namespace id {nsid}")
    except NetlinkError as exc:
        if exc.errno not in PEER_GONE:
            raise
        return []  # the namespace went away while we were reading
    return [m.parse_link(*r[1:]) for r in replies]


def _named_namespaces() -> list[tuple[str, str]]:
    """(name, path) of each ``ip netns`` namespace."""
    from ..netns import NETNS_RUN_DIRS

    found: dict[str, str] = {}
    for directory in NETNS_RUN_DIRS:
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            found.setdefault(entry, f"{directory}/{entry}")
    return sorted(found.items())


def _ovs_port_bridges() -> tuple[list[str], dict[str, str]] | None:
    """OVS's bridges and which bridge each port is on; None when OVS is not there."""
    from .._lowlevel.programs import which
    from ..errors import PipeworkError

    if which("ovs-vsctl") is None:
        return None
    from ..drivers.ovs import read_database

    try:
        db = read_database()
    except PipeworkError:
        return None
    bridges = sorted(bridge.name for bridge in db.bridges)
    ports = {port.name: bridge.name for bridge in db.bridges for port in db.ports_of(bridge)}
    return bridges, ports


def _global(addresses: list[m.Address], index: int) -> list[str]:
    return [str(a) for a in addresses if a.index == index and a.scope == m.RT_SCOPE_UNIVERSE]


def _vxlan_lines(link: m.Link) -> tuple[list[str], str | None, int | None, int | None]:
    """Label lines of a VXLAN device, its remote (or group), VNI and underlay index."""
    from _socket import AF_INET, AF_INET6, inet_ntop

    data = m.kind_data(link)
    if data is None:
        return ["VXLAN"], None, None, None
    vni = data.get_int("IFLA_VXLAN_ID")
    lines = [f"VXLAN {vni}" if vni is not None else "VXLAN"]
    remote = None
    for key, family in (("IFLA_VXLAN_GROUP", AF_INET), ("IFLA_VXLAN_GROUP6", AF_INET6)):
        raw = data.get_bytes(key)
        if raw and any(raw) and len(raw) in (4, 16):
            remote = inet_ntop(family, raw)
    if remote is not None:
        first = int(remote.split(".")[0]) if "." in remote else 0
        multicast = remote.lower().startswith("ff") or 224 <= first <= 239
        lines.append(f"{'group' if multicast else 'remote'} {remote}")
    for key, family in (("IFLA_VXLAN_LOCAL", AF_INET), ("IFLA_VXLAN_LOCAL6", AF_INET6)):
        raw = data.get_bytes(key)
        if raw and any(raw) and len(raw) in (4, 16):
            lines.append(f"local {inet_ntop(family, raw)}")
    port = data.get_int("IFLA_VXLAN_PORT")
    if port:
        lines.append(f"UDP port {port}")
    return lines, remote, vni, data.get_int("IFLA_VXLAN_LINK")


class _Builder:
    """Collects nodes, guests and edges with stable ids."""

    def __init__(self) -> None:
        self.ids = Ids()
        self.host_nodes: dict[str, Node] = {}
        self.clusters: dict[int, list[Node]] = {}
        self.edges: dict[tuple[str, str], Edge] = {}

    def host(self, key: object, kind: str, lines: list[str]) -> str:
        node_id = self.ids(key)
        self.host_nodes.setdefault(node_id, Node(node_id, kind, tuple(lines)))
        return node_id

    def edge(self, a: str, b: str, label: list[str], *, dashed: bool = False) -> None:
        pair = (a, b) if a <= b else (b, a)
        if pair not in self.edges:
            self.edges[pair] = Edge(a, b, label=tuple(label), dashed=dashed)


def read_host(sock: NetlinkSocket | None = None) -> Picture:
    """The picture of this host now."""
    from ..netlink.socket import NetlinkSocket

    own = sock is None
    nl = sock if sock is not None else NetlinkSocket(strict=True)
    try:
        return _read(nl)
    finally:
        if own:
            nl.close()


def _read(sock: NetlinkSocket) -> Picture:
    from ..netns import NetNS

    links = sock.links()
    addresses = sock.addresses()
    by_index = {link.index: link for link in links}
    with NetNS.current() as me:
        host_self = sock.nsid(me.fd, obj="this namespace", assign=True)
    spaces = _guests(sock, links, host_self)
    ovs = _ovs_port_bridges()
    b = _Builder()

    def host_link(link: m.Link, kind: str = "interface") -> str:
        lines = [link.name]
        if kind == "bridge":
            lines.append("Linux bridge")
        elif link.kind:
            lines.append(link.kind)
        if link.kind == "vxlan":
            lines[1:], remote, vni, underlay = _vxlan_lines(link)
            _tunnel(b, b.ids(("host", link.index)), remote, vni)
            if underlay and underlay in by_index:
                b.edge(
                    b.ids(("host", link.index)),
                    host_link(by_index[underlay]),
                    ["underlay"],
                    dashed=True,
                )
            kind = "vxlan"
        lines += _global(addresses, link.index)
        return b.host(("host", link.index), kind, lines)

    # bridges, OVS bridges, NICs and tunnels first: the backbone of the picture
    for link in links:
        if link.kind == "bridge":
            host_link(link, "bridge")
    ovs_bridges, ovs_ports = ovs if ovs is not None else ([], {})
    for name in ovs_bridges:
        b.host(("ovs", name), "ovs", [name, "Open vSwitch"])
    for link in links:
        if link.type == ARPHRD_LOOPBACK or link.kind in ("bridge", "openvswitch", "veth"):
            if link.kind == "openvswitch" and ovs is None and link.name != "ovs-system":
                b.host(("ovs", link.name), "ovs", [link.name, "Open vSwitch"])
            continue
        if link.kind in NIC_KINDS or link.kind == "vxlan" or link.master:
            host_link(link, "nic" if link.kind in NIC_KINDS else "interface")
    for link in links:
        if link.kind in ("vlan",) and link.link in by_index:
            b.edge(host_link(link), host_link(by_index[link.link]), ["vlan parent"], dashed=True)

    guest_ids: dict[tuple[int, int], str] = {}
    for space in spaces.values():
        nodes = []
        for glink in space.links:
            if glink.type == ARPHRD_LOOPBACK:
                continue
            lines = [glink.name]
            if glink.kind == "vxlan":
                vx_lines, remote, vni, _underlay = _vxlan_lines(glink)
                lines += vx_lines
                _tunnel(b, b.ids(("guest", space.nsid, glink.index)), remote, vni)
            elif glink.kind and glink.kind != "veth":
                lines.append(glink.kind)
            lines += _global(space.addresses, glink.index)
            node_id = b.ids(("guest", space.nsid, glink.index))
            guest_ids[(space.nsid, glink.index)] = node_id
            nodes.append(
                Node(node_id, "vxlan" if glink.kind == "vxlan" else "interface", tuple(lines))
            )
        if not nodes:  # an empty box would not be drawn at all
            lone = Node(b.ids(("guest", space.nsid, 0)), "interface", ("no interface but lo",))
            nodes.append(lone)
        b.clusters[space.nsid] = nodes

    def uplink_of(link: m.Link) -> str | None:
        """The node a host link hangs off: its bridge (Linux or OVS)."""
        # by name: on OVS's userspace datapath a port has no master in the kernel
        bridge = ovs_ports.get(link.name)
        if bridge is not None and bridge != link.name:
            return b.ids(("ovs", bridge))
        master = by_index.get(link.master or 0)
        if master is None or master.kind == "openvswitch":
            return None
        return host_link(master, "bridge" if master.kind == "bridge" else "nic")

    # host links hanging off a bridge, and host veth ends reaching a guest
    for link in links:
        up = uplink_of(link)
        peer = None
        if link.kind == "veth" and link.link_netnsid is not None and link.link:
            peer = guest_ids.get((link.link_netnsid, link.link))
        if peer is not None:
            b.edge(up or host_link(link), peer, [link.name] if up else ["veth"])
        elif up is not None:
            b.edge(up, host_link(link), [])

    # what guests hold: pairs between guests (or inside one), children of host NICs
    for space in spaces.values():
        for glink in space.links:
            me_id = guest_ids.get((space.nsid, glink.index))
            if me_id is None or not glink.link:
                continue
            mark = parse_mark(glink.alias) or {}
            # no IFLA_LINK_NETNSID: the peer or parent is in the same namespace (indexes
            # are per namespace: the peer in another one may have this very index)
            where = space.nsid if glink.link_netnsid is None else glink.link_netnsid
            if (where, glink.link) == (space.nsid, glink.index):
                continue
            child = glink.kind in CHILD_KINDS
            if where == host_self:
                if child and glink.link in by_index:
                    parent = by_index[glink.link]
                    b.edge(host_link(parent, "nic"), me_id, [glink.kind or "child"], dashed=True)
                continue
            other = guest_ids.get((where, glink.link))
            if other is not None and child:
                b.edge(other, me_id, [glink.kind or "child"], dashed=True)
            elif other is not None:
                b.edge(me_id, other, [mark.get("kind") or glink.kind or "link"])

    clusters = []
    for space in sorted(spaces.values(), key=lambda s: (s.labels, s.nsid)):
        label = list(space.labels)
        if not label and space.hearsay:
            label = [f"{space.hearsay} (as its peer names it)"]
        label = label or [f"namespace id {space.nsid}"]
        if space.inode:
            label.append(f"netns inode {space.inode}")
        clusters.append(Cluster(f"g{space.nsid}", tuple(label), tuple(b.clusters[space.nsid])))
    nodes = sorted(b.host_nodes.values(), key=lambda n: (n.kind, n.label))
    edges = sorted(b.edges.values(), key=lambda e: (e.a, e.b))
    return Picture(
        f"{os.uname().nodename}: pipework graph", tuple(nodes), tuple(clusters), tuple(edges)
    )


def _tunnel(b: _Builder, device: str, remote: str | None, vni: int | None) -> None:
    if remote is None:
        return
    b.edge(
        device,
        b.host(("remote", remote), "remote", [remote]),
        [f"VNI {vni}" if vni is not None else "VXLAN"],
        dashed=True,
    )


def _guests(
    sock: NetlinkSocket, links: list[m.Link], host_self: int | None
) -> dict[int, _Namespace]:
    """The namespaces pipework knows, by the host's id for each, with their links."""
    from ..errors import PipeworkError
    from ..netns import NetNS

    spaces: dict[int, _Namespace] = {}

    def space(nsid: int) -> _Namespace:
        if nsid not in spaces:
            spaces[nsid] = _Namespace(nsid)
        return spaces[nsid]

    for name, path in _named_namespaces():
        try:
            with NetNS.open(path, f"netns:{name}") as ns:
                # reading a namespace through the host's socket needs an id for it;
                # the kernel gives one itself to every namespace a veth reaches
                nsid = sock.nsid(ns.fd, obj=f"netns {name}", assign=True)
                inode = ns.inode
        except PipeworkError:
            continue  # removed meanwhile, or a stale mount point
        if nsid is None or nsid == host_self:
            continue
        found = space(nsid)
        found.name(f"netns:{name}")
        found.inode = inode
    for link in links:
        mark = parse_veth_mark(link.alias)
        if mark is None or link.link_netnsid is None or link.link_netnsid == host_self:
            continue
        label, _ifname, inode = mark
        found = space(link.link_netnsid)
        found.name(label)
        found.inode = found.inode or inode or None
    # then what those link to, a bounded number of namespaces in all
    todo = sorted(spaces)
    done: set[int] = set()
    while todo and len(done) < MAX_NAMESPACES:
        nsid = todo.pop()
        if nsid in done:
            continue
        done.add(nsid)
        found = spaces[nsid]
        found.links = _dump_links_of(sock, nsid)
        found.addresses = sock.addresses(netnsid=nsid, obj=f"namespace id {nsid}")
        for glink in found.links:
            other = glink.link_netnsid
            if other is None or other == host_self or other in done:
                continue
            if glink.kind == "veth":
                fields = parse_mark(glink.alias) or {}
                peer = space(other)
                said = fields.get("peer", "")
                if fields.get("kind") == "link" and said:
                    peer.hearsay = peer.hearsay or said.rpartition(":")[0] or said
                todo.append(other)
    return {nsid: s for nsid, s in spaces.items() if nsid in done}
