"""``--direct-phys``: move a host interface itself into the guest, renamed on the way.

One request moves and renames it (``ip link set NIC netns GUEST name IFNAME``).
``detach`` gives it back to the host as it was — which the original cannot do —
from a record on the host (/run/pipework/direct/), never from anything inside the
guest: root in the guest can rename its interfaces and forge pipework's mark on
one it made itself, so the record also says how to recognise the NIC (its kind,
and what it is linked to, as the host's kernel reports it) and an interface that
does not match is left where it is. ``mac:<address>`` selects the NIC by its MAC.
"""

from __future__ import annotations

import os
from errno import EEXIST

from .._lowlevel.runstate import ROOT, write_atomically
from ..errors import HostStateError, NetlinkError
from ..mac import format_mac
from ..marks import guest_mark
from ..netlink import messages as m
from ..netns import NETNS_RUN_DIRS, NetNS
from ..steps import Step
from .base import Driver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec, Guest
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback
    from .idle import Collection


class DirectDriver(Driver):
    kind = "direct"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        """--direct-phys (the request names this kind), on a NIC nothing else uses."""
        if not spec.direct_phys:
            return False
        if link is None:
            raise HostStateError(f"no host interface {name!r} to move into the guest")
        if link.kind in ("bridge", "openvswitch") or link.master:
            raise HostStateError(
                f"{name} is a {link.kind or 'port of a bridge'}; --direct-phys moves a NIC "
                "that nothing else uses"
            )
        from .wireless import wext_refusal, wireless_phy

        if wireless_phy(link.name) == "":  # netns-local, and no wiphy to move it with
            raise HostStateError(wext_refusal(link.name))
        return True

    def plan(self, ctx: AttachContext) -> list[Step]:
        return _plan(ctx)

    def remove_inside(
        self, nl: NetlinkSocket, link: Link, mark: dict[str, str], guest: Guest
    ) -> tuple[str, str]:
        """Give the NIC back to the host as the host-side record says it was: its name,
        MAC and alias. The guest's mark only points at a candidate; without a record
        of this very interface nothing leaves the guest."""
        from ..errors import HostStateError
        from ..mac import parse_mac
        from ..netns import NetNS

        inode = guest.netns.inode
        record = load_record(inode, link.index)
        why = _not_genuine(guest, link.index, record) if record else "pipework never moved it"
        if why or record is None:
            raise HostStateError(
                f"{link.name} in {guest.label} carries pipework's mark of a moved NIC, but {why}; "
                "it stays in the guest",
                hint="a mark inside a guest is the guest's to write; only the host-side "
                f"record in {RECORD_DIR} is trusted",
            )
        original = str(record["orig"])
        origmac = record.get("origmac")
        mac = parse_mac(origmac) if isinstance(origmac, str) else None
        alias = str(record.get("origalias", ""))
        wiphy, wdev = record.get("phy"), record.get("wdev")
        with NetNS.current() as home:
            if isinstance(wiphy, int) and isinstance(wdev, int):
                from ..netlink.socket import NetlinkSocket

                with NetlinkSocket() as host:
                    give_back_phy(
                        guest.netns, nl, host, home.fd, (wiphy, wdev), original, mac, alias
                    )
            else:
                give_back(nl, link.name, home.fd, original, mac, alias)
        forget(inode, link.index)
        if isinstance(wiphy, int):
            phy = str(record.get("phyname") or f"phy#{wiphy}")
            return (
                f"iw phy {phy} set netns 1  # in {guest.label}; {link.name} back as {original}",
                f"{link.name} (given back to the host as {original}, with {phy})",
            )
        return (
            f"ip link set {link.name} netns 1 name {original}",
            f"{link.name} (given back to the host as {original})",
        )

    def collect_into(self, found: Collection) -> None:
        """Records of NICs whose guest is gone (the kernel gave a NIC back, or
        destroyed a virtual one, when its namespace went)."""
        found.records += stale_records()


DRIVER = DirectDriver()


def _plan(ctx: AttachContext) -> list[Step]:
    nic = ctx.uplink
    assert nic is not None
    spec = ctx.spec
    name = spec.container_ifname
    from .wireless import wireless_phy

    phy = wireless_phy(nic.name)
    if phy:
        steps = _phy_steps(ctx, phy)
    else:
        steps = [
            Step(
                f"ip link set {nic.name} netns {ctx.ns_word} name {name}",
                lambda rb: _move(ctx, rb),
            ),
        ]
    if spec.mtu is not None or spec.mac is not None:
        extra = (f" mtu {spec.mtu}" if spec.mtu else "") + (
            f" address {format_mac(spec.mac)}" if spec.mac else ""
        )
        steps.append(Step(ctx.in_guest(f"ip link set {name}{extra}"), lambda rb: _configure(ctx)))
    steps.append(
        Step(ctx.in_guest(f"ip link set {name} alias '{_mark(ctx)}'"), lambda rb: _mark_it(ctx))
    )
    return steps


def _mark(ctx: AttachContext) -> str:
    # for ls and inspect only: what the NIC was is in the host-side record
    return guest_mark("direct", ctx.guest.label, ctx.spec.container_ifname, ctx.guest.netns.inode)


def _move(ctx: AttachContext, rollback: Rollback) -> None:
    nic = ctx.uplink
    assert nic is not None
    name = ctx.spec.container_ifname
    inode = ctx.guest.netns.inode
    # The record is written before the move: killed in between, a record of a NIC
    # still on the host is stale and gc removes it; the other way round, a NIC in a
    # guest with no record could never be given back.
    record = _record(ctx, nic)
    _save(inode, nic.index, record)
    try:
        ctx.host.request(
            m.move_link(nic.index, ctx.guest.netns.fd, name),
            op="move",
            obj=f"{nic.name} into {ctx.guest.label} as {name}",
        )
    except NetlinkError as exc:
        forget(inode, nic.index)
        if exc.errno == EEXIST:
            raise HostStateError(
                f"interface {name} already exists in {ctx.guest.label}",
                hint="choose another container interface name with -i",
            ) from None
        raise
    home = ctx.home_netns()
    nl = ctx.guest_nl
    original = nic.name
    moved = nl.link(name)
    index = moved.index if moved is not None else nic.index
    if index != nic.index:  # the guest had that index taken: the kernel chose another
        _save(inode, index, {**record, "index": index})
        forget(inode, nic.index)

    alias = nic.alias or ""

    def undo() -> None:
        give_back(nl, name, home.fd, original, None, alias)
        forget(inode, index)

    rollback.push(f"ip link set {name} netns 1 name {original}", undo)


# -- a Wi-Fi NIC moves with its wiphy ----------------------------------------------------


class _MovedPhy:
    """What the phy's move found, for the rename after it: the wiphy, the NIC's wdev id
    (kernel-set, kept across namespaces), and its index in the guest."""

    __slots__ = ("index", "wdev", "wiphy")

    def __init__(self) -> None:
        self.wiphy = -1
        self.wdev = -1
        self.index = 0


def _phy_steps(ctx: AttachContext, phy: str) -> list[Step]:
    """Move the wiphy (the NIC and every other interface of it go along), then rename
    the NIC inside the guest: a Wi-Fi netdev is netns-local, rtnetlink cannot move it."""
    from .wireless import phy_sharing_warning

    nic = ctx.uplink
    assert nic is not None
    name = ctx.spec.container_ifname
    moved = _MovedPhy()
    steps = [
        Step(
            f"iw phy {phy} set netns {_iw_netns(ctx.guest)}",
            lambda rb: _move_phy(ctx, rb, phy, moved),
        ),
        Step(
            ctx.in_guest(f"ip link set {nic.name} down name {name}"),
            lambda rb: _rename_in_guest(ctx, moved),
        ),
    ]
    warning = phy_sharing_warning(nic.name, phy)
    if warning:
        note = warning
        steps.insert(0, Step(f"# warning: {note}", lambda rb: rb.notes.append(note)))
    return steps


def _iw_netns(guest: Guest) -> str:
    """How ``iw phy PHY set netns ...`` names the guest: a pid, or ``name NETNS``."""
    if guest.pid is not None:
        return str(guest.pid)
    if guest.runtime == "netns" and not guest.name.startswith("/"):
        return f"name {guest.name}"
    return f"name {guest.netns.path}"


def _move_phy(ctx: AttachContext, rollback: Rollback, phy: str, moved: _MovedPhy) -> None:
    from ..nl80211 import Nl80211

    nic = ctx.uplink
    assert nic is not None
    name = ctx.spec.container_ifname
    inode = ctx.guest.netns.inode
    guest_nl = ctx.guest_nl
    if guest_nl.link(name) is not None:  # before the phy moves, not after
        raise HostStateError(
            f"interface {name} already exists in {ctx.guest.label}",
            hint="choose another container interface name with -i",
        )
    with Nl80211() as wifi:
        # the kernel's word, by index, on which wiphy and wdev the NIC is (sysfs named it)
        iface = wifi.interface(ifindex=nic.index)
        if iface is None:
            raise HostStateError(f"{nic.name}: nl80211 reports no wiphy for it ({phy} in sysfs)")
        moved.wiphy, moved.wdev = iface.wiphy, iface.wdev
        record = {**_record(ctx, nic), "phy": iface.wiphy, "phyname": phy, "wdev": iface.wdev}
        _save(inode, nic.index, record)  # before the move: see _move
        try:
            wifi.move_wiphy(iface.wiphy, ctx.guest.netns.fd, obj=f"{phy} into {ctx.guest.label}")
        except BaseException:
            forget(inode, nic.index)
            raise
    home = ctx.home_netns()
    moved.index = nic.index
    alias = nic.alias or ""
    mac = nic.address if ctx.spec.mac is not None else None  # a later step changes it

    def undo() -> None:
        give_back_phy(
            ctx.guest.netns, guest_nl, ctx.host, home.fd, (moved.wiphy, moved.wdev), nic.name,
            mac, alias,
        )  # fmt: skip
        forget(inode, moved.index)

    rollback.push(ctx.in_guest(f"iw phy {phy} set netns 1  # {nic.name} back as it was"), undo)
    with Nl80211.inside(ctx.guest.netns) as wifi:
        there = wifi.interface(wdev=moved.wdev)
    if there is None:
        raise HostStateError(f"{nic.name} is not in {ctx.guest.label} after {phy} moved there")
    if there.ifindex != nic.index:  # the guest had that index taken: the kernel chose another
        _save(inode, there.ifindex, {**record, "index": there.ifindex})
        forget(inode, nic.index)
        moved.index = there.ifindex


def _rename_in_guest(ctx: AttachContext, moved: _MovedPhy) -> None:
    """The NIC came into the guest under its own name (or ``wlan%d``): down, then the
    container interface name. The undo of the move renames it back on the host."""
    name = ctx.spec.container_ifname
    nl = ctx.guest_nl
    obj = f"{name} in {ctx.guest.label}"
    nl.request(m.set_link(moved.index, up=False), op="bring down", obj=obj)
    nl.request(rename_link(moved.index, name), op="rename", obj=obj)
    ctx.guest_index = moved.index


def rename_link(index: int, name: str) -> m.Request:
    """``ip link set IF name NAME`` (the link must be down)."""
    return (
        m.RTM_NEWLINK,
        m.NLM_F_REQUEST | m.NLM_F_ACK,
        m.ifinfomsg(index) + m.IFLA.encode([("IFLA_IFNAME", name)]),
    )


def give_back_phy(
    guest_ns: NetNS,
    guest_nl: NetlinkSocket,
    host: NetlinkSocket,
    home_fd: int,
    ids: tuple[int, int],
    original: str,
    mac: bytes | None,
    alias: str,
) -> None:
    """Move a wiphy from the guest back to the host (asked from inside the guest: a
    wiphy moves from where it is), and its NIC (``ids``: wiphy, wdev) under its
    original name, MAC and alias. The phy's other interfaces come back as they are."""
    from ..nl80211 import WIPHY_GONE, Nl80211

    wiphy, wdev = ids
    with Nl80211.inside(guest_ns) as wifi:
        iface = wifi.interface(wdev=wdev)
        if iface is not None:
            obj = f"{iface.ifname} in {guest_ns.label}"
            guest_nl.request(m.set_link(iface.ifindex, up=False), op="bring down", obj=obj)
            guest_nl.request(
                m.set_link(iface.ifindex, address=mac, alias=alias), op="restore", obj=obj
            )
        try:
            wifi.move_wiphy(wiphy, home_fd, obj=f"wiphy {wiphy} back to the host")
        except NetlinkError as exc:
            if exc.errno not in WIPHY_GONE:
                raise
            # not in the guest (its namespace went, and the kernel gave it back): rename only
    with Nl80211() as wifi:
        back = wifi.interface(wdev=wdev)
    if back is not None and back.ifname != original:
        host.request(
            rename_link(back.ifindex, original), op="rename", obj=f"{back.ifname} to {original}"
        )


# -- the host-side record of a moved NIC ------------------------------------------------

RECORD_DIR = ROOT + "/direct"


def _path(inode: int, index: int) -> str:
    return f"{RECORD_DIR}/{inode}-{index}.json"


def _record(ctx: AttachContext, nic: Link) -> dict[str, object]:
    """What the NIC was, and how the host's kernel will recognise it in the guest: its
    kind, and the link it points to (a veth's peer, a macvlan's parent) as the namespace
    id the host knows that link's namespace by. A guest can make an interface of any
    name, MAC, alias or index, but not one whose link lands there: that needs
    CAP_NET_ADMIN over the other namespace, which a guest lacks (unless it is a
    privileged container, whose root is host root anyway)."""
    peer_nsid = None
    if nic.link is not None and nic.link != nic.index:
        peer_nsid = nic.link_netnsid
        if peer_nsid is None:  # its link is on the host: the host's id for itself
            with NetNS.current() as home:
                peer_nsid = host_nsid(ctx.host, home.fd)
    return {
        "guest": ctx.guest.label,
        "if": ctx.spec.container_ifname,
        "ns": ctx.guest.netns.inode,
        "index": nic.index,
        "kind": nic.kind or "",
        "peer": nic.link if peer_nsid is not None else None,
        "peer_nsid": peer_nsid,
        "orig": nic.name,
        "origmac": format_mac(nic.address) if ctx.spec.mac is not None and nic.address else None,
        "origalias": nic.alias or "",
    }


def host_nsid(host: NetlinkSocket, netns_fd: int) -> int:
    """The id the host knows a namespace by, assigned now if it has none yet."""
    nsid = host.nsid(netns_fd, obj="a guest's network namespace", assign=True)
    if nsid is None:
        raise HostStateError("the kernel assigned no id to the guest's network namespace")
    return nsid


def _not_genuine(guest: Guest, index: int, record: dict[str, object]) -> str | None:
    """Why the guest's interface ``index`` is not the NIC the record describes, or None
    when it is. The host asks its kernel about it, in the host's terms (namespace ids
    from the host's table), and compares what only the kernel sets."""
    from ..netlink.socket import NetlinkSocket

    wiphy = record.get("phy")
    if wiphy is not None:
        return _phy_not_genuine(guest, index, record)
    with NetlinkSocket() as host:
        seen = host.link(index=index, netnsid=host_nsid(host, guest.netns.fd))
    if seen is None:
        return "it is gone"
    if (seen.kind or "") != record["kind"]:
        return f"it is a {seen.kind or 'NIC'}, not the {record['kind'] or 'NIC'} pipework moved"
    peer = (seen.link, seen.link_netnsid) if seen.link_netnsid is not None else (None, None)
    if peer != (record["peer"], record["peer_nsid"]):
        return "it is not linked where the NIC pipework moved was"
    return None


def _phy_not_genuine(guest: Guest, index: int, record: dict[str, object]) -> str | None:
    """For a NIC moved with its wiphy: the recorded wiphy must be in the guest's
    namespace (a guest cannot create a wiphy; indexes are never reused), and the
    interface ``index`` must be the recorded wdev of it (kernel-set: a Wi-Fi interface
    the guest added to the phy has another). Asked over an nl80211 socket in the guest."""
    from ..nl80211 import Nl80211

    with Nl80211.inside(guest.netns) as wifi:
        if record["phy"] not in wifi.wiphys():
            return f"wiphy {record.get('phyname') or record['phy']} is not in the guest"
        iface = wifi.interface(ifindex=index)
    if iface is None or iface.wdev != record.get("wdev"):
        return "it is not the Wi-Fi interface pipework moved"
    return None


def _netns_inodes() -> set[int]:
    """The network namespaces that exist: held by a process, or by a name (ip netns)."""
    paths = [f"/proc/{pid}/ns/net" for pid in os.listdir("/proc") if pid.isdigit()]
    for base in NETNS_RUN_DIRS:
        try:
            paths += [f"{base}/{name}" for name in os.listdir(base)]
        except OSError:
            pass
    inodes = set()
    for path in paths:
        try:
            inodes.add(os.stat(path).st_ino)
        except OSError:
            continue
    return inodes


def load_record(inode: int, index: int) -> dict[str, object] | None:
    from .._lowlevel.jsonlite import loads

    try:
        with open(_path(inode, index), "rb") as f:
            data = loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _save(inode: int, index: int, record: dict[str, object]) -> None:
    from .._lowlevel.jsonlite import dumps

    write_atomically(_path(inode, index), dumps(record))


def forget(inode: int, index: int) -> None:
    try:
        os.unlink(_path(inode, index))
    except FileNotFoundError:
        pass


def stale_records() -> list[str]:
    """Remove, and name, the records whose guest namespace no longer exists."""
    try:
        names = [n for n in os.listdir(RECORD_DIR) if n.endswith(".json")]
    except FileNotFoundError:
        return []
    alive = _netns_inodes()
    gone = []
    for name in sorted(names):
        inode, _, index = name[: -len(".json")].partition("-")
        if inode.isdigit() and index.isdigit() and int(inode) not in alive:
            forget(int(inode), int(index))
            gone.append(name)
    return gone


def give_back(
    nl: NetlinkSocket, name: str, home_fd: int, original: str, mac: bytes | None, alias: str = ""
) -> None:
    """Move an interface from the guest back to the host as it was: its original name,
    MAC and alias (pipework's mark goes)."""
    link = nl.link(name)
    if link is None:
        return  # gone already (the guest's namespace took it)
    index = link.index
    nl.request(m.set_link(index, up=False), op="bring down", obj=name)
    nl.request(m.set_link(index, address=mac, alias=alias), op="restore", obj=name)
    nl.request(m.move_link(index, home_fd, original), op="give back", obj=f"{name} as {original}")


def _configure(ctx: AttachContext) -> None:
    link = ctx.guest_end()
    ctx.guest_nl.request(
        m.set_link(link.index, mtu=ctx.spec.mtu, address=ctx.spec.mac),
        op="configure",
        obj=f"{ctx.spec.container_ifname} in {ctx.guest.label}",
    )


def _mark_it(ctx: AttachContext) -> None:
    link = ctx.guest_end()
    ctx.guest_nl.request(
        m.set_link(link.index, alias=_mark(ctx)), op="mark", obj=ctx.spec.container_ifname
    )
