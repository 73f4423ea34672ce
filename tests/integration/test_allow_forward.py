"""Bridged traffic dropped by the firewall (br_netfilter), warned about and let through.

A network namespace stands in for the host: its own bridge, its own iptables and
nftables rulesets, and br_netfilter on (built into this kernel, and per namespace:
/proc/sys/net/bridge inside it). Two guests (named namespaces) on its bridge. pipework
runs inside the "host" with ``ip netns exec HOST pipework …``; the guests are found
through /run/netns, which every namespace sees the same (see test_vxlan.py).

Each ruleset variant drops forwarded traffic its own way: the legacy filter table
(iptables-legacy, with Docker's DOCKER-USER chain), iptables-nft's ``ip filter``
table, and a native nftables ``inet`` table. Nothing of it touches the real host.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import PIPEWORK, Cleanup, have, in_ns, pings, require, sh, unique, wait_until

BRIDGE_NET = "203.0.113"

#: how each variant makes the "host" drop forwarded traffic
VARIANTS = {
    "legacy": [
        ["iptables-legacy", "-P", "FORWARD", "DROP"],
        ["iptables-legacy", "-N", "DOCKER-USER"],
        ["iptables-legacy", "-A", "FORWARD", "-j", "DOCKER-USER"],
        ["iptables-legacy", "-A", "FORWARD", "-m", "conntrack", "--ctstate",
         "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ],
    "iptables-nft": [
        ["iptables-nft", "-P", "FORWARD", "DROP"],
        ["iptables-nft", "-A", "FORWARD", "-i", "eth0", "-j", "ACCEPT"],
    ],
    "nftables": [
        ["nft", "add", "table", "inet", "fw"],
        ["nft", "add", "chain", "inet", "fw", "forward_filter",
         "{ type filter hook forward priority 0; policy drop; }"],
        ["nft", "add", "rule", "inet", "fw", "forward_filter", "ct", "state",
         "established,related", "accept"],
    ],
}  # fmt: skip


def _forget_notes(inode: int) -> None:
    for path in Path("/run/pipework/forward").glob(f"{inode}-*"):
        path.unlink(missing_ok=True)


class Host:
    """A namespace standing in for a host, a bridge in it, and guests on it."""

    def __init__(self, make_netns: Callable[..., str], variant: str, cleanup: Cleanup) -> None:
        self.ns = make_netns(unique("pwt-fw"))
        self.make_netns = make_netns
        # pipework's notes of this "host"'s rules (/run/pipework/forward): its
        # namespace goes at the end of the test, and its rules with it
        inode = os.stat(f"/run/netns/{self.ns}").st_ino
        cleanup.add(f"notes of {self.ns}", lambda: _forget_notes(inode))
        self.bridge = unique("brpwt")
        for argv in VARIANTS[variant]:
            in_ns(self.ns, *argv)

    def guest(self) -> str:
        return self.make_netns(unique("pwt-g"))

    def pipework(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, PIPEWORK, *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def attach(self, guest: str, host: int, *extra: str) -> subprocess.CompletedProcess[str]:
        res = self.pipework(
            "attach", guest, "--to", self.bridge, "--ip", f"{BRIDGE_NET}.{host}/24", *extra
        )
        assert res.returncode == 0, res.stderr
        return res

    def ports(self) -> list[str]:
        out = sh("ip", "-n", self.ns, "-j", "link", "show", "master", self.bridge, check=False)
        return [str(e["ifname"]) for e in json.loads(out.stdout or "[]")]

    def rules(self) -> tuple[str, str, str]:
        """The three rulesets as their tools print them (counters left out)."""
        legacy = in_ns(self.ns, "iptables-legacy-save", check=False).stdout
        nft = in_ns(self.ns, "nft", "list", "ruleset", check=False).stdout
        legacy6 = in_ns(self.ns, "ip6tables-legacy-save", check=False).stdout
        strip = lambda text: "\n".join(  # noqa: E731
            line for line in text.splitlines() if not line.startswith("#")
        )
        return strip(legacy), strip(legacy6), strip(nft)


@pytest.fixture(params=sorted(VARIANTS))
def host(request: pytest.FixtureRequest, make_netns: Callable[..., str], cleanup: Cleanup) -> Host:
    variant = str(request.param)
    require(have("iptables-legacy") and have("nft"), "iptables and nftables are needed")
    made = Host(make_netns, variant, cleanup)
    switch = in_ns(made.ns, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables", check=False)
    require(switch.stdout.strip() == "1", "br_netfilter on inside a namespace")
    return made


def test_attach_warns_that_the_firewall_drops_traffic_within_the_bridge(host: Host) -> None:
    a, b = host.guest(), host.guest()
    host.attach(a, 10)
    res = host.attach(b, 11)
    assert "br_netfilter is on and the firewall drops traffic within bridge" in res.stderr
    assert f"bridge {host.bridge}" in res.stderr and "--allow-forward" in res.stderr
    assert not pings(a, f"{BRIDGE_NET}.11")


def test_allow_forward_lets_the_guests_ping_and_silences_the_warning(host: Host) -> None:
    a, b = host.guest(), host.guest()
    host.attach(a, 10, "--allow-forward")
    res = host.attach(b, 11)
    assert "br_netfilter" not in res.stderr
    assert pings(a, f"{BRIDGE_NET}.11")
    assert f"pipework:{host.bridge}" in "".join(host.rules())


def test_the_original_command_line_takes_allow_forward(host: Host) -> None:
    a, b = host.guest(), host.guest()
    for guest, n in ((a, 10), (b, 11)):
        res = host.pipework(host.bridge, "--allow-forward", guest, f"{BRIDGE_NET}.{n}/24")
        assert res.returncode == 0, res.stderr
        assert "br_netfilter" not in res.stderr
    assert pings(b, f"{BRIDGE_NET}.10")


def test_allow_forward_twice_adds_one_rule(host: Host) -> None:
    a, b = host.guest(), host.guest()
    host.attach(a, 10, "--allow-forward")
    host.attach(b, 11, "--allow-forward")
    assert "".join(host.rules()).count(f"pipework:{host.bridge}") == 1


def test_detach_of_the_last_port_leaves_the_rules_as_before(host: Host) -> None:
    before = host.rules()
    a, b = host.guest(), host.guest()
    host.attach(a, 10, "--allow-forward")
    host.attach(b, 11, "--allow-forward")
    assert host.pipework("detach", a).returncode == 0
    assert f"pipework:{host.bridge}" in "".join(host.rules())  # b still uses it
    assert pings(b, f"{BRIDGE_NET}.11")  # (its own address: the bridge is still up)
    assert host.pipework("detach", b).returncode == 0
    assert host.rules() == before


def test_gc_removes_the_rules_of_a_bridge_whose_guests_are_gone(host: Host, tmp_path: Path) -> None:
    before = host.rules()
    guest = host.guest()
    host.attach(guest, 10, "--allow-forward")
    sh("ip", "netns", "del", guest)  # the guest goes, without a detach
    wait_until(lambda: not host.ports(), timeout=10, what="the guest's port to go")
    # gc with the firewall tools and without ovs-vsctl: the real host's OVS ports are
    # not in this namespace, and gc would take them for stale
    for tool in ("nft", "iptables-legacy-save", "iptables-legacy", "ip6tables-legacy-save",
                 "ip6tables-legacy"):  # fmt: skip
        (tmp_path / tool).symlink_to(str(shutil.which(tool)))
    res = subprocess.run(
        ["ip", "netns", "exec", host.ns, "env", f"PATH={tmp_path}", PIPEWORK, "gc", "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["failed"] == []
    assert host.rules() == before


def test_inspect_shows_the_warning(host: Host) -> None:
    guest = host.guest()
    host.attach(guest, 10)
    res = host.pipework("inspect", f"netns:{guest}", "--json")
    assert res.returncode == 0, res.stderr
    warnings = json.loads(res.stdout)["warnings"]
    assert len(warnings) == 1 and f"bridge {host.bridge}" in warnings[0]


def test_no_warning_when_br_netfilter_is_off(
    make_netns: Callable[..., str], cleanup: Cleanup
) -> None:
    require(have("iptables-legacy"), "iptables is needed")
    host = Host(make_netns, "legacy", cleanup)
    in_ns(host.ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0")
    in_ns(host.ns, "sysctl", "-qw", "net.bridge.bridge-nf-call-ip6tables=0")
    a, b = host.guest(), host.guest()
    host.attach(a, 10)
    res = host.attach(b, 11)
    assert "br_netfilter" not in res.stderr
    assert pings(a, f"{BRIDGE_NET}.11")


def test_a_topology_bridge_node_with_allow_forward_and_its_down(host: Host, tmp_path: Path) -> None:
    """``pipework up`` in the "host": a bridge node with ``allow-forward: true``, two
    guests on it (existing namespaces: netns nodes made inside ``ip netns exec`` would
    be named in its private mount namespace only) that ping each other; ``down``
    leaves the rulesets as before."""
    before = host.rules()
    a, b = host.guest(), host.guest()
    tag = unique("")[:4]
    bridge = f"brpwtf{tag}"
    doc = {
        "name": f"pwtf{tag}",
        "topology": {
            "nodes": {
                bridge: {"kind": "bridge", "allow-forward": True},
                "a": {"kind": "linux", "guest": f"netns:{a}"},
                "b": {"kind": "linux", "guest": f"netns:{b}"},
            },
            "links": [
                {
                    "endpoints": ["a:eth1", f"{bridge}:p{tag}a"],
                    "ipv4": [f"{BRIDGE_NET}.1/24", None],
                },
                {
                    "endpoints": ["b:eth1", f"{bridge}:p{tag}b"],
                    "ipv4": [f"{BRIDGE_NET}.2/24", None],
                },
            ],
        },
    }
    path = tmp_path / "lab.json"
    path.write_text(json.dumps(doc))
    res = host.pipework("up", str(path))
    assert res.returncode == 0, res.stderr
    assert pings(a, f"{BRIDGE_NET}.2")
    res = host.pipework("down", str(path))
    assert res.returncode == 0, res.stderr
    assert host.rules() == before


def test_allow_forward_on_a_nic_says_it_is_for_a_bridge(
    make_netns: Callable[..., str], cleanup: Cleanup
) -> None:
    require(have("iptables-legacy"), "iptables is needed")
    host = Host(make_netns, "legacy", cleanup)
    before = host.rules()
    sh("ip", "-n", host.ns, "link", "add", "pwtnic0", "type", "veth", "peer", "name", "pwtnic1")
    sh("ip", "-n", host.ns, "link", "set", "pwtnic0", "up")
    res = host.pipework(
        "attach", host.guest(), "--to", "pwtnic0", "--ip", f"{BRIDGE_NET}.9/24", "--allow-forward"
    )
    assert res.returncode == 0, res.stderr
    assert "--allow-forward is for a Linux bridge: nothing done for pwtnic0" in res.stderr
    assert host.rules() == before


_ATTACH_AND_LIST_MODULES = """
import sys
from pipework.cli.main import main
code = main(sys.argv[1:])
assert code == 0, code
print(" ".join(sorted(sys.modules)))
"""


def test_reading_the_firewall_keeps_the_attach_s_import_budget(host: Host) -> None:
    """With br_netfilter on and a ruleset to read, the attach spawns the firewall tools
    and imports none of the modules the one-shot path avoids (test_import_budget)."""
    from tests.unit.test_import_budget import AVOIDED

    guest = host.guest()
    res = subprocess.run(
        ["ip", "netns", "exec", host.ns, sys.executable, "-c", _ATTACH_AND_LIST_MODULES,
         host.bridge, "--allow-forward", f"netns:{guest}", f"{BRIDGE_NET}.10/24"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    loaded = set(res.stdout.split())
    assert "pipework.doctor.forward" in loaded
    assert sorted(set(AVOIDED) & loaded) == []


_NFT_RULESET = """
table inet fw {
    chain sub {
        reject
    }
    chain forward_filter {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname "br*" oifname != "eth0" counter accept comment "a b"
        iifname "br1" oifname "br1" accept comment "pipework:br1"
        jump sub
    }
}
"""

_COMPARE_READERS = """
from pipework.doctor import forward, nftnl
read = forward.nft_chains()
nftnl.read_ruleset = lambda: None  # the other way: nft -j list ruleset
listed = forward.nft_chains()
assert read == listed, (read, listed)
print(len(read))
"""


def test_the_ruleset_read_from_the_kernel_is_what_nft_lists(
    make_netns: Callable[..., str],
) -> None:
    """doctor.nftnl (two netlink dumps) against ``nft -j list ruleset``, on a ruleset
    with what the judge reads (interfaces, wildcards, negation, comments, jumps,
    reject, policies) and what it passes over (conntrack, iptables-nft's matches)."""
    require(have("nft") and have("iptables-nft"), "nftables and iptables-nft")
    ns = make_netns(unique("pwt-nl"))
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=_NFT_RULESET)
    for line in (
        "iptables-nft -P FORWARD DROP",
        "iptables-nft -N DOCKER-USER",
        "iptables-nft -A FORWARD -j DOCKER-USER",
        "iptables-nft -A DOCKER-USER -i br1 -o br1 -m comment --comment pipework:br1 -j ACCEPT",
        "iptables-nft -A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT",
        "ip6tables-nft -P FORWARD DROP",
    ):
        in_ns(ns, *shlex.split(line))
    res = in_ns(ns, sys.executable, "-c", _COMPARE_READERS, check=False)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout) == 5  # inet fw: 2; ip filter: FORWARD, DOCKER-USER; ip6 filter


def test_a_cni_network_with_allow_forward_and_its_del(host: Host, tmp_path: Path) -> None:
    """ADD of two containers to a network with ``"allowForward": true`` run in the
    "host" (a wrapper enters it), their addresses given by hand (no IPAM): they ping;
    DEL of both leaves the rulesets as before."""
    from .cni import invoke

    before = host.rules()
    wrapper = tmp_path / "pipework-in-host"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{host.ns} {PIPEWORK} "$@"\n')
    wrapper.chmod(0o755)
    config = {
        "cniVersion": "1.0.0",
        "name": "pwtfwnet",
        "type": "pipework",
        "bridge": host.bridge,
        "allowForward": True,
    }
    guests = [(host.guest(), f"pwtfw{n}", f"{BRIDGE_NET}.{n}/24") for n in (21, 22)]
    for guest, container, address in guests:
        code, result = invoke(config, "ADD", netns=guest, container_id=container,
                              program=str(wrapper))  # fmt: skip
        assert code == 0, result
        in_ns(guest, "ip", "addr", "add", address, "dev", "eth0")
    assert f"pipework:{host.bridge}" in "".join(host.rules())
    assert pings(guests[0][0], f"{BRIDGE_NET}.22")
    for guest, container, _address in guests:
        code, result = invoke(config, "DEL", netns=guest, container_id=container,
                              program=str(wrapper))  # fmt: skip
        assert code == 0, result
    assert host.rules() == before
