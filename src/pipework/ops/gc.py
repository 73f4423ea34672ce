"""``pipework gc``: remove what guests that are gone left behind.

The kernel removes a dead guest's interfaces by itself; what outlives them is
state kept elsewhere: each driver's (Open vSwitch ports whose interface is gone,
in OVS's database; the bridges pipework created that nothing uses any more) and
the state files of DHCP renewal processes that were killed, and the external DHCP
clients pipework kept running for a guest that is gone (they alone keep its
network namespace, and its address, alive: dhcp/orphans.py).

One failure does not stop the rest: every driver collects, each failure is
recorded (naming the object and the error) and reported at the end.
"""

from __future__ import annotations

from .. import drivers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    class Collected(TypedDict):
        removed: list[str]  # what each driver removed, as it names it (OVS: BRIDGE:PORT)
        bridges: list[str]  # the unused bridges pipework created that were removed
        records: list[str]  # records of moved NICs whose guest is gone (drivers/direct)
        dhcp_state: list[str]  # the keys of renewal processes whose files were removed
        dhcp_clients: list[str]  # external clients pipework kept, stopped: their guest is gone
        failed: list[str]  # what could not be removed: one line each, object and error


def collect() -> Collected:
    from ..dhcp import state
    from ..dhcp.orphans import stop_orphans
    from ..drivers.idle import Collection
    from ..errors import PipeworkError

    found = Collection()
    # first: a stopped client frees its namespace, and the ports in it
    clients, failed = stop_orphans()
    found.failed += failed
    for kind in drivers.all_drivers():
        try:
            kind.collect_into(found)
        except PipeworkError as exc:  # a driver's failure outside its own items
            found.failed.append(str(exc))
    leases = state.stale()
    for name in leases:
        state.remove(name)
    found.failed += _forward_rules()
    return {
        "removed": found.removed,
        "bridges": found.bridges,
        "records": found.records,
        "dhcp_state": leases,
        "dhcp_clients": clients,
        "failed": found.failed,
    }


def _forward_rules() -> list[str]:
    """pipework's accept rules (``--allow-forward``) of bridges with no port pipework
    attached any more (or gone: gc may just have removed them); the failures."""
    from ..doctor import forward

    if not forward.noted_bridges():
        forward.forget_dead_namespaces()
        return []
    from ..marks import parse_veth_mark
    from ..netlink.socket import NetlinkSocket

    with NetlinkSocket() as nl:
        links = nl.links(obj="for gc")
    names = {link.index: link.name for link in links}
    in_use = frozenset(
        names[link.master]
        for link in links
        if link.master in names and parse_veth_mark(link.alias) is not None
    )
    return forward.collect(in_use)[1]
