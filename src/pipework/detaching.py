"""Detach: remove what pipework attached to a guest, found by its marks in the kernel.

Deleting the host end of a pair deletes the guest end with it, and with it every
address and route on it. Only links carrying pipework's mark for this guest are
touched. Detaching what is already gone succeeds (as a CNI DEL must): a guest
that exited took its interfaces with it.
"""

from __future__ import annotations

from .errors import GuestNotFound, NetlinkError
from .guests import resolve
from .marks import parse_veth_mark
from .netlink import messages as m
from .netlink.socket import NetlinkSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import Guest, GuestRef

ENODEV = 19


def _same_guest(label: str, ref: GuestRef) -> bool:
    kind, _, name = label.partition(":")
    return name == ref.value and (ref.kind is None or ref.kind == kind)


def detach(
    ref: GuestRef, *, ifname: str = "eth1", everything: bool = False, verbose: bool = False
) -> list[str]:
    """Remove the guest's attachment of ``ifname`` (or all of them); return the host
    interfaces removed. An empty list means there was nothing left to remove."""
    import sys

    removed: list[str] = []
    try:
        guest = resolve(ref)
    except GuestNotFound:
        guest = None  # gone: only marks naming it can be left (and the kernel took them)
    inode = guest.netns.inode if guest is not None else None
    if guest is not None:
        with guest:
            removed += _detach_inside(guest, ifname, everything, verbose)
    with NetlinkSocket() as host:
        links = [m.parse_link(*r[1:]) for r in host.dump(m.dump_links(), op="list links")]
        names = {link.index: link.name for link in links}
        for link in links:
            mark = parse_veth_mark(link.alias)
            if mark is None:
                continue
            label, mark_ifname, mark_inode = mark
            mine = mark_inode == inode if inode is not None else _same_guest(label, ref)
            if not mine or (not everything and mark_ifname != ifname):
                continue
            _stop_renewal(mark_inode, mark_ifname, verbose)
            if verbose:
                sys.stderr.write(f"+ ip link del {link.name}\n")
            if link.master is None or names.get(link.master) == "ovs-system":
                from .drivers.ovs import remove_port

                remove_port(link.name)  # an OVS port: its database record goes too
            try:
                host.request(m.delete_link(link.index), op="delete", obj=f"veth {link.name}")
            except NetlinkError as exc:
                if exc.errno != ENODEV:  # gone meanwhile: that is what we wanted
                    raise
            removed.append(link.name)
    return removed


def _detach_inside(guest: Guest, ifname: str, everything: bool, verbose: bool) -> list[str]:
    """Interfaces pipework made or moved inside the guest (macvlan, ipvlan, dummy, IPoIB,
    a moved NIC, a link between guests): deleted, or a NIC given back to the host."""
    import sys

    from .drivers.direct import give_back
    from .mac import parse_mac
    from .marks import parse_mark
    from .netns import NetNS

    removed = []
    with NetlinkSocket.inside(guest.netns) as nl:
        links = [m.parse_link(*r[1:]) for r in nl.dump(m.dump_links(), op="list links")]
        for link in links:
            mark = parse_mark(link.alias)
            if not mark or "kind" not in mark or mark.get("ns") != str(guest.netns.inode):
                continue
            if not everything and link.name != ifname:
                continue
            _stop_renewal(guest.netns.inode, link.name, verbose)
            if mark["kind"] == "direct":
                original = mark.get("orig", link.name)
                if verbose:
                    sys.stderr.write(f"+ ip link set {link.name} netns 1 name {original}\n")
                mac = parse_mac(mark["origmac"]) if "origmac" in mark else None
                with NetNS.current() as home:
                    give_back(nl, link.name, home.fd, original, mac, mark.get("origalias", ""))
                removed.append(f"{link.name} (given back to the host as {original})")
                continue
            if verbose:
                sys.stderr.write(f"+ ip link del {link.name}  # in {guest.label}\n")
            try:
                nl.request(m.delete_link(link.index), op="delete", obj=link.name)
            except NetlinkError as exc:
                if exc.errno != ENODEV:
                    raise
            removed.append(f"{link.name} (in {guest.label})")
    return removed


def _stop_renewal(inode: int, ifname: str, verbose: bool) -> None:
    """A lease renewal process (``dhcp-f``) of the interface releases the lease and
    ends before the interface goes; an external client pipework left running ends."""
    import os

    from .dhcp import external
    from .dhcp.state import STATE_DIR, key

    if os.path.isdir(external.SANDBOX_DIR):  # pipework has run an external client here
        for pid in external.stop_clients(inode, ifname):
            if verbose:
                import sys

                sys.stderr.write(f"+ kill {pid}  # the DHCP client pipework started\n")
    if not os.path.isdir(STATE_DIR):
        return
    from .dhcp.keeper import stop

    name = key(inode, ifname)
    if stop(name, release=True) and verbose:
        import sys

        sys.stderr.write(f"+ kill $(cat {STATE_DIR}/{name}.pid)  # releases the DHCP lease\n")
