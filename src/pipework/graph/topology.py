"""A topology file's picture: its nodes, bridges and links, with interface names and
addresses, as the file declares them (nothing is read from the host)."""

from __future__ import annotations

from .model import Cluster, Edge, Ids, Node, Picture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..topology.parse import Endpoint, Topology


def load_picture(path: str) -> Picture:
    """Parse the file (the topology verbs' own parser, imported only here) and draw it."""
    from ..topology.parse import load

    return topology_picture(load(path))


def _interface_lines(end: Endpoint) -> tuple[str, ...]:
    lines = [end.ifname]
    lines += [str(a) for a in end.addresses]
    if end.mac is not None:
        lines.append(end.mac.hex(":"))
    return tuple(lines)


def topology_picture(topo: Topology) -> Picture:
    ids = Ids()
    host: dict[str, Node] = {}
    inside: dict[str, dict[str, Node]] = {
        node.name: {} for node in topo.nodes if node.kind != "bridge"
    }
    edges: list[Edge] = []

    def host_node(key: tuple[str, str], kind: str, lines: tuple[str, ...]) -> str:
        node_id = ids(key)
        host.setdefault(node_id, Node(node_id, kind, lines))
        return node_id

    def interface(end: Endpoint) -> str:
        node_id = ids(("if", end.node, end.ifname))
        inside[end.node].setdefault(end.ifname, Node(node_id, "interface", _interface_lines(end)))
        return node_id

    for node in topo.nodes:
        if node.kind == "bridge":
            host_node(("bridge", node.name), "bridge", (node.name, "Linux bridge"))
    for link in topo.links:
        mtu = (f"MTU {link.mtu}",) if link.mtu else ()
        ends = link.endpoints
        if link.kind == "veth" and len(ends) == 2:
            bridged = [e for e in ends if e.node not in inside]
            guests = [e for e in ends if e.node in inside]
            if bridged and guests:
                bridge = ids(("bridge", bridged[0].node))
                edges.append(Edge(bridge, interface(guests[0]), label=(bridged[0].ifname, *mtu)))
            else:
                edges.append(Edge(interface(ends[0]), interface(ends[1]), label=("veth", *mtu)))
        elif link.kind == "host" and ends:
            other = host_node(
                ("host", link.host_ifname or ""), "host", ("host", link.host_ifname or "")
            )
            edges.append(Edge(other, interface(ends[0]), label=("veth", *mtu)))
        elif link.kind == "macvlan" and ends:
            parent = host_node(("nic", link.host_ifname or ""), "nic", (link.host_ifname or "",))
            mode = f"macvlan {link.mode}" if link.mode else "macvlan"
            edges.append(Edge(parent, interface(ends[0]), label=(mode, *mtu), dashed=True))
        elif link.kind == "vxlan" and ends:
            remote = str(link.remote) if link.remote is not None else "?"
            far = host_node(("remote", remote), "remote", (remote,))
            label = [f"VNI {link.vni}" if link.vni is not None else "VXLAN"]
            if link.udp_port:
                label.append(f"UDP port {link.udp_port}")
            edges.append(Edge(interface(ends[0]), far, label=(*label, *mtu), dashed=True))
        else:
            for end in ends:  # dummy: an interface alone
                interface(end)
    clusters = []
    for node in topo.nodes:
        if node.kind == "bridge":
            continue
        kind = node.clab_kind or node.kind
        clusters.append(
            Cluster(ids(("node", node.name)), (node.name, kind), tuple(inside[node.name].values()))
        )
    return Picture(f"topology {topo.name}", tuple(host.values()), tuple(clusters), tuple(edges))
