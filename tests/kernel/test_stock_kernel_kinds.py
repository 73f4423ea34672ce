"""The kinds this machine's kernel lacks, for real, under Debian's stock kernel:
dummy, a macvlan on an 802.1Q ``IF.VLAN``, ipvlan, VLANs on a filtering Linux
bridge, and Open vSwitch with its kernel datapath. A veth end stands in for the
physical NIC; its peer, in a namespace of its own, is the far end of the cable.
"""

from __future__ import annotations

import json

from tests.integration.conftest import (
    addresses,
    in_ns,
    link,
    ovs_ports,
    pings,
    pipework,
    sh,
    tcp_works,
)


def kind_of(ifname: str, netns: str | None = None) -> tuple[str, dict[str, object]]:
    info = link(ifname, netns=netns)
    assert info is not None, f"{ifname} is missing"
    linkinfo = info["linkinfo"]
    assert isinstance(linkinfo, dict)
    return linkinfo["info_kind"], linkinfo.get("info_data", {})


def test_dummy_gets_its_address_and_goes_with_detach(make_netns):
    ns = make_netns()
    res = pipework("dummy", ns, "198.51.100.1/24")
    assert res.returncode == 0, res.stderr
    assert kind_of("eth1", ns)[0] == "dummy"
    assert addresses("eth1", netns=ns) == ["198.51.100.1/24"]
    res = pipework("attach", ns, "--to", "dummy", "--ifname", "eth2", "--ip", "2001:db8::1/64")
    assert res.returncode == 0, res.stderr
    assert addresses("eth2", netns=ns) == ["2001:db8::1/64"]
    res = pipework("detach", ns, "--all")
    assert res.returncode == 0, res.stderr
    assert link("eth1", netns=ns) is None and link("eth2", netns=ns) is None


def test_macvlans_on_a_vlan_of_the_nic_reach_that_vlan(make_netns, nic):
    a, b, far = make_netns(), make_netns(), make_netns()
    parent = nic()
    # the far end of the cable speaks VLAN 10 (and has nothing untagged)
    sh("ip", "link", "set", parent + "p", "netns", far)
    in_ns(
        far,
        "ip",
        "link",
        "add",
        "link",
        parent + "p",
        "name",
        "wire.10",
        "type",
        "vlan",
        "id",
        "10",
    )
    in_ns(far, "ip", "addr", "add", "198.51.100.20/24", "dev", "wire.10")
    for ifname in (parent + "p", "wire.10"):
        in_ns(far, "ip", "link", "set", ifname, "up")

    res = pipework(parent, a, "198.51.100.11/24", "@10")
    assert res.returncode == 0, res.stderr
    kind, data = kind_of(f"{parent}.10")
    assert kind == "vlan" and data["id"] == 10
    kind, data = kind_of("eth1", a)
    assert kind == "macvlan" and data["mode"] == "bridge"
    # a second guest reuses IF.10
    res = pipework("attach", b, "--to", parent, "--vlan", "10", "--ip", "198.51.100.12/24")
    assert res.returncode == 0, res.stderr

    assert pings(a, "198.51.100.20"), "no answer from the far end over VLAN 10"
    assert pings(b, "198.51.100.11")
    assert tcp_works(far, a, "198.51.100.20", 5401)


def test_an_if_vlan_with_another_tag_is_refused(make_netns, nic):
    ns = make_netns()
    parent = nic()
    sh("ip", "link", "add", "link", parent, "name", f"{parent}.20", "type", "vlan", "id", "30")
    res = pipework(parent, ns, "198.51.100.31/24", "@20")
    assert res.returncode == 1
    assert f"{parent}.20 already exists but is not a VLAN device for tag 20" in res.stderr
    assert link("eth1", netns=ns) is None
    assert kind_of(f"{parent}.20")[1]["id"] == 30


def test_ipvlan_l2_guests_ping_each_other_and_l3_too(make_netns, nic):
    for mode, subnet in (("l2", "198.51.100"), ("l3", "203.0.113")):
        a, b = make_netns(), make_netns()
        parent = nic()
        for ns, host in ((a, 1), (b, 2)):
            res = pipework(
                "attach", ns, "--to", parent, "--ipvlan-mode", mode, "--ip", f"{subnet}.{host}/24"
            )
            assert res.returncode == 0, res.stderr
            kind, data = kind_of("eth1", ns)
            assert kind == "ipvlan" and data["mode"] == mode
        assert pings(a, f"{subnet}.2"), f"ipvlan {mode}"
        assert tcp_works(b, a, f"{subnet}.2", 5402)


def test_vlans_on_a_linux_bridge_pipework_created(make_netns, bridge_name):
    a, b, c = make_netns(), make_netns(), make_netns()
    br = bridge_name()
    assert pipework(br, a, "198.51.100.41/24", "@10").returncode == 0
    assert pipework(br, b, "198.51.100.42/24", "@10").returncode == 0
    assert pipework(br, c, "198.51.100.43/24", "@20").returncode == 0
    assert kind_of(br)[1]["vlan_filtering"] == 1

    vlans = {
        entry["ifname"]: entry["vlans"]
        for entry in json.loads(sh("bridge", "-j", "vlan", "show").stdout)
    }
    ports = [
        entry["ifname"] for entry in json.loads(sh("ip", "-j", "link", "show", "master", br).stdout)
    ]
    assert sorted(v["vlan"] for p in ports for v in vlans[p]) == [10, 10, 20]
    for port in ports:
        (only,) = vlans[port]  # no longer a member of VLAN 1
        assert "PVID" in only["flags"] and "Egress Untagged" in only["flags"]

    assert pings(a, "198.51.100.42")
    assert not pings(a, "198.51.100.43"), "VLAN 20 answered VLAN 10"
    assert tcp_works(b, a, "198.51.100.42", 5403)


def test_vlan_filtering_on_someone_elses_bridge_only_when_allowed(make_netns, make_bridge):
    a, b = make_netns(), make_netns()
    br = make_bridge()
    res = pipework(br, a, "198.51.100.51/24", "@10")
    assert res.returncode == 1
    assert "does not filter VLANs, and pipework did not create it" in res.stderr
    assert kind_of(br)[1]["vlan_filtering"] == 0
    res = pipework("--vlan-filtering", br, a, "198.51.100.51/24", "@10")
    assert res.returncode == 0, res.stderr
    assert kind_of(br)[1]["vlan_filtering"] == 1
    res = pipework("attach", b, "--to", br, "--vlan", "10", "--ip", "198.51.100.52/24")
    assert res.returncode == 0, res.stderr
    assert pings(a, "198.51.100.52")


def test_ovs_kernel_datapath(ovs_kernel_datapath, make_netns, ovs_bridge):
    a, b, c = make_netns(), make_netns(), make_netns()
    br = ovs_bridge()
    assert pipework(br, a, "198.51.100.61/24", "@10").returncode == 0  # creates the bridge
    assert pipework(br, b, "198.51.100.62/24", "@10").returncode == 0
    assert pipework(br, c, "198.51.100.63/24", "@20").returncode == 0
    assert kind_of(br)[0] == "openvswitch", "not the kernel datapath"
    assert sh("ovs-vsctl", "get", "bridge", br, "datapath_type").stdout.strip() in ('""', "system")

    assert pings(a, "198.51.100.62")
    assert not pings(a, "198.51.100.63"), "tag 20 answered tag 10"
    assert tcp_works(b, a, "198.51.100.62", 5404)

    res = pipework("detach", b)
    assert res.returncode == 0, res.stderr
    assert len(ovs_ports(br)) == 2
