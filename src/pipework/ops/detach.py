"""Detach: remove what pipework attached to a guest, found by its marks in the kernel.

Deleting the host end of a pair deletes the guest end with it, and with it every
address and route on it. Only links carrying pipework's mark for this guest are
touched, each through the driver of its kind (an OVS port's database record goes
too; a NIC moved into the guest is given back). Detaching what is already gone
succeeds (as a CNI DEL must): a guest that exited took its interfaces with it.
"""

from __future__ import annotations

import sys

from .. import drivers
from ..errors import GuestNotFound, HostStateError
from ..guests import resolve
from ..marks import parse_mark, parse_veth_mark
from ..netlink.socket import NetlinkSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..model import Guest
    from ..names import GuestRef
    from ..netlink.messages import Link


def _same_guest(label: str, ref: GuestRef) -> bool:
    kind, _, name = label.partition(":")
    return name == ref.value and (ref.kind is None or ref.kind == kind)


def _say(verbose: bool, command: str) -> None:
    if verbose:  # interface names come from the guest: no escapes reach the terminal
        from .._lowlevel.terminal import printable

        sys.stderr.write(f"+ {printable(command)}\n")


def detach(
    ref: GuestRef, *, ifname: str = "eth1", everything: bool = False, verbose: bool = False
) -> list[str]:
    """Remove the guest's attachment of ``ifname`` (or all of them); return the host
    interfaces removed. An empty list means there was nothing left to remove."""
    try:
        guest = resolve(ref)
    except GuestNotFound:
        guest = None  # gone: only marks naming it can be left (and the kernel took them)
    if guest is None:
        return detach_resolved(
            None, lambda label, _ifname: _same_guest(label, ref), ifname, everything, verbose
        )
    with guest:
        return detach_resolved(guest, None, ifname, everything, verbose)


def detach_resolved(
    guest: Guest | None,
    named: Callable[[str, str], bool] | None,
    ifname: str,
    everything: bool = False,
    verbose: bool = False,
) -> list[str]:
    """Detach from a guest already found; with ``guest`` None (its namespace is gone),
    the host ends whose mark's guest label and interface ``named`` accepts. With a
    guest, its host ends are known by its namespace, and ``named`` (when given) must
    accept them too."""
    if guest is None and named is None:
        raise ValueError("detach_resolved needs a guest or a way to know its marks")
    removed: list[str] = []
    inode = guest.netns.inode if guest is not None else None
    if guest is not None:
        removed += _detach_inside(guest, ifname, everything, verbose)
    with NetlinkSocket() as host:
        links = host.links()
        names = {link.index: link.name for link in links}
        bridges: dict[int, str] = {}  # the bridges a removed port was on
        for link in links:
            mark = parse_veth_mark(link.alias)
            if mark is None:
                continue
            label, mark_ifname, mark_inode = mark
            mine = inode is None or mark_inode == inode
            mine = mine and (named is None or named(label, mark_ifname))
            if not mine or (not everything and mark_ifname != ifname):
                continue
            _stop_renewal(mark_inode, mark_ifname, verbose)
            _say(verbose, f"ip link del {link.name}")
            kind = drivers.owner(link, names)
            if kind is not None:
                kind.release(link)
            host.delete_link(link.index, obj=f"veth {link.name}")
            removed.append(link.name)
            if link.master in names:
                bridges[link.master] = names[link.master]
        for index, bridge in bridges.items():
            _release_forward(index, bridge, links, removed, verbose)
    return removed


def _release_forward(
    index: int, bridge: str, links: list[Link], removed: list[str], verbose: bool
) -> None:
    """The last port pipework attached to ``bridge`` is gone: pipework's accept rule
    for it (``--allow-forward``) goes too. A note left by the attach says whether
    there is one, so a detach never spawns a firewall tool for nothing."""
    from ..doctor import forward

    if not forward.has_note(bridge):
        return
    for link in links:
        if link.master == index and link.name not in removed and parse_veth_mark(link.alias):
            return  # another guest still uses the bridge
    for command in forward.remove_forward(bridge):
        _say(verbose, command)
    forward.drop_note(bridge)


def _detach_inside(guest: Guest, ifname: str, everything: bool, verbose: bool) -> list[str]:
    """Interfaces pipework made or moved inside the guest (macvlan, ipvlan, dummy, IPoIB,
    a moved NIC, a link between guests), each undone by the driver of its kind."""
    removed = []
    with NetlinkSocket.inside(guest.netns) as nl:
        for link in nl.links():
            mark = parse_mark(link.alias)
            if not mark or "kind" not in mark or mark.get("ns") != str(guest.netns.inode):
                continue
            if not everything and link.name != ifname:
                continue
            _stop_renewal(guest.netns.inode, link.name, verbose)
            kind = drivers.inside_owner(mark["kind"])
            shim_routes = None
            if link.kind == "macvlan" and "parent" in mark:  # its host route via a shim
                from ..drivers.shim import guest_addresses

                shim_routes = guest_addresses(nl, link)
            try:
                command, what = kind.remove_inside(nl, link, mark, guest)
            except HostStateError as exc:
                if not everything:
                    raise
                # one interface the guest marked itself does not stop the others
                from .._lowlevel.terminal import printable

                sys.stderr.write(f"pipework: {printable(exc.message)}\n")
                continue
            _say(verbose, command)
            removed.append(what)
            if shim_routes is not None:
                from ..drivers.shim import forget_guest

                for text in forget_guest(mark["parent"], link, shim_routes):
                    _say(verbose, text)
    return removed


def _stop_renewal(inode: int, ifname: str, verbose: bool) -> None:
    """A lease renewal process (``dhcp-f``) of the interface releases the lease and
    ends before the interface goes; an external client pipework left running ends."""
    from ..dhcp.paths import STATE_DIR, clients_started, key, renewing

    if clients_started(inode, ifname):
        from ..dhcp.external import stop_clients

        for pid in stop_clients(inode, ifname):
            _say(verbose, f"kill {pid}  # the DHCP client pipework started")
    if not renewing(inode, ifname):
        return  # (the keeper, and the signal and enum modules it imports, not needed)
    name = key(inode, ifname)
    from ..dhcp.keeper import stop

    if stop(name, release=True):
        _say(verbose, f"kill $(cat {STATE_DIR}/{name}.pid)  # releases the DHCP lease")
