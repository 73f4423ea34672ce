"""Typed netlink operations: one call, one record, or None when the object is gone.

The socket answers with raw replies and the messages module builds and parses
bodies; these pair them, so no caller slices a reply tuple, and what counts as
"already gone" (ENODEV for a link; also ENOENT and EINVAL when the namespace a
``netnsid`` names is going away) is decided here once.
"""

from __future__ import annotations

from errno import EADDRNOTAVAIL, EINVAL, ENODEV, ENOENT, ESRCH

from ..errors import NetlinkError
from . import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .messages import Address, Link, Request, Route
    from .socket import NetlinkSocket

#: errnos of a link that is not there
LINK_GONE = (ENODEV,)
#: ... and of a peer namespace (IFLA_TARGET_NETNSID) that is being torn down
PEER_GONE = (ENODEV, ENOENT, EINVAL)
#: errnos of an address or route that went with its interface
ROUTE_OR_ADDRESS_GONE = (ENODEV, ESRCH, EADDRNOTAVAIL)


def link(
    nl: NetlinkSocket,
    name: str | None = None,
    *,
    index: int = 0,
    netnsid: int | None = None,
    obj: str | None = None,
) -> Link | None:
    """The link called ``name`` (or with ``index``), or None when there is none.

    ``netnsid`` reads it from another namespace, named by its id as the socket's
    namespace knows it (IFLA_LINK_NETNSID of a veth's host end)."""
    try:
        replies = nl.request(
            m.get_link(name, index, netnsid=netnsid),
            op="look up",
            obj=obj or name or f"interface {index}",
        )
    except NetlinkError as exc:
        if exc.errno in (LINK_GONE if netnsid is None else PEER_GONE):
            return None
        raise
    return m.parse_link(*replies[0][1:]) if replies else None


def links(nl: NetlinkSocket, *, obj: str = "") -> list[Link]:
    """Every link of the socket's namespace."""
    return [m.parse_link(*r[1:]) for r in nl.dump(m.dump_links(), op="list links", obj=obj)]


def addresses(
    nl: NetlinkSocket, family: int = m.AF_UNSPEC, *, netnsid: int | None = None, obj: str = ""
) -> list[Address]:
    """Every address of the socket's namespace (or of the peer namespace ``netnsid``,
    empty when that namespace is going away)."""
    try:
        replies = nl.dump(m.dump_addresses(family, netnsid=netnsid), op="list addresses", obj=obj)
    except NetlinkError as exc:
        if netnsid is None or exc.errno not in PEER_GONE:
            raise
        return []
    return [m.parse_address(*r[1:]) for r in replies]


def routes(nl: NetlinkSocket, family: int = m.AF_UNSPEC, *, obj: str = "") -> list[Route]:
    return [
        m.parse_route(*r[1:]) for r in nl.dump(m.dump_routes(family), op="list routes", obj=obj)
    ]


def default_routes(nl: NetlinkSocket, family: int, *, obj: str) -> list[tuple[Route, Request]]:
    """The unicast default routes of the main table, each with the request that puts
    it back exactly as it was (every attribute: metrics, nexthops, expiry...)."""
    found = []
    for _type, data, start, end in nl.dump(m.dump_routes(family), op="list routes", obj=obj):
        route = m.parse_route(data, start, end)
        if route.dst_len == 0 and route.table == m.RT_TABLE_MAIN and route.type == m.RTN_UNICAST:
            found.append((route, m.replay_route(data, start, end)))
    return found


def create_link(nl: NetlinkSocket, req: Request, *, name: str, op: str, obj: str) -> Link | None:
    """Create a link and read it back in the same round trip (NLM_F_ECHO, kernel >= 6.1),
    on older kernels with one more request by name; None if it is already gone."""
    msg_type, flags, body = req
    replies = nl.request((msg_type, flags | m.NLM_F_ECHO, body), op=op, obj=obj)
    for rtype, data, start, end in replies:
        if rtype == m.RTM_NEWLINK:
            return m.parse_link(data, start, end)
    return link(nl, name)


def delete_link(
    nl: NetlinkSocket,
    index: int = 0,
    *,
    name: str | None = None,
    obj: str,
    missing_ok: bool = True,
) -> bool:
    """Delete a link by index (or by name); False when it was gone already (a guest
    that exited takes its interfaces with it), unless ``missing_ok`` is False."""
    req = m.delete_link_by_name(name) if name is not None else m.delete_link(index)
    try:
        nl.request(req, op="delete", obj=obj)
    except NetlinkError as exc:
        if not missing_ok or exc.errno not in LINK_GONE:
            raise
        return False
    return True


def gone_ok(call: Callable[[], object]) -> Callable[[], None]:
    """An undo that may find its object already gone with the guest's interface (a
    route or an address removed along with it): that is not a failure of the undo."""

    def undo() -> None:
        try:
            call()
        except NetlinkError as exc:
            if exc.errno not in ROUTE_OR_ADDRESS_GONE:
                raise

    return undo
