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
    from .model import GuestRef

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

    try:
        with resolve(ref) as guest:
            inode: int | None = guest.netns.inode
    except GuestNotFound:
        inode = None  # gone: only marks naming it can be left (and the kernel took them)
    removed = []
    with NetlinkSocket() as host:
        for link in (m.parse_link(*r[1:]) for r in host.dump(m.dump_links(), op="list links")):
            mark = parse_veth_mark(link.alias)
            if mark is None:
                continue
            label, mark_ifname, mark_inode = mark
            mine = mark_inode == inode if inode is not None else _same_guest(label, ref)
            if not mine or (not everything and mark_ifname != ifname):
                continue
            if verbose:
                sys.stderr.write(f"+ ip link del {link.name}\n")
            try:
                host.request(m.delete_link(link.index), op="delete", obj=f"veth {link.name}")
            except NetlinkError as exc:
                if exc.errno != ENODEV:  # gone meanwhile: that is what we wanted
                    raise
            removed.append(link.name)
    return removed
