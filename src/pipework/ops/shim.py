"""``pipework shim``: give the host a way to its own macvlan guests (see drivers/shim.py).

    pipework shim NIC ADDRESS/PREFIX [--route NET/PREFIX]... [-v]
    pipework shim NIC --remove [-v]      (the same as pipework detach shim:NIC)

The first makes (or completes: running it again changes nothing) the shim
``pws-NIC`` with the address and routes; guests that attach later get their host
routes through it. The second removes it, and its routes with it.
"""

from __future__ import annotations

import sys

from ..errors import HostStateError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..inet import IPInterface

USAGE = """usage: pipework shim NIC ADDRESS/PREFIX [--route NET/PREFIX]... [-v]
       pipework shim NIC --remove [-v]

Give the host a way to its macvlan guests on NIC (the kernel passes nothing between
a NIC and its macvlans): a macvlan in bridge mode on NIC, pws-NIC, marked as
pipework's, with ADDRESS and a host route to every macvlan guest that attaches on
NIC from now on; --route adds a route through it (the subnet of guests already
there). pipework ls lists it; pipework detach shim:NIC (or --remove) removes it
with its routes; -v prints each
change as the equivalent ip command.

example:
  pipework shim eth0 192.168.1.250/32 --route 192.168.1.192/27
"""


class ShimRequest:
    __slots__ = ("address", "nic", "remove", "routes", "verbose")

    def __init__(
        self,
        nic: str,
        address: IPInterface | None,
        routes: list[IPInterface],
        remove: bool,
        verbose: bool,
    ) -> None:
        self.nic = nic
        self.address = address
        self.routes = routes
        self.remove = remove
        self.verbose = verbose


def parse_shim(args: Sequence[str]) -> ShimRequest | None:
    """The request, or None for --help."""
    from ..inet import parse_interface, parse_network
    from ..names import check_ifname

    positional: list[str] = []
    routes: list[IPInterface] = []
    remove = verbose = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            return None
        if arg == "--remove":
            remove = True
        elif arg in ("-v", "--verbose"):
            verbose = True
        elif arg == "--route":
            if i + 1 >= len(args):
                raise UsageError("pipework shim: --route needs a value (NET/PREFIX)")
            route = parse_network(args[i + 1], "--route")
            if route.prefixlen == 0:
                raise UsageError(
                    "pipework shim: --route is the guests' subnet, not a default route"
                )
            routes.append(route)
            i += 1
        elif arg.startswith("-"):
            raise UsageError(f"pipework shim: unknown option {arg!r} (see --help)")
        else:
            positional.append(arg)
        i += 1
    if remove and (len(positional) != 1 or routes):
        raise UsageError("pipework shim NIC --remove takes nothing else")
    if not remove and len(positional) != 2:
        raise UsageError("pipework shim takes NIC and ADDRESS/PREFIX (see --help)")
    nic = check_ifname(positional[0], "NIC")
    address = parse_interface(positional[1]) if not remove else None
    return ShimRequest(nic, address, routes, remove, verbose)


def run_shim_verb(args: Sequence[str]) -> int:
    request = parse_shim(args)
    if request is None:
        sys.stdout.write(USAGE)
        return 0
    say: Callable[[str], None] = say_command if request.verbose else (lambda _text: None)
    if request.remove:
        if remove_shim(request.nic, say) is None:
            sys.stderr.write(f"pipework: no shim of pipework's on {request.nic}; nothing to do\n")
        return 0
    assert request.address is not None
    make_shim(request.nic, request.address, request.routes, say)
    return 0


def say_command(text: str) -> None:
    sys.stderr.write(f"+ {text}\n")


def make_shim(
    nic: str, address: IPInterface, routes: list[IPInterface], say: Callable[[str], None]
) -> None:
    """Make or complete the shim on ``nic``: all of it, or (on a failure) nothing new."""
    from ..drivers.shim import add_address, add_routes, create_shim, find_shim, shim_command
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback

    with NetlinkSocket() as nl:
        parent = nl.link(nic)
        if parent is None:
            raise HostStateError(f"no interface {nic!r} to make a shim on")
        if parent.kind in ("bridge", "openvswitch", "macvlan", "ipvlan"):
            raise HostStateError(
                f"{nic} is a {parent.kind}: a shim is for the NIC that macvlan guests hang off"
            )
        rollback = Rollback()
        try:
            shim = find_shim(nl, parent)
            if shim is None:
                say(shim_command(nic, False))
                shim = create_shim(nl, parent, auto=False, push=rollback.push)
            if add_address(nl, shim, address, rollback.push):
                say(f"ip addr add {address} dev {shim.name}")
            for text in add_routes(nl, shim, routes, rollback.push):
                say(text)
        except BaseException:
            rollback.unwind()
            raise
        rollback.forget()


def remove_shim(nic: str, say: Callable[[str], None]) -> str | None:
    """Remove pipework's shim on ``nic`` (its routes go with it); its name, or None when
    there was none."""
    from ..drivers.shim import find_shim
    from ..netlink.socket import NetlinkSocket

    with NetlinkSocket() as nl:
        parent = nl.link(nic)
        shim = find_shim(nl, parent) if parent is not None else None
        if shim is None:
            return None
        say(f"ip link del {shim.name}")
        nl.delete_link(shim.index, obj=f"shim {shim.name}")
        return shim.name
