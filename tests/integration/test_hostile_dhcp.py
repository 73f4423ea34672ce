"""A rogue DHCP server (rogue_dhcp.py): zero and tiny leases, bogus routers, refusals.

Whatever a server on the guest's network says, pipework must stay sane: no
renewal storm, no route through the broadcast address, errors that say what
happened. The host's resolv.conf and hostname are in every test's snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from . import rogue_dhcp
from .conftest import Cleanup, addresses, have, ip_json, link, pipework, require, wait_until

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


# --- zero and tiny leases: the renewal process must not spin --------------------------------


def _keeper_of(ns: str) -> tuple[int, str]:
    """The renewal process of the guest ``ns``: its pid and its state KEY."""
    (row,) = [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"] == f"netns:{ns}"]
    return row["dhcp"]["pid"], f"{row['netns_inode']}-eth1"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop_keeper(ns: str, pid: int, key: str) -> None:
    pipework("detach", ns)
    if Path(f"/proc/{pid}").exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for suffix in ("json", "pid", "log"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"/run/pipework/dhcp/{key}.{suffix}")


def _start_keeper(server: rogue_dhcp.RogueServer, ns: str, cleanup: Cleanup) -> tuple[int, str]:
    res = pipework(server.bridge, ns, "dhcp-f")
    assert res.returncode == 0, res.stderr
    pid, key = _keeper_of(ns)
    cleanup.add("the renewal process", lambda: _stop_keeper(ns, pid, key))
    return pid, key


@pytest.mark.parametrize(
    "lease",
    [{"lease_time": 0}, {"lease_time": 1}, {"lease_time": 2, "t1": 0, "t2": 0}],
    ids=["zero", "one-second", "two-seconds-t1-zero"],
)
def test_a_tiny_lease_does_not_make_the_renewal_process_spin(rogue, make_netns, cleanup, lease):
    server = rogue(routers=[SERVER], **lease)
    ns = make_netns()
    pid, key = _start_keeper(server, ns, cleanup)
    time.sleep(3)
    exchanges = server.received("DISCOVER") + server.received("REQUEST")
    assert len(exchanges) <= 5, f"{len(exchanges)} messages in 3 s: the renewal process spins"
    assert _cpu_seconds(pid) < 0.5
    assert Path(f"/run/pipework/dhcp/{key}.log").stat().st_size <= 64 * 1024
    # the address outlives the lease's 0-2 s: the floor holds it for a minute
    assert f"{OFFERED}/24" in addresses("eth1", netns=ns)
    info = ip_json("-4", "addr", "show", "dev", "eth1", netns=ns)[0]["addr_info"][0]
    assert 50 <= info["valid_life_time"] <= 60
    assert pipework("detach", ns).returncode == 0
    assert not Path(f"/proc/{pid}").exists()


def test_a_zero_second_lease_one_shot_keeps_the_address(rogue, make_netns):
    """Without dhcp-f nothing renews: the address stays, as udhcpc -q leaves it."""
    server = rogue(routers=[SERVER], lease_time=0, t1=0, t2=0)
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcp")
    assert res.returncode == 0, res.stderr
    time.sleep(2)
    info = ip_json("-4", "addr", "show", "dev", "eth1", netns=ns)[0]["addr_info"][0]
    assert info["local"] == OFFERED and info["valid_life_time"] == 4294967295
    assert len(server.received()) == 2  # DISCOVER, REQUEST: nothing after
    (row,) = [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"] == f"netns:{ns}"]
    assert not row["dhcp"]  # no renewal process


def test_refused_renewals_back_off(rogue, make_netns, cleanup):
    """T1 0 s, then every REQUEST refused: one renewal, one new DISCOVER, then a pause."""
    server = rogue(routers=[SERVER], lease_time=0, t1=0, t2=0, nak_after=1)
    ns = make_netns()
    pid, _key = _start_keeper(server, ns, cleanup)
    time.sleep(8)
    naks = server.events("sent", "NAK")
    exchanges = server.received("DISCOVER") + server.received("REQUEST")
    assert 1 <= len(naks) <= 3, naks
    assert len(exchanges) <= 7, f"{len(exchanges)} messages in 8 s"
    assert _cpu_seconds(pid) < 0.5
    assert Path(f"/proc/{pid}").exists(), "the renewal process gave up"


# --- what a lease may not make the guest do ---------------------------------------------------


@pytest.mark.parametrize(
    ("routers", "why"),
    [
        (["198.51.100.255"], "the broadcast address of 198.51.100.77/24"),
        ([OFFERED], "the interface's own address"),
        (["198.51.100.0"], "the network address of 198.51.100.77/24"),
    ],
    ids=["broadcast", "own-address", "network-address"],
)
def test_a_router_the_static_path_refuses_is_ignored_with_a_note(rogue, make_netns, routers, why):
    server = rogue(routers=routers)
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcp")
    assert res.returncode == 0, res.stderr
    assert f"{OFFERED}/24" in addresses("eth1", netns=ns)
    assert default_via(ns) is None
    assert f"ignored the lease's router: gateway {routers[0]} " in res.stderr
    assert why in res.stderr


def test_the_next_router_is_used_when_the_first_is_bogus(rogue, make_netns):
    server = rogue(routers=["198.51.100.255", SERVER])
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcp")
    assert res.returncode == 0, res.stderr
    assert default_via(ns) == SERVER
    assert "ignored the lease's router: gateway 198.51.100.255 is the broadcast" in res.stderr


def test_a_nak_is_reported_as_a_refusal(rogue, make_netns):
    server = rogue(nak=True, nak_message="no \x1b[31maddress\n for you")
    ns = make_netns()
    res = pipework("--dhcp-timeout", "20", server.bridge, ns, "dhcp")
    assert res.returncode == 1
    assert f"the DHCP server at {SERVER} refused the request (DHCPNAK: " in res.stderr
    assert "no \\x1b[31maddress\\n for you" in res.stderr  # escaped, never raw
    assert "\x1b" not in res.stderr
    assert "is a DHCP server on this network" not in res.stderr
    assert link("eth1", netns=ns) is None
    assert len(server.received("REQUEST")) <= 4  # a few tries, not a storm


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"lease_time": None}, "the DHCPACK has no lease time"),
        ({"address": "198.51.100.255"}, "the broadcast address of 198.51.100.0/24"),
        ({"mask": "255.0.255.0"}, "subnet mask 255.0.255.0 is not contiguous"),
    ],
    ids=["no-lease-time", "broadcast-address", "bad-mask"],
)
def test_an_unusable_ack_is_reported_as_rejected(rogue, make_netns, config, why):
    server = rogue(**config)
    ns = make_netns()
    started = time.monotonic()
    res = pipework("--dhcp-timeout", "20", server.bridge, ns, "dhcp")
    assert res.returncode == 1
    assert "the DHCP server's ACK was rejected: " in res.stderr and why in res.stderr
    assert "is a DHCP server on this network" not in res.stderr
    assert time.monotonic() - started < 15, "it waited for the whole timeout"
    assert link("eth1", netns=ns) is None


def test_a_classless_route_with_host_bits_does_not_fail_the_attach(rogue, make_netns):
    """Option 121 with 203.0.113.77/20 (host bits past the width): the kernel refuses
    such a route (EINVAL), so a server could fail every attach; the route goes in
    as the network it names."""
    route = bytes([20, 203, 0, 113, *map(int, SERVER.split("."))])  # 203.0.113.x/20
    server = rogue(routers=[SERVER], extra={"121": route.hex()})
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcp")
    assert res.returncode == 0, res.stderr
    routes = [r["dst"] for r in ip_json("-4", "route", "show", netns=ns)]
    assert "203.0.112.0/20" in routes, routes


def test_a_kept_client_goes_when_a_later_step_fails(rogue, spawn):
    """dhclient -f stays running after its lease; if a step after it fails (here the last,
    the check that the guest still runs), the rollback stops it: nothing pipework
    started outlives the attach it belonged to."""
    require(have("dhclient"), "dhclient is not installed")
    server = rogue(routers=[SERVER])
    guest = spawn("unshare", "-n", "sleep", "600")
    wait_until(lambda: os.readlink(f"/proc/{guest.pid}/exe").endswith("sleep"), 10, "exec")
    probe = pipework("-v", server.bridge, str(guest.pid), "dhclient-f", timeout=120)
    assert probe.returncode == 0, probe.stderr
    steps = sum(1 for line in probe.stderr.splitlines() if line.startswith("+ "))
    assert pipework("detach", str(guest.pid)).returncode == 0
    inode = os.stat(f"/proc/{guest.pid}/ns/net").st_ino

    def clients() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                same = os.stat(f"/proc/{pid}/ns/net").st_ino == inode
                if same and os.readlink(f"/proc/{pid}/exe").endswith("dhclient"):
                    found.append(int(pid))
        return found

    wait_until(lambda: not clients(), 10, "detach stops the probe's dhclient")
    res = pipework(
        server.bridge, str(guest.pid), "dhclient-f", env={"PIPEWORK_INJECT_FAULT": str(steps)},
        timeout=120,
    )  # fmt: skip
    assert res.returncode == 1 and "injected fault" in res.stderr, res.stderr
    wait_until(lambda: not clients(), 10, "the rollback stops dhclient")
