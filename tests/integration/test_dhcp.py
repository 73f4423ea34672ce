"""DHCP for real: dnsmasq in a namespace of its own serves a bridge, and guests of
every runtime get their lease through it — with the built-in client (one-shot,
and renewing), and with the original's udhcpc, dhclient and dhcpcd modes.

The host's /etc/resolv.conf and hostname are part of every test's before/after
snapshot (conftest): a client script run naively in a netns rewrites them.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import (
    Cleanup,
    addresses,
    have,
    in_ns,
    ip_json,
    link,
    pings,
    pipework,
    require,
    sh,
    unique,
    wait_until,
)

SERVER = "198.51.100.1"
SERVER6 = "2001:db8:1::1"
POOL = re.compile(r"^198\.51\.100\.(\d+)/24$")
POOL6 = re.compile(r"^2001:db8:1::1[0-9a-f]{2}/128$")


class Lan:
    """A bridge with a DHCP server (dnsmasq) on it."""

    def __init__(self, bridge: str, server_ns: str, log: Path, leases: Path) -> None:
        self.bridge = bridge
        self.server_ns = server_ns
        self.log = log
        self.leases = leases

    def log_lines(self, what: str, mac: str | None = None) -> list[str]:
        text = self.log.read_text() if self.log.exists() else ""
        return [
            line
            for line in text.splitlines()
            if what in line and (mac is None or mac.lower() in line.lower())
        ]


@pytest.fixture
def lan(make_netns, make_bridge, spawn, cleanup: Cleanup, tmp_path: Path) -> Callable[..., Lan]:
    require(have("dnsmasq"), "dnsmasq is not installed (apt-get install dnsmasq-base)")

    def make(lease: str = "2m", t1: int | None = None, t2: int | None = None) -> Lan:
        br = make_bridge()
        ns = make_netns()
        # the server's link-local address must be usable at once (DHCPv6 answers from it)
        in_ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
        host_end = unique("pwtsrv")[:15]
        cleanup.add(f"link {host_end}", lambda: sh("ip", "link", "del", host_end, check=False))
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", host_end, "master", br, "up")
        in_ns(ns, "ip", "addr", "add", f"{SERVER}/24", "dev", "eth0")
        in_ns(ns, "ip", "addr", "add", f"{SERVER6}/64", "dev", "eth0", "nodad")
        in_ns(ns, "ip", "link", "set", "eth0", "up")
        log, leases = tmp_path / f"{ns}.log", tmp_path / f"{ns}.leases"
        argv = [
            "ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
            "--no-ping", "--port=0", "--interface=eth0", "--bind-interfaces",
            "--dhcp-authoritative",
            f"--dhcp-range=198.51.100.50,198.51.100.150,255.255.255.0,{lease}",
            f"--dhcp-range=2001:db8:1::100,2001:db8:1::1ff,64,{lease}",
            f"--dhcp-option=option6:dns-server,[{SERVER6}]",
            "--enable-ra",  # the on-link prefix comes from router advertisements, as it must
            f"--dhcp-option=option:router,{SERVER}", f"--dhcp-option=option:dns-server,{SERVER}",
            "--dhcp-option=option:domain-name,pipework.test",
            f"--dhcp-leasefile={leases}", "--pid-file=", "--log-dhcp", f"--log-facility={log}",
        ]  # fmt: skip
        if t1 is not None:
            argv.append(f"--dhcp-option=option:T1,{t1}")
        if t2 is not None:
            argv.append(f"--dhcp-option=option:T2,{t2}")
        spawn(*argv)
        wait_until(
            lambda: ":0043 " in in_ns(ns, "cat", "/proc/net/udp").stdout, 10, "dnsmasq to listen"
        )
        return Lan(br, ns, log, leases)

    return make


def leased(ns: str, ifname: str = "eth1") -> str:
    found = [a for a in addresses(ifname, netns=ns) if POOL.match(a)]
    assert len(found) == 1, f"{ifname} in {ns} has {addresses(ifname, netns=ns)}"
    return found[0]


def default_via(ns: str) -> str | None:
    routes = ip_json("-4", "route", "show", "default", netns=ns)
    return str(routes[0].get("gateway")) if routes else None


# --- the built-in client ----------------------------------------------------------------


def test_a_netns_guest_gets_a_lease_and_a_default_route(lan, make_netns):
    net = lan()
    ns = make_netns()
    res = pipework(net.bridge, ns, "dhcp")
    assert res.returncode == 0, res.stderr
    address = leased(ns)
    assert default_via(ns) == SERVER
    assert pings(ns, SERVER)
    # the hostname option carries the guest's name, as the original sends it
    assert net.log_lines(f"hostname  {ns}") or net.log_lines(f"client provides name: {ns}")
    # one-shot: the address stays, no renewal process
    info = ip_json("-4", "addr", "show", "dev", "eth1", netns=ns)[0]["addr_info"][0]
    assert info["valid_life_time"] == 4294967295
    assert not [row for row in json.loads(pipework("ls", "--json").stdout) if row["dhcp"]]
    again = pipework(net.bridge, ns, "dhcp")  # the same request again: nothing changes
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr
    assert leased(ns) == address


def test_the_modern_syntax_with_dns_and_hostname(lan, make_netns):
    net = lan()
    ns = make_netns()
    res = pipework(
        "attach", ns, "--to", net.bridge, "--dhcp", "--hostname", "pwt-web", "--dns", "--json"
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert POOL.match(report["addresses"][0]) and report["gateways"] == [SERVER]
    assert net.log_lines("pwt-web")
    resolv = Path(f"/etc/netns/{ns}/resolv.conf").read_text()
    assert f"nameserver {SERVER}" in resolv and "search pipework.test" in resolv
    # what `ip netns exec` shows the guest
    assert f"nameserver {SERVER}" in in_ns(ns, "cat", "/etc/resolv.conf").stdout


def test_a_u_mac_gets_the_same_address_every_time(lan, make_netns):
    net = lan()
    first, second = make_netns(), make_netns()
    assert pipework(net.bridge, first, "dhcp", "U:pwt-stable").returncode == 0
    address = leased(first)
    assert pipework("detach", first).returncode == 0
    assert pipework(net.bridge, second, "dhcp", "U:pwt-stable").returncode == 0
    assert leased(second) == address


def test_no_server_is_an_error_that_leaves_nothing(make_netns, make_bridge):
    ns = make_netns()
    br = make_bridge()
    started = time.monotonic()
    res = pipework("--dhcp-timeout", "2", br, ns, "dhcp")
    assert res.returncode == 1
    assert "no DHCP offer on eth1 within 2 s" in res.stderr
    assert time.monotonic() - started < 10
    assert link("eth1", netns=ns) is None


def test_a_lxc_container_gets_a_lease(lan, lxc_container):
    net = lan()
    ct = lxc_container()
    res = pipework(net.bridge, ct, "dhcp")
    assert res.returncode == 0, res.stderr
    pid = int(sh("lxc-info", "-n", ct, "-p").stdout.split(":", 1)[1])
    out = sh(
        "nsenter", "-t", str(pid), "-n", "ip", "-4", "-o", "addr", "show", "dev", "eth1"
    ).stdout
    assert "198.51.100." in out
    assert "default via 198.51.100.1" in sh("nsenter", "-t", str(pid), "-n", "ip", "route").stdout


def test_a_docker_container_gets_a_lease(lan, container):
    net = lan()
    ct = container()
    res = pipework(net.bridge, ct, "dhcp")
    assert res.returncode == 0, res.stderr
    out = sh("docker", "exec", ct, "ip", "-4", "-o", "addr", "show", "dev", "eth1").stdout
    assert "198.51.100." in out
    sh("docker", "exec", ct, "ping", "-c", "1", "-W", "3", SERVER)


def test_dhcpv6_gives_the_guest_an_address_the_same_for_a_u_mac(lan, make_netns):
    net = lan()
    first, second = make_netns(), make_netns()
    res = pipework(net.bridge, "-a", "6", first, "dhcp", "U:pwt-v6")
    assert res.returncode == 0, res.stderr
    (address,) = [a for a in addresses("eth1", netns=first) if POOL6.match(a)]
    # reachable once the router advertisement has told the guest the on-link prefix
    wait_until(
        lambda: (
            in_ns(first, "ping", "-6", "-c", "1", "-W", "1", SERVER6, check=False).returncode == 0
        ),
        15,
        "the server to answer over IPv6",
    )
    res = pipework("attach", second, "--to", net.bridge, "--dhcp6", "--dns", "--mac", "U:pwt-v6")
    assert res.returncode == 0, res.stderr
    assert [a for a in addresses("eth1", netns=second) if POOL6.match(a)] == [address]
    assert f"nameserver {SERVER6}" in Path(f"/etc/netns/{second}/resolv.conf").read_text()


def test_dhcpv6_without_a_server_fails_cleanly(make_netns, make_bridge):
    ns = make_netns()
    res = pipework("--dhcp-timeout", "2", make_bridge(), "-a", "6", ns, "dhcp")
    assert res.returncode == 1
    assert "no DHCPv6 advertisement on eth1 within 2 s" in res.stderr
    assert link("eth1", netns=ns) is None


# --- renewal ------------------------------------------------------------------------------


def _state_files() -> set[str]:
    base = Path("/run/pipework/dhcp")
    return {p.name for p in base.iterdir()} if base.exists() else set()


def test_dhcp_f_renews_the_lease_and_ends_with_the_guest(lan, make_netns):
    net = lan(t1=3, t2=5)
    ns = make_netns()
    files_before = _state_files()
    res = pipework(net.bridge, ns, "dhcp-f")
    assert res.returncode == 0, res.stderr
    (row,) = [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"] == f"netns:{ns}"]
    pid = row["dhcp"]["pid"]
    assert f"dhcp renewing (pid {pid})" in pipework("ls").stdout
    mac = row["mac"]
    # the address lives as long as the lease (2 min), and renewals extend it
    info = ip_json("-4", "addr", "show", "dev", "eth1", netns=ns)[0]["addr_info"][0]
    assert 100 <= info["valid_life_time"] <= 120
    wait_until(lambda: len(net.log_lines("DHCPACK", mac)) >= 3, 20, "two renewals (T1 = 3 s)")
    info = ip_json("-4", "addr", "show", "dev", "eth1", netns=ns)[0]["addr_info"][0]
    assert info["valid_life_time"] >= 115, "the renewal did not extend the address"

    sh("ip", "netns", "del", ns)  # the guest goes away
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the renewal process to end")
    assert _state_files() == files_before, "the renewal process left files behind"


def test_detach_stops_the_renewal_and_releases_the_lease(lan, make_netns):
    net = lan()
    ns = make_netns()
    res = pipework("attach", ns, "--to", net.bridge, "--dhcp-keep")
    assert res.returncode == 0, res.stderr
    (row,) = [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"] == f"netns:{ns}"]
    pid = row["dhcp"]["pid"]
    res = pipework("detach", ns)
    assert res.returncode == 0, res.stderr
    assert not os.path.exists(f"/proc/{pid}")
    wait_until(lambda: net.log_lines("DHCPRELEASE", row["mac"]), 5, "the release")
    assert not [f for f in _state_files() if f.startswith(str(row["netns_inode"]))]


def test_gc_removes_the_state_of_a_killed_renewal_process(lan, make_netns):
    net = lan()
    ns = make_netns()
    assert pipework(net.bridge, ns, "dhcp-f").returncode == 0
    (row,) = [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"] == f"netns:{ns}"]
    os.kill(row["dhcp"]["pid"], 9)
    wait_until(lambda: not os.path.exists(f"/proc/{row['dhcp']['pid']}"), 5, "the kill")
    res = pipework("gc", "--json")
    assert json.loads(res.stdout)["dhcp_state"] == [f"{row['netns_inode']}-eth1"]
    assert not [f for f in _state_files() if f.startswith(str(row["netns_inode"]))]


# --- the original's external clients ------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "program"),
    [("udhcpc", "udhcpc"), ("dhclient", "dhclient"), ("dhcpcd", "dhcpcd")],
)
def test_external_client_gets_a_lease_and_leaves_the_host_alone(lan, make_netns, mode, program):
    require(have(program), f"{program} is not installed (scripts/test installs it)")
    net = lan()
    ns = make_netns()
    res = pipework(net.bridge, ns, mode, timeout=120)
    assert res.returncode == 0, res.stderr
    # dhcpcd returns with its first lease, which may be the IPv6 one: the IPv4 one follows
    wait_until(lambda: [a for a in addresses("eth1", netns=ns) if POOL.match(a)], 15, "a lease")
    leased(ns)
    # the original's pid files: removed (udhcpc), or the client killed (dhclient)
    assert not Path(f"/var/run/udhcpc.{ns}.pid").exists()
    assert not Path(f"/var/run/dhclient.{ns}.pid").exists()
    if mode == "dhcpcd":  # dhcpcd stays, as the original leaves it; detach stops it
        clients = _clients_in(ns)
        assert clients, "dhcpcd is not running"
        assert pipework("detach", ns).returncode == 0
        wait_until(lambda: not _clients_in(ns), 10, "dhcpcd to stop")


def _clients_in(ns: str) -> list[int]:
    """pids of the DHCP clients pipework started for the guest ``ns`` (in its netns,
    with pipework's sandbox among their mounts)."""
    inode = os.stat(f"/run/netns/{ns}").st_ino
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != inode:
                continue
            with open(f"/proc/{entry}/mountinfo") as f:
                if "/run/pipework/dhcp-sandbox/" in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found
