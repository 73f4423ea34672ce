"""Routes in a guest: replace its default route, add a route; each change with its undo.

Shared by a static ``@gateway`` (the attach engine), a lease's router and
classless routes (the built-in DHCP client and its renewal process). As in the
original, a gateway replaces the default route of its family: the old default
routes are deleted, each recorded so that it comes back exactly as it was, and a
gateway outside every subnet of the new interface that the guest has no route
to first gets an on-link host route through it (the original's ``ip route get
GW || ip route add GW/32 dev IF``).
"""

from __future__ import annotations

from errno import EEXIST, EHOSTUNREACH, ENETUNREACH

from .errors import NetlinkError
from .netlink import messages as m
from .steps import gone_ok

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .inet import IPAddress, IPInterface
    from .netlink.messages import Request
    from .netlink.socket import NetlinkSocket
    from .steps import Push


def set_default_route(
    nl: NetlinkSocket,
    index: int,
    gateway: IPAddress,
    addresses: tuple[IPInterface, ...],
    label: str,
    push: Push,
) -> None:
    """Replace the default routes of ``gateway``'s family with one via ``gateway`` on
    link ``index`` (``addresses``: the link's, for the on-link test); ``push``
    records how to undo each change (the old routes come back exactly)."""
    where = f"in {label}"
    for route, again in nl.default_routes(gateway.af, obj=where):
        nl.request(m.delete_route(route), op="remove the default route", obj=where)
        push("restore the old default route", _replayer(nl, again, where))
    oif: int | None = index
    if needs_onlink_route(gateway, addresses):
        if _reachable(nl, gateway):
            oif = None  # as the original: the kernel's existing route to the gateway decides
        else:
            add_route(
                nl, push, label, gateway.af, gateway.packed, gateway.bits, None, m.RT_SCOPE_LINK,
                index,
            )  # fmt: skip
    add_route(nl, push, label, gateway.af, None, 0, gateway.packed, m.RT_SCOPE_UNIVERSE, oif)


def needs_onlink_route(gateway: IPAddress, addresses: tuple[IPInterface, ...]) -> bool:
    """Whether the gateway lies outside every subnet of the new interface."""
    if gateway.family == 6 and gateway.is_link_local:
        return False
    return not any(iface.contains(gateway) for iface in addresses)


def _reachable(nl: NetlinkSocket, gateway: IPAddress) -> bool:
    try:
        nl.request(m.get_route(gateway.af, gateway.packed), op="look up route to", obj=str(gateway))
    except NetlinkError as exc:
        if exc.errno in (ENETUNREACH, EHOSTUNREACH):
            return False
        raise
    return True


def add_route(
    nl: NetlinkSocket,
    push: Push,
    label: str,
    family: int,
    dst: bytes | None,
    dst_len: int,
    via: bytes | None,
    scope: int,
    oif: int | None,
) -> None:
    """Add a route to the main table (``push`` records its removal)."""
    route = main_route(family, dst, dst_len, via, scope, oif)
    what = _describe_route(family, dst, dst_len, via)
    nl.request(m.add_route(route), op="add route", obj=f"{what} in {label}")
    push(
        f"ip route del {what}",
        gone_ok(lambda: nl.request(m.delete_route(route), op="remove route", obj=what)),
    )


def main_route(
    family: int, dst: bytes | None, dst_len: int, via: bytes | None, scope: int, oif: int | None
) -> m.Route:
    """A unicast route of the main table, as pipework adds them."""
    return m.Route(
        family=family,
        dst_len=dst_len,
        table=m.RT_TABLE_MAIN,
        protocol=m.RTPROT_BOOT,
        scope=scope,
        type=m.RTN_UNICAST,
        dst=dst,
        gateway=via,
        oif=oif,
        priority=None,
        prefsrc=None,
    )


def _describe_route(family: int, dst: bytes | None, dst_len: int, via: bytes | None) -> str:
    from .inet import IPAddress

    version = 4 if family == m.AF_INET else 6
    target = f"{IPAddress(version, dst)}/{dst_len}" if dst and dst_len else "default"
    return target + (f" via {IPAddress(version, via)}" if via else "")


def _replayer(nl: NetlinkSocket, req: Request, where: str) -> Callable[[], None]:
    def replay() -> None:
        try:
            nl.request(req, op="restore the old default route", obj=where)
        except NetlinkError as exc:
            if exc.errno != EEXIST:
                raise

    return replay
