"""Every runtime's guest with every existing feature: the issue's matrix, for real.

Each real runtime guest this host runs (a podman container, a containerd task run
with ctr, a systemd-nspawn machine, an LXD container; each made by the fixtures of
its own test_runtime_*.py module) is named with its prefix and taken through the
features a plain netns has: a Linux bridge and macvlan on a NIC, Open vSwitch (the
userspace datapath: this kernel has no OVS datapath), the built-in DHCP client
(against tests/integration/rogue_dhcp.py), ``--wait`` in the guest's network
namespace, ``ls`` with the runtime's label, ``detach`` leaving nothing, and
``--direct-phys`` moving a NIC in and giving it back.

``--wait`` runs the host's pipework in the guest's network namespace (nsenter -n),
not in its mount namespace: the guests have busybox and no Python. What it waits
for, an interface of the network namespace, is the same either way.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

import pytest

from . import rogue_dhcp
from .conftest import PIPEWORK, in_ns, link, pings, pipework, sh, unique
from .test_runtime_containerd import task  # noqa: F401 (fixtures, asked for by name)
from .test_runtime_lxd import lxd_container, lxd_image, lxd_pid, lxd_socket  # noqa: F401
from .test_runtime_nspawn import machine  # noqa: F401
from .test_runtime_podman import podman, podman_image  # noqa: F401

# k8s: a pod's sandbox, a containerd task carrying the CRI plugin's annotations (no
# kubelet here); incus: an LXD container asked through INCUS_SOCKET (Debian 12 has no
# Incus; it answers the same API). nerdctl is not in Debian 12: not in the matrix.
RUNTIMES = ("podman", "containerd", "k8s", "nspawn", "lxd", "incus")
ADDRESS = "198.51.100.31"
PEER = "198.51.100.32"


@dataclass
class Guest:
    runtime: str
    ref: str  # the prefixed name a user writes
    pid: int  # a process in its network namespace

    def run(self, *argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """A host program in the guest's network namespace."""
        return sh("nsenter", "-t", str(self.pid), "-n", *argv, check=check)

    def link(self, ifname: str = "eth1") -> dict[str, object] | None:
        res = self.run("ip", "-j", "-d", "link", "show", "dev", ifname)
        if res.returncode != 0 or not res.stdout.strip():
            return None
        return json.loads(res.stdout)[0]  # type: ignore[no-any-return]

    def addresses(self, ifname: str = "eth1") -> list[str]:
        out = self.run("ip", "-j", "addr", "show", "dev", ifname).stdout
        return [
            f"{a['local']}/{a['prefixlen']}"
            for entry in json.loads(out or "[]")
            for a in entry.get("addr_info", [])
            if a.get("scope") == "global"
        ]

    def pings(self, address: str) -> bool:
        return self.run("ping", "-c", "1", "-W", "3", address).returncode == 0


@pytest.fixture(params=RUNTIMES)
def guest(request: pytest.FixtureRequest) -> Guest:
    """A running guest of the runtime the test is parametrized with (its own fixture
    requires the runtime, so a missing one fails under PIPEWORK_REQUIRE_ALL)."""
    runtime = request.param
    if runtime == "podman":
        name = request.getfixturevalue("podman")()
        pid = sh("podman", "inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
        return Guest(runtime, f"podman:{name}", int(pid))
    if runtime == "containerd":
        ns, ident, pid = request.getfixturevalue("task")()
        return Guest(runtime, f"containerd:{ns}/{ident}", pid)
    if runtime == "k8s":
        pod_ns, pod = unique("pwtpodns"), unique("pwtpod")
        _ns, _sandbox, pid = request.getfixturevalue("task")(
            "k8s.io",
            "--annotation=io.kubernetes.cri.container-type=sandbox",
            f"--annotation=io.kubernetes.cri.sandbox-name={pod}",
            f"--annotation=io.kubernetes.cri.sandbox-namespace={pod_ns}",
        )
        return Guest(runtime, f"k8s:{pod_ns}/{pod}", pid)
    if runtime == "nspawn":
        m = request.getfixturevalue("machine")()
        return Guest(runtime, f"nspawn:{m.name}", m.leader)
    name = request.getfixturevalue("lxd_container")()
    if runtime == "incus":  # every pipework run of the test (they inherit os.environ)
        request.getfixturevalue("monkeypatch").setenv("INCUS_SOCKET", lxd_socket())
    return Guest(runtime, f"{runtime}:{name}", lxd_pid(name))


def _attach(*args: str) -> None:
    res = pipework(*args)
    assert res.returncode == 0, res.stderr


def _detached(guest: Guest, host_ifname: str | None = None) -> None:
    res = pipework("detach", guest.ref)
    assert res.returncode == 0, res.stderr
    assert guest.link("eth1") is None, "eth1 is still in the guest"
    if host_ifname:
        assert link(host_ifname) is None, f"{host_ifname} is still on the host"


def test_a_linux_bridge_and_macvlan_on_a_nic(guest, make_netns, bridge_name, nic):
    peer, br = make_netns(), bridge_name()
    _attach(br, guest.ref, f"{ADDRESS}/24")
    _attach(br, peer, f"{PEER}/24")
    assert guest.addresses() == [f"{ADDRESS}/24"]
    assert link(f"veth1pl{guest.pid}")["master"] == br
    assert guest.pings(PEER)
    _detached(guest, f"veth1pl{guest.pid}")

    parent, other = nic(), make_netns()
    _attach(parent, guest.ref, "203.0.113.31/24")
    _attach(parent, other, "203.0.113.32/24")
    info = guest.link()
    assert info is not None and info["linkinfo"]["info_kind"] == "macvlan"  # type: ignore[index]
    assert guest.pings("203.0.113.32")
    _detached(guest)
    assert link(parent) is not None


def test_open_vswitch(guest, make_netns, ovs_bridge):
    peer, br = make_netns(), ovs_bridge()
    sh("ovs-vsctl", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev")
    _attach(br, guest.ref, f"{ADDRESS}/24")
    _attach(br, peer, f"{PEER}/24")
    assert f"veth1pl{guest.pid}" in sh("ovs-vsctl", "list-ports", br).stdout.split()
    assert guest.pings(PEER)
    _detached(guest, f"veth1pl{guest.pid}")
    assert f"veth1pl{guest.pid}" not in sh("ovs-vsctl", "list-ports", br).stdout.split()


def test_the_built_in_dhcp_client(guest, make_netns, make_bridge, spawn, cleanup, tmp_path):
    bridge, ns = rogue_dhcp.network(make_netns, make_bridge, cleanup, "198.51.100.1/24")
    server = rogue_dhcp.start(
        spawn, ns, tmp_path / "rogue.log", bridge, address="198.51.100.77",
        mask="255.255.255.0", routers=["198.51.100.1"],
    )  # fmt: skip
    _attach(bridge, guest.ref, "dhcp")
    assert guest.addresses() == ["198.51.100.77/24"]
    assert "default via 198.51.100.1" in guest.run("ip", "-4", "route").stdout
    assert [e["type"] for e in server.events("sent")] == ["OFFER", "ACK"]
    assert guest.pings("198.51.100.1")
    _detached(guest, f"veth1pl{guest.pid}")


def test_wait_in_the_guest_returns_once_attached(guest, bridge_name, spawn):
    waiter = spawn(
        "nsenter", "-t", str(guest.pid), "-n", PIPEWORK, "--wait", "-i", "eth1",
        "--timeout", "20", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(0.3)
    assert waiter.poll() is None, "still waiting: eth1 does not exist yet"
    _attach(bridge_name(), guest.ref, f"{ADDRESS}/24")
    assert waiter.wait(timeout=10) == 0, waiter.stderr.read() if waiter.stderr else ""
    assert guest.addresses() == [f"{ADDRESS}/24"], "the address is there when --wait returns"
    _detached(guest)


def _rows(guest: Guest) -> list[dict[str, object]]:
    res = pipework("ls", "--json")
    assert res.returncode == 0, res.stderr
    return [r for r in json.loads(res.stdout) if r["guest"] == guest.ref]


def test_ls_shows_the_runtime_and_detach_removes_everything(guest, bridge_name):
    br = bridge_name()
    _attach(br, guest.ref, f"{ADDRESS}/24")
    _attach(br, "-i", "eth2", guest.ref, "198.51.100.33/24")
    rows = _rows(guest)
    assert sorted((r["runtime"], r["container_ifname"], r["bridge"]) for r in rows) == [
        (guest.runtime, "eth1", br),
        (guest.runtime, "eth2", br),
    ]
    assert any(
        line.split()[:2] == [guest.ref, "eth1"] for line in pipework("ls").stdout.splitlines()
    )
    hosts = [str(r["host_ifname"]) for r in rows]
    res = pipework("detach", guest.ref)  # eth1, as the original
    assert res.returncode == 0, res.stderr
    assert guest.link("eth1") is None and guest.link("eth2") is not None
    res = pipework("detach", guest.ref, "--all")
    assert res.returncode == 0, res.stderr
    assert guest.link("eth2") is None
    assert all(link(h) is None for h in hosts), hosts
    assert _rows(guest) == []


def test_direct_phys_moves_a_nic_in_and_detach_gives_it_back(guest, make_netns, nic):
    far, mac = make_netns(), "02:00:00:5e:00:7a"
    phys = nic(mac=mac)
    sh("ip", "link", "set", phys + "p", "netns", far)  # the NIC's wire, pinged across
    in_ns(far, "ip", "addr", "add", f"{PEER}/24", "dev", phys + "p")
    in_ns(far, "ip", "link", "set", phys + "p", "up")
    _attach("--direct-phys", f"mac:{mac}", guest.ref, f"{ADDRESS}/24")
    assert link(phys) is None, "the NIC is still on the host"
    moved = guest.link()
    assert moved is not None and moved["address"] == mac
    assert guest.pings(PEER) and pings(far, ADDRESS)
    res = pipework("detach", guest.ref)
    assert res.returncode == 0, res.stderr
    assert f"given back to the host as {phys}" in res.stdout
    assert link(phys) is not None and guest.link() is None
