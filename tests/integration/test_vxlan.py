"""VXLAN across two hosts: guests on both sides share one layer-2 segment.

Each "host" is a network namespace (hostA, hostB) with its own loopback and an
underlay: a veth pair made directly between the two (198.51.100.1/24 in hostA,
198.51.100.2/24 in hostB), so nothing of it ever exists in the real host's
namespace. pipework runs inside a host with ``ip netns exec HOST pipework …``:
what it makes on "the host" (the bridge brvx42, the VXLAN device vx42, the veth
host ends) is made in the namespace it runs in.

The guests are plain named network namespaces (``ip netns add``), made from the
real host like any other: network namespaces do not nest, and a name in
/run/netns is seen the same from inside every "host" (``ip netns exec`` keeps the
host's /run/netns), so ``ip netns exec hostA pipework attach guestA …`` finds
guestA and makes the veth between hostA and guestA. Which host a guest belongs to
is only where its veth's other end is. Removing the namespaces removes
everything the tests made in them.

``pipework gc`` runs inside a host namespace with a PATH without ovs-vsctl: gc also
judges Open vSwitch's ports, and OVS's database is the real host's, whose port
interfaces a host namespace does not see (gc would take them for stale).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import PIPEWORK, have, link, pings, require, sh, tcp_works, unique, wait_until

README = Path(__file__).resolve().parents[2] / "README.md"
UNDERLAY_A, UNDERLAY_B = "198.51.100.1", "198.51.100.2"


class Hosts:
    """Two "hosts" joined by an underlay veth, and a way to run pipework in each."""

    def __init__(self, make_netns: Callable[..., str], *, v6: bool = False) -> None:
        self.a = make_netns(unique("pwt-hA"))
        self.b = make_netns(unique("pwt-hB"))
        self.make_netns = make_netns
        end_a, end_b = unique("pwtua")[:12], unique("pwtub")[:12]
        sh("ip", "-n", self.a, "link", "add", end_a, "type", "veth", "peer", "name", end_b,
           "netns", self.b)  # fmt: skip
        if v6:
            self.addr_a, self.addr_b = "2001:db8:5::1", "2001:db8:5::2"
            plen = "64"
        else:
            self.addr_a, self.addr_b = UNDERLAY_A, UNDERLAY_B
            plen = "24"
        for ns, end, addr in ((self.a, end_a, self.addr_a), (self.b, end_b, self.addr_b)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/{plen}", "dev", end, "nodad")
            sh("ip", "-n", ns, "link", "set", end, "up")
        self.underlay = {self.a: end_a, self.b: end_b}

    def guest(self) -> str:
        return self.make_netns(unique("pwt-g"))

    def pipework(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", host, PIPEWORK, *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def ok(self, host: str, *args: str) -> str:
        res = self.pipework(host, *args)
        assert res.returncode == 0, f"pipework {' '.join(args)} in {host}: {res.stderr}"
        return res.stdout

    def gc(self, host: str) -> str:
        res = subprocess.run(
            ["ip", "netns", "exec", host, "env", "PATH=/nonexistent", PIPEWORK, "gc"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        return res.stdout

    def join(self, host: str, guest: str, address: str, *extra: str) -> str:
        """Attach ``guest`` in ``host`` to VNI 42, towards the other host."""
        remote = self.addr_b if host == self.a else self.addr_a
        return self.ok(
            host, "attach", guest, "--to", "vxlan:42", "--remote", remote, "--ip", address, *extra
        )

    def links(self, host: str) -> dict[str, dict[str, object]]:
        out = sh("ip", "-n", host, "-j", "-d", "link", "show").stdout
        return {str(entry["ifname"]): entry for entry in json.loads(out)}

    def state(self, host: str) -> tuple[list[tuple[str, str]], list[str]]:
        """The host's links (name, master) and addresses, to compare before and after."""
        links = sorted((name, str(e.get("master", ""))) for name, e in self.links(host).items())
        out = sh("ip", "-n", host, "-j", "addr", "show").stdout
        addrs = sorted(
            f"{e['ifname']} {a['local']}/{a['prefixlen']}"
            for e in json.loads(out)
            for a in e.get("addr_info", [])
            if not str(a["local"]).startswith("fe80:")
        )
        return links, addrs


@pytest.fixture
def hosts(make_netns: Callable[..., str]) -> Hosts:
    require(have("ip"), "iproute2 is needed")
    require(sh("ip", "link", "help", "vxlan", check=False).returncode in (0, 255), "ip vxlan")
    return Hosts(make_netns)


def test_guests_on_two_hosts_ping_each_other_and_pass_tcp(hosts: Hosts) -> None:
    guest_a, guest_b = hosts.guest(), hosts.guest()
    hosts.join(hosts.a, guest_a, "203.0.113.1/24")
    hosts.join(hosts.b, guest_b, "203.0.113.2/24")
    wait_until(lambda: pings(guest_a, "203.0.113.2"), 10, "a ping across the segment")
    require(have("busybox"), "busybox (nc) is needed for the TCP check")
    assert tcp_works(guest_b, guest_a, "203.0.113.2", 7042)


def test_the_host_gets_a_bridge_with_the_vxlan_device_as_its_port(hosts: Hosts) -> None:
    hosts.join(hosts.a, hosts.guest(), "203.0.113.1/24")
    links = hosts.links(hosts.a)
    device = links["vx42"]
    info = device["linkinfo"]["info_data"]  # type: ignore[index]
    assert info["id"] == 42
    assert info["remote"] == UNDERLAY_B
    assert info["port"] == 4789
    assert device["master"] == "brvx42"
    assert device["ifalias"] == "pipework vxlan vni=42"
    assert links["brvx42"]["linkinfo"]["info_kind"] == "bridge"  # type: ignore[index]
    assert links["brvx42"]["ifalias"] == "pipework bridge"


def test_the_guest_mtu_is_the_underlay_minus_50_bytes(hosts: Hosts) -> None:
    guest = hosts.guest()
    hosts.join(hosts.a, guest, "203.0.113.1/24")
    entry = link("eth1", netns=guest)
    assert entry is not None and entry["mtu"] == 1450
    assert hosts.links(hosts.a)["vx42"]["mtu"] == 1450


def test_an_ipv6_underlay_takes_70_bytes_and_carries_traffic(
    make_netns: Callable[..., str],
) -> None:
    hosts = Hosts(make_netns, v6=True)
    guest_a, guest_b = hosts.guest(), hosts.guest()
    hosts.join(hosts.a, guest_a, "203.0.113.1/24")
    hosts.join(hosts.b, guest_b, "203.0.113.2/24")
    entry = link("eth1", netns=guest_a)
    assert entry is not None and entry["mtu"] == 1430
    wait_until(lambda: pings(guest_a, "203.0.113.2"), 10, "a ping over the IPv6 underlay")


def test_a_full_size_packet_crosses_at_the_guest_mtu(hosts: Hosts) -> None:
    """1450 bytes in the guest, 1500 on the underlay: nothing is fragmented or lost."""
    guest_a, guest_b = hosts.guest(), hosts.guest()
    hosts.join(hosts.a, guest_a, "203.0.113.1/24")
    hosts.join(hosts.b, guest_b, "203.0.113.2/24")
    wait_until(lambda: pings(guest_a, "203.0.113.2"), 10, "a ping across the segment")
    # 1450 - 20 (IP) - 8 (ICMP), with "don't fragment"
    res = sh("ip", "netns", "exec", guest_a, "ping", "-c", "1", "-W", "2", "-M", "do",
             "-s", "1422", "203.0.113.2", check=False)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def test_an_mtu_the_segment_cannot_carry_is_refused_and_nothing_is_made(hosts: Hosts) -> None:
    guest = hosts.guest()
    before = hosts.state(hosts.a)
    res = hosts.pipework(
        hosts.a, "attach", guest, "--to", "vxlan:42", "--remote", UNDERLAY_B,
        "--ip", "203.0.113.1/24", "--mtu", "1500",
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "MTU 1500 is more than VXLAN segment 42 carries: 1450" in res.stderr
    assert hosts.state(hosts.a) == before
    assert link("eth1", netns=guest) is None


def test_a_smaller_mtu_is_taken(hosts: Hosts) -> None:
    guest = hosts.guest()
    hosts.join(hosts.a, guest, "203.0.113.1/24", "--mtu", "1400")
    entry = link("eth1", netns=guest)
    assert entry is not None and entry["mtu"] == 1400


def test_a_second_guest_on_the_vni_reuses_the_bridge_and_device(hosts: Hosts) -> None:
    first, second, far = hosts.guest(), hosts.guest(), hosts.guest()
    hosts.join(hosts.a, first, "203.0.113.1/24")
    made = hosts.links(hosts.a)
    hosts.join(hosts.a, second, "203.0.113.3/24")
    hosts.join(hosts.b, far, "203.0.113.2/24")
    now = hosts.links(hosts.a)
    assert now["brvx42"]["ifindex"] == made["brvx42"]["ifindex"]
    assert now["vx42"]["ifindex"] == made["vx42"]["ifindex"]
    assert sorted(n for n in now if n.startswith(("brvx", "vx"))) == ["brvx42", "vx42"]
    ports = sorted(n for n, e in now.items() if e.get("master") == "brvx42")
    assert len(ports) == 3  # vx42 and the two guests' veths
    wait_until(lambda: pings(second, "203.0.113.2"), 10, "the second guest's ping")
    assert pings(second, "203.0.113.1")


def test_the_same_request_again_changes_nothing(hosts: Hosts) -> None:
    guest = hosts.guest()
    hosts.join(hosts.a, guest, "203.0.113.1/24")
    before = hosts.state(hosts.a)
    hosts.join(hosts.a, guest, "203.0.113.1/24")
    assert hosts.state(hosts.a) == before


def test_a_segment_made_for_another_remote_is_refused(hosts: Hosts) -> None:
    first, second = hosts.guest(), hosts.guest()
    hosts.join(hosts.a, first, "203.0.113.1/24")
    before = hosts.state(hosts.a)
    res = hosts.pipework(
        hosts.a, "attach", second, "--to", "vxlan:42", "--remote", "198.51.100.9",
        "--ip", "203.0.113.3/24",
    )  # fmt: skip
    assert res.returncode != 0
    assert "its remote is 198.51.100.2, asked 198.51.100.9" in res.stderr
    assert hosts.state(hosts.a) == before
    assert link("eth1", netns=second) is None


def test_a_vxlan_device_pipework_did_not_make_is_left_alone(hosts: Hosts) -> None:
    sh("ip", "-n", hosts.a, "link", "add", "vx42", "type", "vxlan", "id", "42",
       "remote", UNDERLAY_B, "dstport", "4789")  # fmt: skip
    guest = hosts.guest()
    res = hosts.pipework(hosts.a, "attach", guest, "--to", "vxlan:42", "--remote", UNDERLAY_B)
    assert res.returncode != 0
    assert "VXLAN device vx42 exists and pipework did not create it" in res.stderr
    links = hosts.links(hosts.a)
    assert "master" not in links["vx42"] and "brvx42" not in links


def test_the_original_syntax_joins_a_segment(hosts: Hosts) -> None:
    guest_a, guest_b = hosts.guest(), hosts.guest()
    hosts.ok(hosts.a, "vxlan42", "--remote", UNDERLAY_B, guest_a, "203.0.113.1/24")
    hosts.ok(hosts.b, "--remote", UNDERLAY_A, "vxlan42", guest_b, "203.0.113.2/24")
    assert hosts.links(hosts.a)["vx42"]["master"] == "brvx42"
    wait_until(lambda: pings(guest_a, "203.0.113.2"), 10, "a ping across the segment")


def test_the_original_syntax_without_a_remote_says_what_is_missing(hosts: Hosts) -> None:
    guest = hosts.guest()
    res = hosts.pipework(hosts.a, "vxlan42", guest, "203.0.113.1/24")
    assert res.returncode == 2
    assert "vxlan42 is a VXLAN segment: it needs --remote ADDR" in res.stderr


def test_ls_and_inspect_show_the_vni_and_remote(hosts: Hosts) -> None:
    guest = hosts.guest()
    hosts.join(hosts.a, guest, "203.0.113.1/24")
    rows = json.loads(hosts.ok(hosts.a, "ls", "--json"))
    (row,) = [r for r in rows if r["guest"] == f"netns:{guest}"]
    assert row["bridge"] == "brvx42"
    assert row["segment"]["vni"] == 42 and row["segment"]["remote"] == UNDERLAY_B
    assert "brvx42 (vxlan 42 remote 198.51.100.2)" in hosts.ok(hosts.a, "ls")
    assert "on vxlan 42 remote 198.51.100.2" in hosts.ok(hosts.a, "inspect", guest)


def test_detach_of_the_last_guest_and_gc_leave_each_host_as_it_was(hosts: Hosts) -> None:
    first, second, far = hosts.guest(), hosts.guest(), hosts.guest()
    before = {host: hosts.state(host) for host in (hosts.a, hosts.b)}
    hosts.join(hosts.a, first, "203.0.113.1/24")
    hosts.join(hosts.a, second, "203.0.113.3/24")
    hosts.join(hosts.b, far, "203.0.113.2/24")
    hosts.ok(hosts.a, "detach", first)
    hosts.gc(hosts.a)
    assert "vx42" in hosts.links(hosts.a), "gc removed a segment a guest still uses"
    wait_until(lambda: pings(second, "203.0.113.2"), 10, "the remaining guest's ping")
    hosts.ok(hosts.a, "detach", second)
    hosts.ok(hosts.b, "detach", far)
    removed = hosts.gc(hosts.a) + hosts.gc(hosts.b)
    assert "vx42" in removed and "brvx42" in removed
    for host in (hosts.a, hosts.b):
        assert hosts.state(host) == before[host]
    assert link("eth1", netns=first) is None


def test_a_guest_that_is_gone_leaves_its_segment_to_gc(hosts: Hosts) -> None:
    guest = hosts.guest()
    before = hosts.state(hosts.a)
    hosts.join(hosts.a, guest, "203.0.113.1/24")
    sh("ip", "netns", "del", guest)  # the guest goes without a detach: its veth with it
    wait_until(
        lambda: not any(e.get("master") == "brvx42" and n != "vx42"
                        for n, e in hosts.links(hosts.a).items()),
        10, "the kernel to remove the gone guest's veth",
    )  # fmt: skip
    hosts.gc(hosts.a)
    assert hosts.state(hosts.a) == before


# ---------------------------------------------------------------- the README's example


def _readme_example() -> list[str]:
    """The README's two-host VXLAN block ("sh two-hosts"), one command a line."""
    text = README.read_text()
    match = re.search(r"^```sh two-hosts\n(.*?)^```", text, re.S | re.M)
    assert match, "README has no ```sh two-hosts block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_the_readme_example_runs_as_written_on_two_hosts(hosts: Hosts, cleanup) -> None:
    """The block test_readme skips (it needs two hosts). Each "# on host X" comment
    switches the "host" the next lines run in (``ip netns exec``). Two exceptions,
    each for a reason of the simulation, not of pipework: ``ip netns add`` runs from
    the real host, as the name it registers must outlive the command (inside ``ip
    netns exec`` it would be mounted in that command's private mount namespace only);
    ``pipework gc`` runs without ovs-vsctl in its PATH (see the module docstring).
    The README's guest names become fresh pwt names."""
    lines = _readme_example()
    names = {"web": unique("pwt-gweb"), "db": unique("pwt-gdb")}
    for name in names.values():
        cleanup.add(f"netns {name}", lambda n=name: sh("ip", "netns", "del", n, check=False))
    host = None
    ran = 0
    for line in lines:
        comment = re.match(r"#\s*on host ([AB])\b", line)
        if comment:
            host = hosts.a if comment.group(1) == "A" else hosts.b
            continue
        if line.lstrip().startswith("#"):
            continue
        assert host is not None, f"README: no '# on host A|B' before {line!r}"
        words = [names.get(word, word) for word in shlex.split(line)]
        if words[:3] == ["ip", "netns", "add"]:
            argv = words
        elif words[:2] == ["pipework", "gc"]:
            argv = ["ip", "netns", "exec", host, "env", "PATH=/nonexistent", PIPEWORK, *words[1:]]
        elif words[0] == "pipework":
            argv = ["ip", "netns", "exec", host, PIPEWORK, *words[1:]]
        else:
            argv = ["ip", "netns", "exec", host, *words]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, f"README example failed: {line}\n{res.stdout}{res.stderr}"
        ran += 1
    assert ran >= 10
    for host in (hosts.a, hosts.b):
        assert not {"brvx42", "vx42"} & set(hosts.links(host)), "the example left its segment"


def test_a_multicast_group_on_a_named_underlay_device_carries_traffic(hosts: Hosts) -> None:
    guest_a, guest_b = hosts.guest(), hosts.guest()
    for host, guest, address in ((hosts.a, guest_a, "203.0.113.1/24"),
                                 (hosts.b, guest_b, "203.0.113.2/24")):  # fmt: skip
        hosts.ok(
            host, "attach", guest, "--to", "vxlan:42", "--group", "239.1.1.42",
            "--vxlan-dev", hosts.underlay[host], "--ip", address,
        )  # fmt: skip
    info = hosts.links(hosts.a)["vx42"]["linkinfo"]["info_data"]  # type: ignore[index]
    assert info["group"] == "239.1.1.42" and info["link"] == hosts.underlay[hosts.a]
    wait_until(lambda: pings(guest_a, "203.0.113.2"), 10, "a ping over the multicast group")


def test_a_group_without_a_route_or_device_says_what_to_give(hosts: Hosts) -> None:
    guest = hosts.guest()
    res = hosts.pipework(hosts.a, "attach", guest, "--to", "vxlan:42", "--group", "239.1.1.42")
    assert res.returncode != 0
    assert "no route to the VXLAN group 239.1.1.42" in res.stderr
    assert "--vxlan-dev" in res.stderr


def test_verbose_shows_the_vxlan_device_as_an_ip_command(hosts: Hosts) -> None:
    res = hosts.pipework(
        hosts.a, "attach", hosts.guest(), "--to", "vxlan:42", "--remote", UNDERLAY_B, "-v"
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert (
        "ip link add vx42 mtu 1450 master brvx42 up type vxlan id 42 remote 198.51.100.2 "
        "dstport 4789" in out
    )


def test_guests_attached_at_once_share_one_segment(hosts: Hosts) -> None:
    """Concurrent attaches to a segment that does not exist yet: one bridge, one device."""
    guests = [hosts.guest() for _ in range(6)]
    far = hosts.guest()
    hosts.join(hosts.b, far, "203.0.113.100/24")
    procs = []
    for i, guest in enumerate(guests):
        address = f"203.0.113.{10 + i}/24"
        argv = ["ip", "netns", "exec", hosts.a, PIPEWORK, "attach", guest, "--to", "vxlan:42",
                "--remote", UNDERLAY_B, "--ip", address]  # fmt: skip
        procs.append(
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    links = hosts.links(hosts.a)
    assert sorted(n for n in links if n.startswith(("brvx", "vx"))) == ["brvx42", "vx42"]
    assert links["vx42"]["master"] == "brvx42"
    assert sum(1 for e in links.values() if e.get("master") == "brvx42") == 7
    for i, guest in enumerate(guests):
        wait_until(lambda g=guest: pings(g, "203.0.113.100"), 10, f"guest {i}'s ping")


def test_gc_beside_an_attach_never_takes_the_segment_from_under_it(hosts: Hosts) -> None:
    """gc removes an idle segment under the bridge lock; an attach holds the lock from
    the step that relies on the segment until its veth is a port: whichever goes
    first, the attached guest ends up on a whole segment."""
    for round_ in range(8):
        guest = hosts.guest()
        env_gc = ["ip", "netns", "exec", hosts.a, "env", "PATH=/nonexistent", PIPEWORK, "gc"]
        attach = ["ip", "netns", "exec", hosts.a, PIPEWORK, "attach", guest, "--to", "vxlan:42",
                  "--remote", UNDERLAY_B, "--ip", "203.0.113.1/24"]  # fmt: skip
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for argv in (env_gc, attach)]  # fmt: skip
        for proc in procs:
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, f"round {round_}: {err}"
        links = hosts.links(hosts.a)
        assert links["vx42"]["master"] == "brvx42", f"round {round_}"
        ports = [n for n, e in links.items() if e.get("master") == "brvx42" and n != "vx42"]
        assert len(ports) == 1, f"round {round_}: {ports}"
        hosts.ok(hosts.a, "detach", guest)
        if round_ % 2:
            hosts.gc(hosts.a)  # every other round starts from no segment at all


def test_a_local_address_and_another_udp_port_are_the_devices_and_carry_traffic(
    hosts: Hosts,
) -> None:
    guest_a, guest_b = hosts.guest(), hosts.guest()
    for host, guest, local, address in (
        (hosts.a, guest_a, hosts.addr_a, "203.0.113.1/24"),
        (hosts.b, guest_b, hosts.addr_b, "203.0.113.2/24"),
    ):
        hosts.join(host, guest, address, "--local", local, "--dstport", "8472")
    info = hosts.links(hosts.a)["vx42"]["linkinfo"]["info_data"]  # type: ignore[index]
    assert (info["local"], info["port"], info["remote"]) == (UNDERLAY_A, 8472, UNDERLAY_B)
    wait_until(lambda: pings(guest_a, "203.0.113.2"), 10, "a ping over UDP port 8472")
