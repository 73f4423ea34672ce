"""Put a lease on the guest interface: the address, then the routes it brings.

Shared by the attach (which records an undo for every change) and the renewal
process (which records none). As with a static ``@gateway``, the lease's router
replaces the guest's default route; a classless static routes option (121)
replaces the router option altogether (RFC 3442), its 0/0 entry becoming the
default route.
"""

from __future__ import annotations

import time

from ..inet import IPAddress, IPInterface
from ..netlink import messages as m
from ..routes import add_route, set_default_route
from ..steps import gone_ok

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..netlink.socket import NetlinkSocket
    from ..steps import Push
    from .client import Lease

AF_INET = m.AF_INET


def lease_interface(lease: Lease) -> IPInterface:
    return IPInterface(IPAddress(4, lease.address), lease.prefixlen)


def remaining(lease: Lease) -> int | None:
    """Seconds left on the lease for the address lifetime; None: infinite."""
    if lease.infinite:
        return None
    return max(1, int(lease.expires - time.time()))


def add_lease_address(
    nl: NetlinkSocket, index: int, label: str, lease: Lease, *, expiring: bool, replace: bool
) -> None:
    """The address with its broadcast; ``expiring``: it lives as long as the lease
    (renewals extend it), else it stays, as the original's ``udhcpc -q`` leaves it."""
    iface = lease_interface(lease)
    brd = iface.broadcast()
    nl.request(
        m.add_address(
            index,
            AF_INET,
            lease.address,
            lease.prefixlen,
            broadcast=brd.packed if brd else None,
            lifetime=remaining(lease) if expiring else None,
            replace=replace,
        ),
        op="add the leased address",
        obj=f"{iface} in {label}",
    )


def apply_lease(
    nl: NetlinkSocket, index: int, label: str, lease: Lease, *, expiring: bool, push: Push
) -> list[str]:
    """Address and routes; returns warnings about what the lease held that was unusable."""
    iface = lease_interface(lease)
    add_lease_address(nl, index, label, lease, expiring=expiring, replace=False)
    push(
        f"ip addr del {iface}",
        gone_ok(
            lambda: nl.request(
                m.delete_address(index, AF_INET, lease.address, lease.prefixlen),
                op="remove the leased address",
                obj=str(iface),
            )
        ),
    )
    # a router the static path would refuse as @GATEWAY (the subnet's broadcast, the
    # leased address itself...) is left out with a note, as systemd-networkd does
    warnings = []
    if lease.routes:
        for dst, width, via in lease.routes:
            if via == b"\0\0\0\0" and width:
                add_route(nl, push, label, AF_INET, dst, width, None, m.RT_SCOPE_LINK, index)
            elif (problem := lease.router_problem(via)) is not None:
                what = "default route" if width == 0 else f"route to {IPAddress(4, dst)}/{width}"
                warnings.append(f"ignored the lease's {what}: {problem}")
            elif width == 0:
                set_default_route(nl, index, IPAddress(4, via), (iface,), label, push)
            else:
                add_route(nl, push, label, AF_INET, dst, width, via, m.RT_SCOPE_UNIVERSE, index)
    else:
        for router in lease.routers:  # the first usable one; a note for each skipped
            problem = lease.router_problem(router)
            if problem is None:
                set_default_route(nl, index, IPAddress(4, router), (iface,), label, push)
                break
            warnings.append(f"ignored the lease's router: {problem}")
    return warnings
