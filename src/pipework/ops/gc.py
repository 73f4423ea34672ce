"""``pipework gc``: remove what guests that are gone left behind.

The kernel removes a dead guest's interfaces by itself; what outlives them is
state kept elsewhere: each driver's (Open vSwitch ports whose interface is gone,
in OVS's database) and the state files of DHCP renewal processes that were killed.
"""

from __future__ import annotations

from .. import drivers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    class Collected(TypedDict):
        removed: list[str]  # what each driver removed, as it names it (bridge:port)
        dhcp_state: list[str]  # the keys of renewal processes whose files were removed


def collect() -> Collected:
    from ..dhcp import state

    removed = [item for kind in drivers.all_drivers() for item in kind.collect()]
    leases = state.stale()
    for name in leases:
        state.remove(name)
    return {"removed": removed, "dhcp_state": leases}
