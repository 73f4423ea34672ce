"""``pipework link``: a veth pair straight between two guests, no bridge in between.

One RTM_NEWLINK makes the pair with each end already inside its guest, under its
final name (what containerlab and koko do with two requests and a move). Both
ends are marked inside their guests, so ``detach`` on either side removes the
pair. Addresses are optional (``--ip-a``, ``--ip-b``).
"""

from __future__ import annotations

from errno import EEXIST

from .._lowlevel.record import Record
from ..engine.context import ns_word
from ..engine.executor import apply
from ..errors import HostStateError, NetlinkError, UsageError
from ..guests import resolve
from ..marks import guest_mark
from ..netlink import messages as m
from ..netlink.socket import NetlinkSocket
from ..steps import Rollback, Step

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..inet import IPInterface
    from ..model import Guest
    from ..names import GuestRef


class LinkEnd(Record):
    """One end of a link: the guest, the interface name in it, its addresses."""

    guest: GuestRef
    ifname: str
    addresses: tuple[IPInterface, ...]


def parse_end(text: str) -> tuple[GuestRef, str]:
    """``GUEST[:IF]`` (``docker:web:eth2``, ``demo1:eth3``, ``/run/netns/x:eth1``)."""
    from ..names import RUNTIME_ALIASES, RUNTIMES, check_ifname, parse_guest_ref

    if text.startswith("/"):
        path, colon, ifname = text.rpartition(":")
        guest_text, ifname = (path, ifname) if colon else (text, "")
    else:
        head, colon, rest = text.partition(":")
        if colon and (head in RUNTIMES or head in RUNTIME_ALIASES):
            name, colon2, ifname = rest.partition(":")
            guest_text = f"{head}:{name}"
            ifname = ifname if colon2 else ""
        else:
            guest_text, ifname = head, rest
    ifname = check_ifname(ifname, "interface name") if ifname else "eth1"
    return parse_guest_ref(guest_text), ifname


def check_addresses(a: LinkEnd, b: LinkEnd) -> None:
    """Refuse ends that could not talk to each other: one address on both ends, or
    addresses of one family on one end and only of the other on the other end."""
    for mine in a.addresses:
        for theirs in b.addresses:
            if (mine.family, mine.address.value) == (theirs.family, theirs.address.value):
                raise UsageError(
                    f"{mine.address} is on both ends of the link; each end needs an address "
                    "of its own"
                )
    families_a = {iface.family for iface in a.addresses}
    families_b = {iface.family for iface in b.addresses}
    if families_a and families_b and not families_a & families_b:
        raise UsageError(
            f"one end has only IPv{min(families_a)} addresses, the other only "
            f"IPv{min(families_b)}: they could not talk to each other; give both ends "
            "an address of the same family"
        )


def link(a: LinkEnd, b: LinkEnd, *, verbose: bool = False) -> tuple[str, str]:
    """Link two guests; returns how the two ends are named (``label ifname``)."""
    check_addresses(a, b)
    with resolve(a.guest) as guest_a, resolve(b.guest) as guest_b:
        if guest_a.netns.inode == guest_b.netns.inode:
            raise UsageError(f"{guest_a.label} and {guest_b.label} are the same network namespace")
        with (
            NetlinkSocket() as host,
            NetlinkSocket.inside(guest_a.netns) as nl_a,
            NetlinkSocket.inside(guest_b.netns) as nl_b,
        ):
            steps = [
                Step(
                    f"ip link add {a.ifname} netns {ns_word(guest_a)} type veth "
                    f"peer name {b.ifname} netns {ns_word(guest_b)}",
                    lambda rb: _create(host, nl_a, guest_a, guest_b, a, b, rb),
                )
            ]
            for end, guest, nl, peer in (
                (a, guest_a, nl_a, f"{guest_b.label}:{b.ifname}"),
                (b, guest_b, nl_b, f"{guest_a.label}:{a.ifname}"),
            ):
                steps += _end_steps(end, guest, nl, peer)
            apply(steps, verbose=verbose)
        return f"{guest_a.label} {a.ifname}", f"{guest_b.label} {b.ifname}"


def _create(
    host: NetlinkSocket,
    nl_a: NetlinkSocket,
    guest_a: Guest,
    guest_b: Guest,
    a: LinkEnd,
    b: LinkEnd,
    rollback: Rollback,
) -> None:
    req = m.create_veth(a.ifname, b.ifname, peer_netns_fd=guest_b.netns.fd, up=False)
    msg_type, flags, body = req
    # the first end goes into A: IFLA_NET_NS_FD on the link itself
    body += m.IFLA.encode([("IFLA_NET_NS_FD", guest_a.netns.fd)])
    try:
        host.request((msg_type, flags, body), op="create veth", obj=f"{a.ifname}/{b.ifname}")
    except NetlinkError as exc:
        if exc.errno == EEXIST:
            raise HostStateError(
                f"{a.ifname} in {guest_a.label} or {b.ifname} in {guest_b.label} already exists",
                hint="choose other names: GUEST:IFNAME",
            ) from None
        raise

    def undo() -> None:
        nl_a.delete_link(name=a.ifname, obj=a.ifname)

    rollback.push(f"ip -n {ns_word(guest_a)} link del {a.ifname}", undo)


def _end_steps(end: LinkEnd, guest: Guest, nl: NetlinkSocket, peer: str) -> list[Step]:
    mark = guest_mark("link", guest.label, end.ifname, guest.netns.inode, peer=peer)

    def index() -> int:
        link = nl.link(end.ifname)
        if link is None:
            raise HostStateError(f"{end.ifname} vanished from {guest.label}")
        return link.index

    steps = [
        Step(
            f"ip -n {ns_word(guest)} link set {end.ifname} alias '{mark}'",
            lambda rb: _request(nl, m.set_link(index(), alias=mark), end.ifname),
        ),
    ]
    for iface in end.addresses:
        steps.append(
            Step(
                f"ip -n {ns_word(guest)} addr add {iface} dev {end.ifname}",
                _adder(nl, index, iface, end.ifname),
            )
        )
    steps.append(
        Step(
            f"ip -n {ns_word(guest)} link set {end.ifname} up",
            lambda rb: _request(nl, m.set_link(index(), up=True), end.ifname),
        )
    )
    return steps


def _adder(
    nl: NetlinkSocket, index: Callable[[], int], iface: IPInterface, what: str
) -> Callable[[Rollback], None]:
    def add(rollback: Rollback) -> None:
        brd = iface.broadcast()
        req = m.add_address(
            index(),
            iface.address.af,
            iface.address.packed,
            iface.prefixlen,
            broadcast=brd.packed if brd else None,
            nodad=iface.family == 6,
        )
        _request(nl, req, what)

    return add


def _request(nl: NetlinkSocket, req: tuple[int, int, bytes], what: str) -> None:
    nl.request(req, op="configure", obj=what)
