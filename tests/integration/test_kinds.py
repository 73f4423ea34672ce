"""Every host-side kind this machine's kernel has, on real kernel objects and a real
Open vSwitch: OVS (userspace datapath), macvlan on a NIC, --direct-phys / mac:, a
veth between two guests; and the kinds it lacks fail with a sentence naming them.

A veth end stands in for the physical NIC. The kinds this kernel lacks (dummy,
802.1Q, ipvlan, bridge VLAN filtering, the OVS kernel datapath) are proven for
real in the tests/kernel lane, which boots a stock Debian kernel under qemu.
"""

from __future__ import annotations

import json
import os

import pytest

from .conftest import (
    PIPEWORK,
    addresses,
    in_ns,
    link,
    ovs_ports,
    pings,
    pipework,
    sh,
    tcp_works,
    unique,
    wait_until,
)


def kernel_has(kind: str, *args: str) -> bool:
    """Whether this kernel can make a ``kind`` link, tried in a scratch namespace."""
    ns = unique("pwt-probe")
    sh("ip", "netns", "add", ns)
    try:
        return (
            sh(
                "ip", "-n", ns, "link", "add", "pwtprobe", *args, "type", kind, check=False
            ).returncode
            == 0
        )
    finally:
        sh("ip", "netns", "del", ns)


# --- Open vSwitch ----------------------------------------------------------------


def test_ovs_tags_separate_guests_and_tcp_crosses_the_userspace_datapath(make_netns, ovs_bridge):
    a, b, c = make_netns(), make_netns(), make_netns()
    br = ovs_bridge()
    res = pipework(
        "attach",
        a,
        "--to",
        br,
        "--ovs-datapath",
        "netdev",
        "--ip",
        "203.0.113.1/24",
        "--vlan",
        "10",
    )
    assert res.returncode == 0, res.stderr
    assert sh("ovs-vsctl", "get", "bridge", br, "datapath_type").stdout.strip() == "netdev"
    # the original's syntax, on the bridge that now exists
    assert pipework(br, b, "203.0.113.2/24", "@10").returncode == 0
    assert pipework(br, c, "203.0.113.3/24", "@20").returncode == 0

    assert pings(a, "203.0.113.2")
    assert not pings(a, "203.0.113.3"), "a guest on tag 20 answered one on tag 10"
    # ICMP alone would cross even with offloaded checksums; TCP proves they are right
    assert tcp_works(b, a, "203.0.113.2", 5301)

    ports = ovs_ports(br)
    assert len(ports) == 3
    tags = {p: sh("ovs-vsctl", "get", "port", p, "tag").stdout.strip() for p in ports}
    assert sorted(tags.values()) == ["10", "10", "20"]
    port_b = next(
        p for p in ports if b in sh("ovs-vsctl", "get", "interface", p, "external-ids").stdout
    )
    for key, value in (
        ("pipework.interface", "eth1"),
        ("pipework.bridge", br),
        ("pipework.containerid", b),
        ("pipework.containername", f"netns:{b}"),
        ("pipework.vlan", "10"),
    ):
        got = sh("ovs-vsctl", "get", "interface", port_b, f"external-ids:{key}").stdout
        assert got.strip().strip('"') == value, key

    listed = json.loads(pipework("ls", "--json").stdout)
    mine = [row for row in listed if row["bridge"] == br]
    assert sorted(row["guest"] for row in mine) == sorted(f"netns:{n}" for n in (a, b, c))

    res = pipework("detach", b)
    assert res.returncode == 0, res.stderr
    assert port_b not in ovs_ports(br)
    assert link(port_b) is None


def test_rerunning_the_same_ovs_attach_changes_nothing(make_netns, ovs_bridge):
    """An OVS port's host end has no Linux master (its master is ovs-system on the
    kernel datapath, none on the userspace one): the re-run is recognised through
    OVS's own record of the port, not through the kernel's master index."""
    ns, other = make_netns(), make_netns()
    br = ovs_bridge()
    sh("ovs-vsctl", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev")
    assert pipework(br, ns, "203.0.113.31/24", "@10").returncode == 0
    port = ovs_ports(br)[0]

    again = pipework(br, ns, "203.0.113.31/24", "@10")
    assert again.returncode == 0, again.stderr
    assert "already attached" in again.stderr and "nothing changed" in again.stderr
    assert ovs_ports(br) == [port]
    assert addresses("eth1", netns=ns) == ["203.0.113.31/24"]

    # on another OVS bridge it is attached differently: named, refused, untouched
    br2 = ovs_bridge()
    sh("ovs-vsctl", "add-br", br2, "--", "set", "bridge", br2, "datapath_type=netdev")
    moved = pipework(br2, ns, "203.0.113.31/24", "@10")
    assert moved.returncode == 1
    assert f"is on another bridge than {br2}" in moved.stderr
    assert ovs_ports(br) == [port] and ovs_ports(br2) == []
    # a different tag is a difference too
    retag = pipework(br, ns, "203.0.113.31/24", "@20")
    assert retag.returncode == 1 and "tag" in retag.stderr, retag.stderr
    assert sh("ovs-vsctl", "get", "port", port, "tag").stdout.strip() == "10"
    assert pipework(br, other, "203.0.113.32/24", "@10").returncode == 0
    assert pings(other, "203.0.113.31")

    # --force moves it: the old port's record goes with its veth, none is left stale
    forced = pipework("--force", br2, ns, "203.0.113.31/24", "@10")
    assert forced.returncode == 0, forced.stderr
    assert port not in ovs_ports(br) and ovs_ports(br2) == [port]
    assert addresses("eth1", netns=ns) == ["203.0.113.31/24"]


def test_gc_removes_ovs_ports_whose_guest_is_gone(make_netns, ovs_bridge):
    a, b = make_netns(), make_netns()
    br = ovs_bridge()
    sh("ovs-vsctl", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev")
    assert pipework(br, a, "203.0.113.11/24").returncode == 0
    assert pipework(br, b, "203.0.113.12/24").returncode == 0
    port_b = next(
        p
        for p in ovs_ports(br)
        if b in sh("ovs-vsctl", "get", "interface", p, "external-ids").stdout
    )
    sh("ip", "netns", "del", b)  # the guest goes; its veth with it, its OVS port stays
    wait_until(lambda: link(port_b) is None, 10, "the veth to go with its namespace")
    assert port_b in ovs_ports(br)

    res = pipework("gc", "--json")
    assert res.returncode == 0, res.stderr
    assert port_b not in ovs_ports(br)
    assert len(ovs_ports(br)) == 1  # a's port is alive and stays
    assert pipework("gc").stdout.strip() == "nothing to collect"


def test_an_ovs_bridge_without_a_datapath_is_an_error_not_a_dead_port(make_netns, ovs_bridge):
    ns = make_netns()
    br = ovs_bridge()
    if os.path.isdir("/sys/module/openvswitch"):
        pytest.skip("this kernel has the OVS datapath; the tests/kernel lane covers it")
    res = pipework(br, ns, "203.0.113.21/24")
    assert res.returncode == 1
    assert "this kernel has no Open vSwitch datapath support" in res.stderr
    assert "--ovs-datapath netdev" in res.stderr
    assert sh("ovs-vsctl", "br-exists", br, check=False).returncode == 2, "rollback left the bridge"
    assert link("eth1", netns=ns) is None


def test_ovs_database_down_is_named(make_netns, ovs_bridge):
    ns = make_netns()
    br = ovs_bridge()
    # a private mount namespace hides the database socket from this one pipework run
    script = f"mount -t tmpfs none /run/openvswitch && exec {PIPEWORK} {br} {ns} 203.0.113.31/24"
    res = sh("unshare", "-m", "sh", "-c", script, check=False)
    assert res.returncode == 1
    assert "the Open vSwitch database is not running" in res.stderr
    assert "ovs-ctl start" in res.stderr
    assert link("eth1", netns=ns) is None


def test_ovs_not_installed_is_named(make_netns):
    ns = make_netns()
    res = pipework("ovspwtnone", ns, "203.0.113.41/24", env={"PATH": "/nonexistent"})
    assert res.returncode == 1
    assert "Open vSwitch is not installed (no ovs-vsctl)" in res.stderr
    assert link("eth1", netns=ns) is None


# --- macvlan on a NIC --------------------------------------------------------------


def test_two_macvlans_on_one_nic_ping_each_other(make_netns, nic):
    a, b = make_netns(), make_netns()
    parent = nic(mtu=1400)
    assert pipework(parent, a, "198.51.100.41/24").returncode == 0
    assert pipework(parent, "-i", "eth2", b, "198.51.100.42/24").returncode == 0
    for ns, ifname in ((a, "eth1"), (b, "eth2")):
        info = link(ifname, netns=ns)
        assert info is not None
        assert info["linkinfo"]["info_kind"] == "macvlan"  # type: ignore[index]
        assert info["linkinfo"]["info_data"]["mode"] == "bridge"  # type: ignore[index]
        assert info["mtu"] == 1400, "the MTU comes from the parent"
    # the parent came up with the first macvlan (as the original), nothing moved off it
    assert "UP" in link(parent)["flags"]  # type: ignore[index]
    assert pings(a, "198.51.100.42")
    assert tcp_works(b, a, "198.51.100.42", 5302)
    res = pipework("detach", b, "--ifname", "eth2")
    assert res.returncode == 0, res.stderr
    assert link("eth2", netns=b) is None
    assert link(parent) is not None


def test_private_macvlans_cannot_reach_each_other(make_netns, nic):
    a, b = make_netns(), make_netns()
    parent = nic()
    for ns, addr in ((a, "198.51.100.51/24"), (b, "198.51.100.52/24")):
        res = pipework("attach", ns, "--to", parent, "--macvlan-mode", "private", "--ip", addr)
        assert res.returncode == 0, res.stderr
        assert link("eth1", netns=ns)["linkinfo"]["info_data"]["mode"] == "private"  # type: ignore[index]
    assert not pings(a, "198.51.100.52")


def test_a_tagged_macvlan_needs_802_1q(make_netns, nic):
    ns = make_netns()
    parent = nic()
    res = pipework(parent, ns, "198.51.100.61/24", "@10")
    if kernel_has("vlan", "link", "lo", "id", "10"):
        pytest.skip("this kernel has 802.1Q; the tests/kernel lane covers the tagged macvlan")
    assert res.returncode == 1
    assert res.stderr.startswith(
        "pipework: this kernel has no 802.1Q VLAN support (RTNETLINK: Operation not supported)"
    )
    assert link(f"{parent}.10") is None
    assert link("eth1", netns=ns) is None


def test_an_existing_if_vlan_that_is_not_that_vlan_is_refused(make_netns, nic, make_bridge):
    ns = make_netns()
    parent = nic()
    impostor = make_bridge(f"{parent}.10")  # IF.10 exists, but is no VLAN at all
    res = pipework(parent, ns, "198.51.100.62/24", "@10")
    assert res.returncode == 1
    assert f"{impostor} already exists but is not a VLAN device for tag 10" in res.stderr
    assert link("eth1", netns=ns) is None


# --- the kinds this kernel lacks: the error names them ------------------------------


@pytest.mark.parametrize(
    ("kind", "argv", "probe"),
    [
        ("dummy", ["dummypwt0", "{ns}", "198.51.100.71/24"], ("dummy",)),
        (
            "ipvlan",
            ["attach", "{ns}", "--to", "{nic}", "--ipvlan-mode", "l2", "--ip", "198.51.100.72/24"],
            ("ipvlan", "link", "lo"),
        ),
    ],
)
def test_a_missing_kind_is_named_not_a_traceback(make_netns, nic, kind, argv, probe):
    ns = make_netns()
    parent = nic()
    if kernel_has(*probe):
        pytest.skip(f"this kernel has {kind}; the tests/kernel lane covers it")
    res = pipework(*(a.format(ns=ns, nic=parent) for a in argv))
    assert res.returncode == 1
    assert res.stderr.startswith(
        f"pipework: this kernel has no {kind} support (RTNETLINK: Operation not supported)"
    ), res.stderr
    assert "Traceback" not in res.stderr
    assert [entry["ifname"] for entry in json.loads(in_ns(ns, "ip", "-j", "link").stdout)] == ["lo"]


def test_a_vlan_on_a_bridge_pipework_creates_needs_vlan_filtering(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework(br, ns, "198.51.100.81/24", "@10")
    if res.returncode == 0:
        pytest.skip("this kernel has bridge VLAN filtering; the tests/kernel lane covers it")
    assert res.returncode == 1
    assert res.stderr.startswith(
        "pipework: this kernel has no bridge VLAN filtering support "
        "(RTNETLINK: Operation not supported)"
    ), res.stderr
    assert link(br) is None, "the bridge pipework created was not rolled back"


def test_a_vlan_on_someone_elses_bridge_is_refused_without_vlan_filtering(make_netns, make_bridge):
    ns = make_netns()
    br = make_bridge()
    res = pipework(br, ns, "198.51.100.82/24", "@10")
    assert res.returncode == 1
    assert f"bridge {br} does not filter VLANs, and pipework did not create it" in res.stderr
    assert "--vlan-filtering" in res.stderr
    assert link("eth1", netns=ns) is None
    assert link(br)["linkinfo"]["info_data"]["vlan_filtering"] == 0  # type: ignore[index]


# --- --direct-phys and mac: ----------------------------------------------------------


def test_direct_phys_moves_the_nic_in_and_detach_gives_it_back(make_netns, nic, cleanup):
    a, far = make_netns(), make_netns()
    mac = "02:00:00:5e:00:71"
    phys = nic(mac=mac)
    sh("ip", "link", "set", phys, "alias", "uplink to rack 7")
    # the NIC's wire: its peer, in another namespace, with an address to ping
    sh("ip", "link", "set", phys + "p", "netns", far)
    in_ns(far, "ip", "addr", "add", "198.51.100.92/24", "dev", phys + "p")
    in_ns(far, "ip", "link", "set", phys + "p", "up")

    res = pipework("--direct-phys", f"mac:{mac}", a, "198.51.100.91/24")
    assert res.returncode == 0, res.stderr
    assert link(phys) is None, "the NIC is still on the host"
    moved = link("eth1", netns=a)
    assert moved is not None and moved["address"] == mac
    assert addresses("eth1", netns=a) == ["198.51.100.91/24"]
    assert pings(a, "198.51.100.92")

    res = pipework("detach", a)
    assert res.returncode == 0, res.stderr
    assert f"given back to the host as {phys}" in res.stdout
    back = link(phys)
    assert back is not None, "the NIC did not come back"
    assert back["address"] == mac
    assert back["ifalias"] == "uplink to rack 7"
    assert link("eth1", netns=a) is None
    # and it can be moved again, by name this time
    res = pipework("--direct-phys", phys, a, "198.51.100.91/24")
    assert res.returncode == 0, res.stderr
    assert pipework("detach", a).returncode == 0
    assert link(phys) is not None


def test_direct_phys_refuses_a_bridge_port(make_netns, nic, make_bridge):
    ns = make_netns()
    phys = nic()
    br = make_bridge()
    sh("ip", "link", "set", phys, "master", br)
    res = pipework("--direct-phys", phys, ns, "198.51.100.93/24")
    assert res.returncode == 1
    assert "--direct-phys moves a NIC that nothing else uses" in res.stderr
    assert link(phys)["master"] == br  # type: ignore[index]


def test_mac_selector_with_no_such_nic_is_named(make_netns):
    ns = make_netns()
    res = pipework("--direct-phys", "mac:02:00:00:5e:00:7f", ns, "198.51.100.94/24")
    assert res.returncode == 1
    assert "no host interface has the MAC 02:00:00:5e:00:7f" in res.stderr


# --- pipework link -------------------------------------------------------------------


def test_link_joins_two_guests_directly(make_netns):
    a, b = make_netns(), make_netns()
    res = pipework(
        "link",
        f"{a}:p2p0",
        f"{b}:p2p9",
        "--ip-a",
        "198.51.100.101/30",
        "--ip-b",
        "198.51.100.102/30",
    )
    assert res.returncode == 0, res.stderr
    end_a, end_b = link("p2p0", netns=a), link("p2p9", netns=b)
    assert end_a is not None and end_b is not None
    assert end_a["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]
    assert pings(a, "198.51.100.102")
    assert tcp_works(b, a, "198.51.100.102", 5303)
    # nothing on the host: the pair was born in the two guests
    assert not [
        e for e in json.loads(sh("ip", "-j", "link").stdout) if e["ifname"] in ("p2p0", "p2p9")
    ]

    res = pipework("detach", b, "--ifname", "p2p9")
    assert res.returncode == 0, res.stderr
    wait_until(lambda: link("p2p0", netns=a) is None, 5, "the other end to go")


def test_link_refuses_one_guest_twice_and_taken_names(make_netns):
    a, b = make_netns(), make_netns()
    res = pipework("link", a, f"{a}:eth2")
    assert res.returncode == 2
    assert "are the same network namespace" in res.stderr
    in_ns(b, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth9")
    res = pipework("link", a, b)
    assert res.returncode == 1
    assert "already exists" in res.stderr
    assert link("eth1", netns=a) is None, "the half-made pair was not rolled back"
