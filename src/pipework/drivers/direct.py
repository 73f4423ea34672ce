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
        from .wireless import direct_refusal, wireless_phy

        phy = wireless_phy(link.name)
        if phy is not None:  # netns-local: the kernel would refuse the move (EINVAL)
            raise HostStateError(direct_refusal(link.name, phy))
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
        with NetNS.current() as home:
            give_back(nl, link.name, home.fd, original, mac, str(record.get("origalias", "")))
        forget(inode, link.index)
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
    steps = [
        Step(f"ip link set {nic.name} netns {ctx.ns_word} name {name}", lambda rb: _move(ctx, rb)),
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
