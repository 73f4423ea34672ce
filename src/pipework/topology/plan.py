"""What ``up`` must do for a topology on this host, as steps (each with its undo).

``Lab`` opens the world once: the host's netlink socket, each node's namespace
(pinned by fd), one netlink socket per node, and what already exists there (one
dump per namespace). ``compose`` compares the file with that and returns the steps
of what is missing, in order: netns nodes, bridge nodes, point-to-point links (each
veth born with one end in each namespace, in one request, under its final name and
a chosen ifindex so no look-up follows), host/macvlan/vxlan/dummy links, bridge
ports (the attach engine, ``attach_many``), default routes and routes, then exec.
What exists as declared is left; what exists differently is an error naming it.

Everything made carries a mark with the lab's name (``lab=NAME`` in the IFLA_IFALIAS
of each interface, of each bridge, and of the loopback of each netns created), so
``down`` finds it from the kernel alone, also after a run that died half-way.
"""

from __future__ import annotations

from errno import EBUSY

from ..errors import CommandError, GuestNotFound, HostStateError, NetlinkError
from ..marks import PREFIX, guest_mark, parse_mark
from ..netlink import messages as m
from ..netlink.codec import pack_attr
from ..netlink.socket import NetlinkSocket, address_request
from ..netns import NetNS, named_netns_path
from ..steps import Step, gone_ok

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..inet import IPAddress, IPInterface
    from ..model import Guest
    from ..names import GuestRef
    from ..steps import Rollback
    from .parse import Endpoint, LinkDecl, Node, Topology

#: VXLAN encapsulation: outer Ethernet 14 + IPv4 20 (IPv6 40) + UDP 8 + VXLAN 8
VXLAN_OVERHEAD = {4: 50, 6: 70}
_VXLAN_ID, _VXLAN_GROUP, _VXLAN_PORT, _VXLAN_GROUP6 = 1, 2, 15, 16


def lab_field(name: str) -> str:
    return f"lab={name}"


def has_lab(alias: str | None, lab: str) -> bool:
    fields = parse_mark(alias)
    return fields is not None and fields.get("lab") == lab


def netns_mark(lab: str) -> str:
    return f"{PREFIX} netns {lab_field(lab)}"


def bridge_mark(lab: str) -> str:
    return f"{PREFIX} bridge {lab_field(lab)}"


class Place:
    """One node's namespace as ``up`` sees it: its fd (once it exists), socket, links."""

    __slots__ = ("created", "guest", "label", "links", "name", "next_index", "ns", "ref", "sock")

    def __init__(self, name: str, label: str) -> None:
        self.name = name
        self.label = label
        self.ns: NetNS | None = None
        self.sock: NetlinkSocket | None = None
        self.guest: Guest | None = None
        self.ref: GuestRef | None = None
        self.links: dict[str, m.Link] = {}
        self.next_index = 2  # lo is 1 in a namespace just made
        self.created = False  # by this run

    def netlink(self) -> NetlinkSocket:
        if self.sock is None:
            assert self.ns is not None, f"{self.name} has no namespace yet"
            self.sock = NetlinkSocket.inside(self.ns)
        return self.sock

    def index(self) -> int:
        """An ifindex free in this namespace, so a new link's index is known without asking."""
        self.next_index += 1
        return self.next_index - 1

    def fd(self) -> int:
        assert self.ns is not None
        return self.ns.fd


class Lab:
    """The opened world of one ``up``/``down`` run; ``close`` releases it."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.host = NetlinkSocket()
        self.places: dict[str, Place] = {}
        self.host_links: dict[str, m.Link] = {}
        self.to_create: list[str] = []  # netns nodes missing on the host

    def close(self) -> None:
        for place in self.places.values():
            if place.sock is not None:
                place.sock.close()
            if place.guest is not None:
                place.guest.close()
            elif place.ns is not None:
                place.ns.close()
        self.host.close()

    def open(self, *, need_guests: bool = True) -> None:
        """Pin every node that exists; read what is there. ``need_guests``: a guest
        that is not running is an error (``up``), else it is skipped (``down``)."""
        from ..guests import resolve

        self.host_links = {link.name: link for link in self.host.links(obj="the host")}
        for node in self.topo.nodes:
            if node.kind == "bridge":
                continue
            if node.kind == "netns":
                place = Place(node.name, f"netns:{node.name}")
                path = named_netns_path(node.name)
                if path is None:
                    self.to_create.append(node.name)
                else:
                    place.ns = NetNS.open(path, place.label)
                    self._read(place)
                self.places[node.name] = place
                continue
            errors = []
            for ref in node.lookup:
                try:
                    guest = resolve(ref)
                except GuestNotFound as exc:
                    errors.append(str(exc))
                    continue
                place = Place(node.name, guest.label)
                place.guest, place.ns, place.ref = guest, guest.netns, ref
                self.places[node.name] = place
                self._read(place)
                break
            else:
                if need_guests:
                    raise GuestNotFound(
                        f"{self.topo.path}:{node.line}: node {node.name!r} is not running: "
                        + "; ".join(errors),
                        hint="start it first (pipework up wires existing guests)",
                    )

    def _read(self, place: Place) -> None:
        links = place.netlink().links(obj=place.label)
        place.links = {link.name: link for link in links}
        place.next_index = max([link.index for link in links] + [1]) + 1

    def ip(self, node: str) -> str:
        """The words of an ``ip`` command run in ``node``'s namespace (for -v, --dry-run)."""
        place = self.places.get(node)
        if place is None or place.guest is None:
            return f"ip -n {node}"
        if place.guest.pid is not None:
            return f"nsenter -t {place.guest.pid} -n ip"
        return f"ip -n {place.guest.name}"

    def enter(self, node: str) -> str:
        """The words that run a program in ``node``'s namespace (for -v, --dry-run)."""
        ip = self.ip(node)
        if ip.startswith("nsenter"):
            return ip[: -len(" ip")]
        return f"ip netns exec {ip[len('ip -n ') :]}"

    def end_label(self, end: Endpoint) -> str:
        return f"{end.node}:{end.ifname}"


# ---------------------------------------------------------------- requests


def veth_between(
    a_name: str,
    a_fd: int,
    a_index: int,
    b_name: str,
    b_fd: int,
    b_index: int,
    *,
    mtu: int | None,
    a_mac: bytes | None,
    b_mac: bytes | None,
) -> m.Request:
    """One RTM_NEWLINK making a pair with each end born in its namespace, named, with
    the ifindex chosen (so the next requests need no look-up)."""
    peer: list[tuple[str, object]] = [("IFLA_IFNAME", b_name), ("IFLA_NET_NS_FD", b_fd)]
    main: list[tuple[str, object]] = [("IFLA_IFNAME", a_name), ("IFLA_NET_NS_FD", a_fd)]
    for attrs, mac in ((peer, b_mac), (main, a_mac)):
        if mtu is not None:
            attrs.append(("IFLA_MTU", mtu))
        if mac is not None:
            attrs.append(("IFLA_ADDRESS", mac))
    info = m.IFLA_INFO.encode(
        [
            ("IFLA_INFO_KIND", "veth"),
            (
                "IFLA_INFO_DATA",
                m.VETH_INFO.encode(
                    [("VETH_INFO_PEER", m.ifinfomsg(b_index) + m.IFLA.encode(peer))]
                ),
            ),
        ]
    )
    body = m.ifinfomsg(a_index) + m.IFLA.encode([*main, ("IFLA_LINKINFO", info)])
    return m.RTM_NEWLINK, m.CREATE_EXCL, body


def vxlan_in(
    name: str, netns_fd: int, index: int, vni: int, remote: IPAddress, port: int, mtu: int
) -> m.Request:
    """A VXLAN device made by the host (its underlay stays the host's) and born in the
    node's namespace."""
    data = pack_attr(_VXLAN_ID, vni.to_bytes(4, "little"))
    data += pack_attr(_VXLAN_GROUP if remote.family == 4 else _VXLAN_GROUP6, remote.packed)
    data += pack_attr(_VXLAN_PORT, port.to_bytes(2, "big"))
    info = m.IFLA_INFO.encode([("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", data)])
    attrs: list[tuple[str, object]] = [
        ("IFLA_IFNAME", name),
        ("IFLA_MTU", mtu),
        ("IFLA_NET_NS_FD", netns_fd),
        ("IFLA_LINKINFO", info),
    ]
    return m.RTM_NEWLINK, m.CREATE_EXCL, m.ifinfomsg(index) + m.IFLA.encode(attrs)


# ---------------------------------------------------------------- the plan


class Planner:
    """Builds the steps of one ``up`` from the file and what ``Lab.open`` read."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.topo = lab.topo
        self.steps: list[Step] = []
        self.touched: set[str] = set()  # nodes that get something new (their exec runs)
        self.attach_specs: list[tuple[LinkDecl, Endpoint, Endpoint]] = []
        #: what the steps make, by kind ("netns", "bridge", "link", "address", "route", "exec")
        self.counts: dict[str, int] = {}

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def fail(self, line: int, message: str) -> HostStateError:
        return HostStateError(f"{self.topo.path}:{line}: {message}")

    def compose(self) -> list[Step]:
        lab = self.lab
        if lab.to_create:
            self.netns_step(lab.to_create)
        for node in self.topo.nodes:
            if node.kind == "bridge":
                self.bridge(node)
        for link in self.topo.links:
            if link.kind == "veth":
                kinds = [self.topo.node(e.node).kind for e in link.endpoints]
                if "bridge" in kinds:
                    port, guest = link.endpoints if kinds[0] == "bridge" else link.endpoints[::-1]
                    if not self.port_exists(link, guest, port):
                        self.attach_specs.append((link, guest, port))
                else:
                    self.veth(link)
            elif link.kind == "host":
                self.host_link(link)
            else:
                self.single(link)
        if self.attach_specs:
            self.bridge_ports()
        for node in self.topo.nodes:
            for route_to, via in [(None, g) for g in node.gateways] + [
                (r.dst, r.via) for r in node.routes if r.via is not None
            ]:
                self.route(node, route_to, via)
        for node in self.topo.nodes:
            if node.exec and node.name in self.touched:
                for argv in node.exec:
                    self.exec(node, argv)
        return self.steps

    # -- nodes

    def netns_step(self, names: list[str]) -> None:
        lab = self.lab
        for name in names:
            place = lab.places[name]
            place.created = True
            self.touched.add(name)
        command = "\n".join(
            f"ip netns add {n}\nip -n {n} link set lo up alias '{netns_mark(self.topo.name)}'"
            for n in names
        )

        def do(rollback: Rollback) -> None:
            ip_batch([f"netns add {n}" for n in names], "create the netns nodes")
            rollback.push(
                f"ip netns del {' '.join(names)}",
                lambda: ip_batch([f"netns del {n}" for n in names], "remove the netns nodes"),
            )
            mark = netns_mark(self.topo.name)
            for name in names:
                place = lab.places[name]
                path = named_netns_path(name)
                if path is None:
                    raise HostStateError(f"ip netns add {name} made no /run/netns/{name}")
                place.ns = NetNS.open(path, place.label)
                place.netlink().request(
                    m.set_link(1, up=True, alias=mark), op="mark the loopback of", obj=name
                )

        self.steps.append(Step(command, do))
        self.count("netns", len(names))

    def bridge(self, node: Node) -> None:
        lab, name = self.lab, node.name
        existing = lab.host_links.get(name)
        if existing is not None:
            if existing.kind != "bridge":
                raise self.fail(node.line, f"{name} exists and is a {existing.kind}, not a bridge")
            return  # a bridge of the host's own, or the lab's from a previous up: used as is
        mark = bridge_mark(self.topo.name)

        def do(rollback: Rollback) -> None:
            lab.host.request(m.create_bridge(name, up=True), op="create bridge", obj=name)
            rollback.push(f"ip link del {name}", lambda: _delete(lab.host, name))
            link = lab.host.link(name)
            assert link is not None
            lab.host.request(m.set_link(link.index, alias=mark), op="mark bridge", obj=name)

        self.steps.append(
            Step(f"ip link add {name} type bridge\nip link set {name} up alias '{mark}'", do)
        )
        self.count("bridge")

    # -- links

    def existing_end(self, end: Endpoint, link: LinkDecl, kind: str) -> m.Link | None:
        """The interface of ``end`` if it exists: the lab's, as declared (None: missing)."""
        place = self.lab.places[end.node]
        found = place.links.get(end.ifname)
        if found is None:
            return None
        if not has_lab(found.alias, self.topo.name) or found.kind != kind:
            raise self.fail(
                end.line,
                f"{end.node} already has an interface {end.ifname} "
                f"({found.kind or 'device'}) that is not this lab's {link.describe()}",
            )
        if link.mtu is not None and found.mtu != link.mtu:
            raise self.fail(
                link.line, f"{end.node}:{end.ifname} has MTU {found.mtu}, not {link.mtu}"
            )
        if end.mac is not None and found.address != end.mac:
            raise self.fail(end.line, f"{end.node}:{end.ifname} has another MAC address")
        return found

    def port_exists(self, link: LinkDecl, end: Endpoint, port: Endpoint) -> bool:
        """Whether the bridge port of ``link`` is there as declared (the lab's, on the
        bridge, its peer the guest's interface); an error if something else is."""
        lab = self.lab
        host_end = lab.host_links.get(port.ifname)
        guest_end = lab.places[end.node].links.get(end.ifname)
        if host_end is None and guest_end is None:
            return False
        bridge = lab.host_links.get(port.node)
        if (
            host_end is None
            or guest_end is None
            or not has_lab(host_end.alias, self.topo.name)
            or bridge is None
            or host_end.master != bridge.index
            or host_end.link != guest_end.index
        ):
            there = f"host:{port.ifname}" if host_end is not None else lab.end_label(end)
            raise self.fail(link.line, f"{there} exists already and is not {link.describe()}")
        self.missing_addresses(end, guest_end)
        return True

    def mark(self, end: Endpoint, peer: str, kind: str) -> str:
        place = self.lab.places[end.node]
        inode = place.ns.inode if place.ns is not None else 0
        return guest_mark(kind, place.label, end.ifname, inode, peer=peer, lab=self.topo.name)

    def veth(self, link: LinkDecl) -> None:
        lab = self.lab
        a, b = link.endpoints
        have_a = self.existing_end(a, link, "veth")
        have_b = self.existing_end(b, link, "veth")
        if have_a is not None and have_b is not None:
            if have_a.link != have_b.index:
                raise self.fail(
                    link.line, f"{lab.end_label(a)} is not linked to {lab.end_label(b)}"
                )
            self.missing_addresses(a, have_a)
            self.missing_addresses(b, have_b)
            return
        if have_a is not None or have_b is not None:
            there = a if have_a is not None else b
            raise self.fail(
                link.line,
                f"{lab.end_label(there)} exists but its peer of {link.describe()} does not",
            )
        pa, pb = lab.places[a.node], lab.places[b.node]
        self.touched.update((a.node, b.node))
        ia, ib = pa.index(), pb.index()
        mtu = f" mtu {link.mtu}" if link.mtu else ""
        lines = [
            f"ip link add {a.ifname} netns {a.node}{mtu} type veth peer name {b.ifname} "
            f"netns {b.node}"
        ]
        for end in (a, b):
            for iface in end.addresses:
                lines.append(f"{lab.ip(end.node)} addr add {iface} dev {end.ifname}")
            lines.append(f"{lab.ip(end.node)} link set {end.ifname} up")

        def do(rollback: Rollback) -> None:
            nonlocal ia, ib
            mark_a = self.mark(a, f"{pb.label}:{b.ifname}", "link")
            mark_b = self.mark(b, f"{pa.label}:{a.ifname}", "link")
            req = veth_between(
                a.ifname, pa.fd(), ia, b.ifname, pb.fd(), ib,
                mtu=link.mtu, a_mac=a.mac, b_mac=b.mac,
            )  # fmt: skip
            try:
                lab.host.request(req, op="create veth", obj=link.describe())
            except NetlinkError as exc:
                if exc.errno != EBUSY:  # EBUSY: the index was taken meanwhile; let it choose
                    raise
                req = veth_between(
                    a.ifname, pa.fd(), 0, b.ifname, pb.fd(), 0,
                    mtu=link.mtu, a_mac=a.mac, b_mac=b.mac,
                )  # fmt: skip
                lab.host.request(req, op="create veth", obj=link.describe())
                ia, ib = _index_of(pa, a.ifname), _index_of(pb, b.ifname)
            sock_a = pa.netlink()
            rollback.push(
                f"{lab.ip(a.node)} link del {a.ifname}",
                lambda: _delete(sock_a, a.ifname),
            )
            for end, place, index, mark in ((a, pa, ia, mark_a), (b, pb, ib, mark_b)):
                sock = place.netlink()
                for iface in end.addresses:
                    sock.request(address_request(index, iface), op="add address", obj=str(iface))
                sock.request(
                    m.set_link(index, up=True, alias=mark), op="set up", obj=lab.end_label(end)
                )

        self.steps.append(Step("\n".join(lines), do))
        self.count("link")

    def missing_addresses(self, end: Endpoint, link: m.Link) -> None:
        if not end.addresses:
            return
        place = self.lab.places[end.node]
        have = {
            (a.family, a.local or a.address, a.prefixlen)
            for a in place.netlink().addresses(obj=place.label)
            if a.index == link.index
        }
        for iface in end.addresses:
            if (iface.address.af, iface.address.packed, iface.prefixlen) in have:
                continue
            self.touched.add(end.node)
            self.steps.append(self.address_step(end, link.index, iface))
            self.count("address")

    def address_step(self, end: Endpoint, index: int, iface: IPInterface) -> Step:
        lab = self.lab

        def do(rollback: Rollback) -> None:
            sock = lab.places[end.node].netlink()
            sock.request(address_request(index, iface), op="add address", obj=str(iface))
            packed, af, plen = iface.address.packed, iface.address.af, iface.prefixlen
            rollback.push(
                f"{lab.ip(end.node)} addr del {iface} dev {end.ifname}",
                gone_ok(
                    lambda: sock.request(
                        m.delete_address(index, af, packed, plen), op="delete", obj=str(iface)
                    )
                ),
            )

        return Step(f"{lab.ip(end.node)} addr add {iface} dev {end.ifname}", do)

    def host_link(self, link: LinkDecl) -> None:
        lab = self.lab
        (end,) = link.endpoints
        host_if = link.host_ifname
        assert host_if is not None
        have = self.existing_end(end, link, "veth")
        host_end = lab.host_links.get(host_if)
        if have is not None and host_end is not None and have.link == host_end.index:
            self.missing_addresses(end, have)
            return
        if have is not None or host_end is not None:
            what = f"host:{host_if}" if host_end is not None else lab.end_label(end)
            raise self.fail(link.line, f"{what} exists already and is not {link.describe()}")
        place = lab.places[end.node]
        self.touched.add(end.node)
        index = place.index()
        lines = [
            f"ip link add {host_if} type veth peer name {end.ifname} netns {end.node}",
            f"ip link set {host_if} up",
        ]
        lines += [f"{lab.ip(end.node)} addr add {a} dev {end.ifname}" for a in end.addresses]
        lines.append(f"{lab.ip(end.node)} link set {end.ifname} up")

        def do(rollback: Rollback) -> None:
            nonlocal index
            req = m.create_veth(
                host_if, end.ifname, peer_netns_fd=place.fd(), mtu=link.mtu, up=True,
                peer_mac=end.mac,
            )  # fmt: skip
            msg_type, flags, body = req
            lab.host.request((msg_type, flags, body), op="create veth", obj=link.describe())
            rollback.push(f"ip link del {host_if}", lambda: _delete(lab.host, host_if))
            peer = f"{place.label}:{end.ifname}"
            host_mark = guest_mark("host-link", "host", host_if, 0, peer=peer, lab=self.topo.name)
            host_link = lab.host.link(host_if)
            assert host_link is not None
            lab.host.request(m.set_link(host_link.index, alias=host_mark), op="mark", obj=host_if)
            index = host_link.link or _index_of(place, end.ifname)
            self.configure_end(end, place, index, f"host:{host_if}", "link")

        self.steps.append(Step("\n".join(lines), do))
        self.count("link")

    def configure_end(self, end: Endpoint, place: Place, index: int, peer: str, kind: str) -> None:
        sock = place.netlink()
        for iface in end.addresses:
            sock.request(address_request(index, iface), op="add address", obj=str(iface))
        mark = self.mark(end, peer, kind)
        sock.request(m.set_link(index, up=True, alias=mark), op="set up", obj=f"{end.ifname}")

    def single(self, link: LinkDecl) -> None:
        """macvlan, vxlan, dummy: one interface, made by the host directly in the node."""
        lab = self.lab
        (end,) = link.endpoints
        have = self.existing_end(end, link, link.kind)
        if have is not None:
            self.missing_addresses(end, have)
            return
        place = lab.places[end.node]
        self.touched.add(end.node)
        index = place.index()
        mtu_words = f" mtu {link.mtu}" if link.mtu else ""
        if link.kind == "macvlan":
            parent = lab.host_links.get(link.host_ifname or "")
            if parent is None:
                raise self.fail(link.line, f"no host interface {link.host_ifname} for the macvlan")
            mode = link.mode or "bridge"
            first = (
                f"ip link add {end.ifname} link {link.host_ifname} netns {end.node}{mtu_words} "
                f"type macvlan mode {mode}"
            )
            req = m.create_link(
                "macvlan", end.ifname, parent=parent.index, netns_fd=None, mtu=link.mtu,
                mac=end.mac, data=[("IFLA_MACVLAN_MODE", m.MACVLAN_MODE[mode])],
            )  # fmt: skip
            peer = f"macvlan:{link.host_ifname}"
        elif link.kind == "vxlan":
            assert link.remote is not None and link.vni is not None and link.udp_port is not None
            mtu = link.mtu or 1500 - VXLAN_OVERHEAD[link.remote.family]
            first = (
                f"ip link add {end.ifname} netns {end.node} mtu {mtu} type vxlan id {link.vni} "
                f"remote {link.remote} dstport {link.udp_port}"
            )
            req = (m.RTM_NEWLINK, 0, b"")  # built when the namespace exists
            peer = f"vxlan:{link.remote}:{link.vni}"
        else:
            first = f"ip link add {end.ifname} netns {end.node}{mtu_words} type dummy"
            req = m.create_link("dummy", end.ifname, mtu=link.mtu, mac=end.mac)
            peer = "dummy"
        lines = [first]
        lines += [f"{lab.ip(end.node)} addr add {a} dev {end.ifname}" for a in end.addresses]
        lines.append(f"{lab.ip(end.node)} link set {end.ifname} up")

        def do(rollback: Rollback) -> None:
            if link.kind == "vxlan":
                assert link.remote is not None and link.vni is not None
                assert link.udp_port is not None
                mtu = link.mtu or 1500 - VXLAN_OVERHEAD[link.remote.family]
                request = vxlan_in(
                    end.ifname, place.fd(), index, link.vni, link.remote, link.udp_port, mtu
                )
            else:  # the namespace and the index go in now: the netns may be this run's
                msg_type, flags, body = req
                attrs = m.IFLA.encode([("IFLA_NET_NS_FD", place.fd())])
                request = (msg_type, flags, m.ifinfomsg(index) + body[m.IFINFOMSG.size :] + attrs)
            lab.host.request(request, op=f"create {link.kind}", obj=link.describe())
            sock = place.netlink()
            rollback.push(
                f"{lab.ip(end.node)} link del {end.ifname}", lambda: _delete(sock, end.ifname)
            )
            self.configure_end(end, place, index, peer, link.kind)

        self.steps.append(Step("\n".join(lines), do))
        self.count("link")

    def bridge_ports(self) -> None:
        """Links to bridge nodes: the attach engine, all of them in one ``attach_many``."""
        from ..model import Addressing, AttachSpec
        from ..names import GuestRef

        lab = self.lab
        specs: list[AttachSpec] = []
        lines = []
        for link, end, port in self.attach_specs:
            place = lab.places[end.node]
            ref = place.ref if place.ref is not None else GuestRef("netns", end.node)
            specs.append(
                AttachSpec(
                    port.node,
                    ref,
                    Addressing(end.addresses),
                    container_ifname=end.ifname,
                    host_ifname=port.ifname,
                    mac=end.mac,
                    mtu=link.mtu,
                    allow_forward=self.topo.node(port.node).allow_forward,
                )
            )
            self.touched.add(end.node)
            lines.append(
                f"ip link add {port.ifname} master {port.node} type veth peer name {end.ifname} "
                f"netns {end.node}"
            )
            lines += [f"{lab.ip(end.node)} addr add {a} dev {end.ifname}" for a in end.addresses]
            lines.append(f"{lab.ip(end.node)} link set {end.ifname} up")
        lab_name = self.topo.name

        def do(rollback: Rollback) -> None:
            from ..engine.attach import attach_many

            results = attach_many(specs)
            failed = None
            for spec, result in zip(specs, results):
                if isinstance(result, Exception):
                    failed = failed or (spec, result)
                    continue
                if not result.changed:
                    continue
                name = result.host_ifname
                rollback.push(f"ip link del {name}", _deleter(lab.host, name))
                host_end = lab.host.link(name)
                if host_end is not None and host_end.alias:
                    alias = f"{host_end.alias} {lab_field(lab_name)}"
                    if len(alias) < 256:
                        lab.host.request(
                            m.set_link(host_end.index, alias=alias), op="mark", obj=name
                        )
            if failed is not None:
                spec, error = failed
                raise HostStateError(f"{spec.guest}:{spec.container_ifname}: {error}")

        self.steps.append(Step("\n".join(lines), do))
        self.count("link", len(specs))

    # -- routes and exec

    def route(self, node: Node, dst: IPInterface | None, via: IPAddress) -> None:
        lab = self.lab
        place = lab.places[node.name]
        family = m.AF_INET if via.family == 4 else m.AF_INET6
        dst_text = "default" if dst is None else f"{dst.network_address()}/{dst.prefixlen}"
        dst_packed = dst.network_address().packed if dst is not None else None
        dst_len = dst.prefixlen if dst is not None else 0
        if place.ns is not None and not place.created:
            for route in place.netlink().routes(family, obj=place.label):
                if (
                    route.table == m.RT_TABLE_MAIN
                    and route.dst_len == dst_len
                    and (dst_len == 0 or route.dst == dst_packed)
                ):
                    if route.gateway == via.packed:
                        return  # as declared
                    raise self.fail(
                        node.line,
                        f"{node.name} has a route to {dst_text} via another gateway already",
                    )
        self.touched.add(node.name)
        command = f"{lab.ip(node.name)} route add {dst_text} via {via}"

        def do(rollback: Rollback) -> None:
            sock = place.netlink()
            req = m.route_request(
                m.RTM_NEWROUTE, m.CREATE_EXCL, family=family, dst=dst_packed, dst_len=dst_len,
                gateway=via.packed,
            )  # fmt: skip
            sock.request(req, op="add route", obj=f"{dst_text} via {via} in {node.name}")
            delete = m.route_request(
                m.RTM_DELROUTE, m.NLM_F_REQUEST | m.NLM_F_ACK, family=family, dst=dst_packed,
                dst_len=dst_len, gateway=via.packed,
            )  # fmt: skip
            rollback.push(
                f"{lab.ip(node.name)} route del {dst_text} via {via}",
                gone_ok(lambda: sock.request(delete, op="delete route", obj=dst_text)),
            )

        self.steps.append(Step(command, do))
        self.count("route")

    def exec(self, node: Node, argv: tuple[str, ...]) -> None:
        lab = self.lab
        place = lab.places[node.name]
        words = " ".join(_quote(w) for w in argv)
        command = f"{lab.enter(node.name)} {words}"

        def do(rollback: Rollback) -> None:
            run_in(place, argv, f"exec in {node.name} ({self.topo.path}:{node.line})")

        self.steps.append(Step(command, do))
        self.count("exec")


def run_in(place: Place, argv: tuple[str, ...], what: str) -> None:
    """Run ``argv`` inside the node's network namespace (its mount namespace stays ours)."""
    from .._lowlevel.programs import which
    from ..netns import inside

    program = argv[0] if "/" in argv[0] else which(argv[0])
    if program is None:
        raise CommandError(f"{what}: {argv[0]} is not installed")
    assert place.ns is not None
    import subprocess

    with inside(place.ns):
        proc = subprocess.run(  # noqa: PLW1510 - the status is checked below
            [program, *argv[1:]], stdin=subprocess.DEVNULL, stdout=2, timeout=300
        )
    if proc.returncode != 0:
        raise CommandError(f"{what}: {' '.join(argv)} exited with {proc.returncode}")


def _quote(word: str) -> str:
    safe = word and all(c.isalnum() or c in "-_./=:,+@%" for c in word)
    return word if safe else "'" + word.replace("'", "'\\''") + "'"


def _index_of(place: Place, name: str) -> int:
    link = place.netlink().link(name)
    if link is None:
        raise HostStateError(f"{name} vanished from {place.label}")
    return link.index


def _delete(sock: NetlinkSocket, name: str) -> None:
    sock.delete_link(name=name, obj=name)


def _deleter(sock: NetlinkSocket, name: str) -> Callable[[], None]:
    return lambda: _delete(sock, name)


def ip_batch(commands: list[str], what: str) -> None:
    """``ip -batch -``: one process for all the netns nodes (see docs/topology.md: why)."""
    from .._lowlevel.programs import which

    ip = which("ip")
    if ip is None:
        raise CommandError(f"{what}: ip is not installed", hint="apt-get install iproute2")
    import subprocess

    proc = subprocess.run(
        [ip, "-batch", "-"],
        input="".join(c + "\n" for c in commands),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.split())[:300]
        raise CommandError(f"{what}: ip -batch failed: {detail}")


def delete_ours(sock: NetlinkSocket, lab: str, what: str) -> list[str]:
    """Delete every link of the socket's namespace marked with ``lab``; their names."""
    removed = []
    links = sock.links(obj=what)
    # bridges last: their ports go first (deleting a bridge frees its ports, not them)
    for link in sorted(links, key=lambda x: x.kind == "bridge"):
        # (the loopback of a netns node carries the mark too, and is not deletable)
        if (
            link.index != 1
            and has_lab(link.alias, lab)
            and sock.delete_link(link.index, obj=f"{link.name} in {what}")
        ):
            removed.append(link.name)
    return removed
