"""A rogue DHCP server (rogue_dhcp.py): zero and tiny leases, bogus routers, refusals.

Whatever a server on the guest's network says, pipework must stay sane: no
renewal storm, no route through the broadcast address, errors that say what
happened. The host's resolv.conf and hostname are in every test's snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from . import rogue_dhcp
from .conftest import Cleanup, addresses, have, ip_json, pipework, require, wait_until

OFFERED = "198.51.100.77"
SERVER = "198.51.100.1"


@pytest.fixture
def rogue(
    make_netns, make_bridge, spawn, cleanup: Cleanup, tmp_path: Path
) -> Callable[..., rogue_dhcp.RogueServer]:
    """A bridge with a rogue DHCP server on it, configured as the test says."""

    def make(**config: object) -> rogue_dhcp.RogueServer:
        bridge, ns = rogue_dhcp.network(make_netns, make_bridge, cleanup, f"{SERVER}/24")
        config.setdefault("address", OFFERED)
        config.setdefault("mask", "255.255.255.0")
        return rogue_dhcp.start(spawn, ns, tmp_path / f"{ns}.rogue.log", bridge, **config)

    return make


def default_via(ns: str) -> str | None:
    routes = ip_json("-4", "route", "show", "default", netns=ns)
    return str(routes[0].get("gateway")) if routes else None


# --- the server itself: every client takes its answers ----------------------------------


def test_the_built_in_client_takes_the_rogue_servers_lease(rogue, make_netns):
    server = rogue(routers=[SERVER], dns=[SERVER])
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcp")
    assert res.returncode == 0, res.stderr
    assert f"{OFFERED}/24" in addresses("eth1", netns=ns)
    assert default_via(ns) == SERVER
    assert [e["type"] for e in server.events("sent")] == ["OFFER", "ACK"]


@pytest.mark.parametrize(
    ("mode", "program"), [("udhcpc", "udhcpc"), ("dhclient", "dhclient"), ("dhcpcd", "dhcpcd")]
)
def test_external_clients_take_the_rogue_servers_lease(rogue, make_netns, mode, program):
    require(have(program), f"{program} is not installed")
    server = rogue(routers=[SERVER], dns=[SERVER])
    ns = make_netns()
    res = pipework(server.bridge, ns, mode, timeout=120)
    assert res.returncode == 0, res.stderr
    wait_until(lambda: f"{OFFERED}/24" in addresses("eth1", netns=ns), 15, "the lease")
    if mode == "dhcpcd":
        assert pipework("detach", ns).returncode == 0
