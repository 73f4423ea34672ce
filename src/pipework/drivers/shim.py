"""The host's way to its own macvlan guests: a macvlan "shim" on the parent NIC.

The kernel never passes frames between a NIC's own stack and the macvlans on it:
the host cannot reach its macvlan guests through the NIC, whatever its routes.
Another macvlan, in bridge mode, made on the host on the same parent is a peer of
the guests' in the parent's macvlan bridge: routes through it reach them. It is
named ``pws-NIC`` (so an attach finds it with one lookup), marked as pipework's
(``marks.shim_mark``), and carries:

* an address, when ``pipework shim NIC ADDRESS/PREFIX`` gives one (the host's
  source towards the guests; without one the kernel picks another of the host's);
* a host route (/32, /128) to each static address of each macvlan guest that
  attaches on the parent while the shim is there, removed when that guest is
  detached; and the routes given with ``--route`` (the guests' subnet, for guests
  that were there before the shim).

Made by an attach's ``--host-shim`` (``auto=1`` in its mark), it goes when its
last guest route does; made by ``pipework shim``, only ``pipework shim NIC
--remove`` removes it. Deleting the shim deletes its routes with it.
"""

from __future__ import annotations

from errno import EEXIST, ESRCH

from ..errors import HostStateError, NetlinkError, UsageError
from ..marks import parse_shim_mark, shim_mark
from ..netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..engine.context import AttachContext
    from ..inet import IPAddress, IPInterface
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback, Step

    Push = Callable[[str, Callable[[], None]], None]

PREFIX = "pws-"


def shim_name(parent: str) -> str:
    return (PREFIX + parent)[:15]


def find_shim(nl: NetlinkSocket, parent: Link) -> Link | None:
    """The shim pipework made on ``parent``, or None. An interface of the shim's name
    that is not pipework's shim on this very parent is an error: never touched."""
    name = shim_name(parent.name)
    link = nl.link(name)
    if link is None:
        return None
    if link.kind != "macvlan" or link.link != parent.index or not parse_shim_mark(link.alias):
        raise HostStateError(
            f"{name} exists and is not pipework's shim on {parent.name}; not touching it",
            hint="rename or remove it, then try again",
        )
    return link


def is_auto(shim: Link) -> bool:
    mark = parse_shim_mark(shim.alias)
    return bool(mark and mark.get("auto") == "1")


def create_shim(nl: NetlinkSocket, parent: Link, *, auto: bool, push: Push) -> Link:
    """Make the shim on ``parent`` (bridge mode, marked, up)."""
    name = shim_name(parent.name)
    obj = f"shim {name} on {parent.name}"
    req = m.create_link(
        "macvlan", name, parent=parent.index, data=[("IFLA_MACVLAN_MODE", m.MACVLAN_MODE["bridge"])]
    )
    try:
        link = nl.create_link(req, name=name, op="create", obj=obj)
    except NetlinkError as exc:
        if exc.errno != EEXIST:
            raise
        link = find_shim(nl, parent)  # another attach made it a moment ago: share it
        if link is not None:
            return link
    if link is None:
        raise HostStateError(f"{obj} vanished as it was made")
    push(f"ip link del {name}", lambda: _delete(nl, link.index, obj))
    nl.request(
        m.set_link(link.index, alias=shim_mark(parent.name, auto), up=True), op="mark", obj=obj
    )
    return link


def _delete(nl: NetlinkSocket, index: int, obj: str) -> None:
    nl.delete_link(index, obj=obj)


def shim_command(parent: str, auto: bool) -> str:
    """``create_shim`` as ip commands, for ``-v``."""
    name = shim_name(parent)
    return (
        f"ip link add link {parent} name {name} type macvlan mode bridge && "
        f"ip link set {name} alias '{shim_mark(parent, auto)}' up"
    )


def _route(shim: Link, dst: IPAddress, prefixlen: int) -> m.Route:
    from ..routes import main_route

    return main_route(dst.af, dst.packed, prefixlen, None, m.RT_SCOPE_LINK, shim.index)


def add_routes(
    nl: NetlinkSocket, shim: Link, destinations: Iterable[IPInterface], push: Push
) -> list[str]:
    """Route each destination through the shim (a route already there is kept, and
    not undone); the commands, for ``-v``."""
    done = []
    for dst in destinations:
        route = _route(shim, dst.network_address(), dst.prefixlen)
        text = f"ip route add {_text(dst)} dev {shim.name}"
        try:
            nl.request(m.add_route(route), op="add route", obj=f"{_text(dst)} via {shim.name}")
        except NetlinkError as exc:
            if exc.errno != EEXIST:
                raise
            continue
        push(text.replace(" add ", " del ", 1), _route_undo(nl, route))
        done.append(text)
    return done


def _text(dst: IPInterface) -> str:
    return f"{dst.network_address()}/{dst.prefixlen}"


def _route_undo(nl: NetlinkSocket, route: m.Route) -> Callable[[], None]:
    def undo() -> None:
        _forget(nl, route)

    return undo


def _forget(nl: NetlinkSocket, route: m.Route) -> bool:
    try:
        nl.request(m.delete_route(route), op="remove route", obj="through the shim")
    except NetlinkError as exc:
        if exc.errno != ESRCH:  # gone with the shim
            raise
        return False
    return True


def add_address(nl: NetlinkSocket, shim: Link, iface: IPInterface, push: Push) -> bool:
    """Put ``iface`` on the shim; False when it was there already."""
    packed, af = iface.address.packed, iface.address.af
    if not nl.ensure_address(shim.index, iface, obj=f"{iface} on {shim.name}"):
        return False

    def undo() -> None:
        req = m.delete_address(shim.index, af, packed, iface.prefixlen)
        nl.request(req, op="remove", obj=f"{iface} from {shim.name}")

    push(f"ip addr del {iface} dev {shim.name}", undo)
    return True


def host_routes(nl: NetlinkSocket, shim: Link) -> list[m.Route]:
    """The host routes (/32, /128) through the shim: one per guest address."""
    return [
        r
        for r in nl.routes()
        if r.oif == shim.index
        and r.table == m.RT_TABLE_MAIN
        and r.dst is not None
        and r.dst_len == 8 * len(r.dst)
        and r.protocol != m.RTPROT_KERNEL
    ]


def guest_addresses(nl: NetlinkSocket, link: Link) -> list[IPInterface]:
    """The global addresses of a guest's interface (``nl`` inside the guest), each as
    the host route to it."""
    from ..inet import IPAddress, IPInterface

    found = []
    for a in nl.addresses(obj=f"of {link.name}"):
        if a.index == link.index and a.scope == m.RT_SCOPE_UNIVERSE and a.local:
            address = IPAddress(4 if a.family == m.AF_INET else 6, a.local)
            found.append(IPInterface(address, address.bits))
    return found


def forget_guest(parent_name: str, guest_link: Link, addresses: Iterable[IPInterface]) -> list[str]:
    """A macvlan guest on ``parent_name`` was detached: remove its host routes through
    the shim, and the shim itself when ``--host-shim`` made it and no guest route is
    left. The commands done, for ``-v``.

    The parent's name comes from the mark inside the guest, which the guest can write:
    only when the kernel says the guest's interface was a macvlan on that very parent
    (its lower link is in another namespace and has the parent's index) is anything
    on the host touched."""
    from ..netlink.socket import NetlinkSocket

    done: list[str] = []
    with NetlinkSocket() as nl:
        parent = nl.link(parent_name)
        if parent is None or guest_link.link_netnsid is None or guest_link.link != parent.index:
            return done
        try:
            shim = find_shim(nl, parent)
        except HostStateError:
            return done  # not ours: nothing of pipework's to remove
        if shim is None:
            return done
        for iface in addresses:
            bits = iface.address.bits
            if _forget(nl, _route(shim, iface.address, bits)):
                done.append(f"ip route del {iface.address}/{bits} dev {shim.name}")
        if is_auto(shim) and not host_routes(nl, shim):
            nl.delete_link(shim.index, obj=f"shim {shim.name}")
            done.append(f"ip link del {shim.name}  # its last guest is gone")
    return done


def attach_steps(ctx: AttachContext) -> list[Step]:
    """The steps of a macvlan attach for the host's way to the guest: a host route to
    each static address through the parent's shim, when there is one or ``--host-shim``
    asks for it (then made first)."""
    from ..inet import IPInterface
    from ..steps import Step

    spec, parent = ctx.spec, ctx.uplink
    assert parent is not None
    if spec.vlan is not None:
        if spec.host_shim:
            raise UsageError("--host-shim on a VLAN of a NIC is not supported yet")
        return []
    try:
        shim = find_shim(ctx.host, parent)
    except HostStateError:
        if spec.host_shim:
            raise
        return []  # an interface of that name, not pipework's: no shim to route through
    if shim is None and not spec.host_shim:
        return []
    made: list[Link] = [shim] if shim is not None else []
    steps = []
    if shim is None:

        def make(rollback: Rollback) -> None:
            made.append(create_shim(ctx.host, parent, auto=True, push=rollback.push))

        steps.append(Step(shim_command(parent.name, True), make))
    hosts = [IPInterface(a.address, a.address.bits) for a in spec.addressing.addresses]
    if hosts:
        name = shim_name(parent.name)
        text = " && ".join(f"ip route add {_text(h)} dev {name}" for h in hosts)

        def route(rollback: Rollback) -> None:
            add_routes(ctx.host, made[0], hosts, rollback.push)

        steps.append(Step(text, route))
    return steps
