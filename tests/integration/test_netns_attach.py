"""Attaching named-netns guests to a Linux bridge, with the original command line."""

from __future__ import annotations

import os

import pytest

from .conftest import addresses, ip_json, link, pipework, sh, wait_until


def link_names(netns: str | None = None) -> list[str]:
    return sorted(str(entry["ifname"]) for entry in ip_json("link", "show", netns=netns))


def test_attach_creates_bridge_veth_and_address(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework(br, ns, "198.51.100.10/24")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""

    bridge = link(br)
    assert bridge is not None and bridge["linkinfo"]["info_kind"] == "bridge"
    assert bridge["operstate"] in ("UP", "UNKNOWN")
    assert bridge.get("ifalias") == "pipework bridge"

    guest = link("eth1", ns)
    assert guest is not None and "UP" in guest["flags"]
    assert addresses("eth1", ns) == ["198.51.100.10/24"]
    v4 = ip_json("-4", "addr", "show", "dev", "eth1", netns=ns)[0]["addr_info"][0]
    assert v4["broadcast"] == "198.51.100.255"

    ino = os.stat(f"/run/netns/{ns}").st_ino
    host_name = f"veth1ns{ino - 0xF0000000}"
    host = link(host_name)
    assert host is not None, f"expected host side {host_name}"
    assert host["master"] == br
    assert "UP" in host["flags"]
    assert host["ifalias"] == f"pipework guest=netns:{ns} if=eth1 ns={ino}"
    assert host["mtu"] == guest["mtu"] == bridge["mtu"]


def test_two_guests_on_one_bridge_ping_each_other(make_netns, bridge_name):
    a, b = make_netns(), make_netns()
    br = bridge_name()
    assert pipework(br, a, "198.51.100.1/24").returncode == 0
    assert pipework(br, b, "198.51.100.2/24").returncode == 0
    sh("ip", "netns", "exec", a, "ping", "-c", "1", "-W", "2", "198.51.100.2")


def test_container_and_host_interface_names_are_honoured(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework(br, "-i", "lan0", "-l", "vpwt-lan0", ns, "198.51.100.5/24")
    assert res.returncode == 0, res.stderr
    assert link("lan0", ns) is not None
    assert link("vpwt-lan0")["master"] == br


def test_options_may_come_in_any_order(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework(br, "-l", "vpwt-any", "-a", "4", "-i", "lan1", ns, "198.51.100.6/24")
    assert res.returncode == 0, res.stderr
    assert addresses("lan1", ns) == ["198.51.100.6/24"]


def test_mac_address_is_set_at_creation(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), ns, "198.51.100.20/24", "02:00:c0:00:02:14")
    assert res.returncode == 0, res.stderr
    assert link("eth1", ns)["address"] == "02:00:c0:00:02:14"


def test_u_string_mac_matches_the_original_md5_recipe(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), ns, "198.51.100.21/24", "U:hello")
    assert res.returncode == 0, res.stderr
    # echo hello | md5sum -> b1946ac92492d2347c6235b4d2611184
    assert link("eth1", ns)["address"] == "02:b1:94:6a:c9:24"


def test_gateway_in_subnet_becomes_the_default_route(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), ns, "198.51.100.30/24@198.51.100.1")
    assert res.returncode == 0, res.stderr
    routes = ip_json("route", "show", "default", netns=ns)
    assert [(r["gateway"], r["dev"]) for r in routes] == [("198.51.100.1", "eth1")]


def test_gateway_replaces_an_existing_default_route(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    assert pipework(br, "-i", "eth0", ns, "203.0.113.9/24@203.0.113.1").returncode == 0
    res = pipework(br, ns, "198.51.100.31/24@198.51.100.1")
    assert res.returncode == 0, res.stderr
    routes = ip_json("route", "show", "default", netns=ns)
    assert [(r["gateway"], r["dev"]) for r in routes] == [("198.51.100.1", "eth1")]


def test_gateway_outside_the_subnet_gets_an_onlink_host_route(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), ns, "198.51.100.32/24@203.0.113.1")
    assert res.returncode == 0, res.stderr
    host_route = ip_json("route", "show", "203.0.113.1", netns=ns)
    assert host_route and host_route[0]["dev"] == "eth1" and host_route[0]["scope"] == "link"
    default = ip_json("route", "show", "default", netns=ns)
    assert [(r["gateway"], r["dev"]) for r in default] == [("203.0.113.1", "eth1")]


def test_ipv6_address_and_gateway(make_netns, bridge_name):
    a, b = make_netns(), make_netns()
    br = bridge_name()
    res = pipework(br, a, "2001:db8::a/64@2001:db8::1")
    assert res.returncode == 0, res.stderr
    assert pipework(br, b, "2001:db8::b/64").returncode == 0
    assert addresses("eth1", a) == ["2001:db8::a/64"]
    routes = ip_json("-6", "route", "show", "default", netns=a)
    assert [(r["gateway"], r["dev"]) for r in routes] == [("2001:db8::1", "eth1")]
    # nodad: usable at once, no second of duplicate address detection to wait for
    sh("ip", "netns", "exec", a, "ping", "-6", "-c", "1", "-W", "3", "2001:db8::b")


def test_family_flag_is_accepted_for_compatibility(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), "-a", "6", ns, "2001:db8::c/64")
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", ns) == ["2001:db8::c/64"]


def test_zero_slash_zero_attaches_without_an_address(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), ns, "0/0")
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", ns) == []
    assert "UP" in link("eth1", ns)["flags"]


def test_mtu_is_copied_from_an_existing_bridge(make_netns, make_bridge):
    ns = make_netns()
    br = make_bridge(mtu=1400)
    res = pipework(br, ns, "198.51.100.40/24")
    assert res.returncode == 0, res.stderr
    assert link("eth1", ns)["mtu"] == 1400
    assert link(br).get("ifalias") is None, "a bridge pipework did not create is not marked"


def test_existing_bridge_with_any_name_is_used(make_netns, make_bridge):
    ns = make_netns()
    br = make_bridge(name="pwtlan0")
    res = pipework(br, ns, "198.51.100.41/24")
    assert res.returncode == 0, res.stderr
    assert link("eth1", ns) is not None


def test_missing_interface_without_br_prefix_is_an_error(make_netns):
    ns = make_netns()
    res = pipework("pwtnothere", ns, "198.51.100.42/24")
    assert res.returncode == 1
    assert "no host interface 'pwtnothere'" in res.stderr
    assert "--create-bridge" in res.stderr
    assert link("pwtnothere") is None and link("eth1", ns) is None


def test_create_bridge_makes_a_bridge_of_any_name(make_netns, cleanup):
    ns = make_netns()
    cleanup.add("bridge pwtcreated", lambda: sh("ip", "link", "del", "pwtcreated", check=False))
    res = pipework("--create-bridge", "pwtcreated", ns, "198.51.100.43/24")
    assert res.returncode == 0, res.stderr
    assert link("pwtcreated")["linkinfo"]["info_kind"] == "bridge"


def test_taken_host_name_is_refused_and_left_alone(make_netns, make_bridge, cleanup):
    ns = make_netns()
    br = make_bridge()
    cleanup.add("veth vpwt-taken", lambda: sh("ip", "link", "del", "vpwt-taken", check=False))
    sh("ip", "link", "add", "vpwt-taken", "type", "veth", "peer", "name", "vpwt-taken-p")
    res = pipework(br, "-l", "vpwt-taken", ns, "198.51.100.44/24")
    assert res.returncode == 1
    assert "vpwt-taken already exists (veth, down)" in res.stderr
    assert "never deletes" in res.stderr
    still = link("vpwt-taken")
    assert still is not None and "master" not in still and "UP" not in still["flags"]
    assert link("eth1", ns) is None


def test_a_second_attach_of_the_same_interface_is_refused_with_the_difference(
    make_netns, bridge_name
):
    ns = make_netns()
    br = bridge_name()
    assert pipework(br, ns, "198.51.100.45/24").returncode == 0
    before = link_names()
    res = pipework(br, "-l", "vpwt-second", ns, "198.51.100.46/24")
    assert res.returncode == 1
    assert "eth1 is already attached, differently" in res.stderr
    assert "its host side is veth1ns" in res.stderr and "asked vpwt-second" in res.stderr
    assert link_names() == before
    assert addresses("eth1", ns) == ["198.51.100.45/24"]


def test_verbose_prints_each_kernel_operation_as_an_ip_command(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework("-v", br, ns, "198.51.100.47/24@198.51.100.1")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert f"+ ip link add {br} type bridge && ip link set {br} up" in lines
    assert any(
        line.startswith("+ ip link add veth1ns")
        and f"master {br} up type veth peer name eth1" in line
        for line in lines
    )
    assert f"+ ip -n {ns} addr add 198.51.100.47/24 brd 198.51.100.255 dev eth1" in lines
    assert (
        f"+ ip -n {ns} -4 route del default; ip -n {ns} route add default via 198.51.100.1 dev eth1"
        in lines
    )


@pytest.mark.parametrize(
    ("watcher_addr", "guest_addr", "neighbour"),
    [
        ("198.51.100.50/24", "198.51.100.51/24", "198.51.100.51"),  # gratuitous ARP
        ("2001:db8::50/64", "2001:db8::51/64", "2001:db8::51"),  # unsolicited NA
    ],
    ids=["ipv4-gratuitous-arp", "ipv6-unsolicited-na"],
)
def test_announcement_updates_a_neighbour_at_once(
    make_netns, bridge_name, watcher_addr, guest_addr, neighbour
):
    watcher, guest = make_netns(), make_netns()
    br = bridge_name()
    assert pipework(br, watcher, watcher_addr).returncode == 0
    # The watcher believes the address lives at an old MAC.
    sh(
        "ip",
        "-n",
        watcher,
        "neigh",
        "add",
        neighbour,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth1",
        "nud",
        "stale",
    )
    res = pipework(br, guest, guest_addr, "02:00:c0:00:02:33")
    assert res.returncode == 0 and "warning" not in res.stderr, res.stderr

    # No traffic from the watcher: only the announcement can update its cache. The
    # frame is delivered by the kernel's softirq work, possibly just after we return.
    def updated() -> bool:
        entries = ip_json("neigh", "show", neighbour, "dev", "eth1", netns=watcher)
        return bool(entries) and entries[0]["lladdr"] == "02:00:c0:00:02:33"

    wait_until(updated, 3, "the neighbour entry to follow the announcement")


def test_python_api_attaches_several_addresses(make_netns, bridge_name):
    import pipework as pw

    ns = make_netns()
    br = bridge_name()
    spec = pw.AttachSpec(
        br,
        pw.parse_guest_ref(f"netns:{ns}"),
        pw.Addressing(
            (pw.parse_interface("198.51.100.60/24"), pw.parse_interface("2001:db8::60/64")),
            (pw.parse_address("198.51.100.1"),),
        ),
        container_ifname="api0",
    )
    result = pw.attach(spec)
    assert result.container_ifname == "api0" and result.bridge == br and result.created_bridge
    assert sorted(addresses("api0", ns)) == ["198.51.100.60/24", "2001:db8::60/64"]
    assert link(result.host_ifname)["master"] == br
    assert link("api0", ns)["address"] == result.mac.hex(":")


def test_arp_notify_of_the_guest_interface_is_left_as_it_was(make_netns, bridge_name):
    ns = make_netns()
    assert pipework(bridge_name(), ns, "198.51.100.52/24").returncode == 0
    value = sh("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.conf.eth1.arp_notify")
    assert value.stdout.strip() == "0"


def test_a_gateway_reachable_elsewhere_keeps_its_route_as_in_the_original(make_netns, bridge_name):
    ns = make_netns()
    sh("ip", "-n", ns, "link", "add", "pwt-lan", "type", "veth", "peer", "name", "pwt-lan-p")
    sh("ip", "-n", ns, "link", "set", "pwt-lan", "up")
    sh("ip", "-n", ns, "link", "set", "pwt-lan-p", "up")
    sh("ip", "-n", ns, "addr", "add", "203.0.113.2/24", "dev", "pwt-lan")
    res = pipework(bridge_name(), ns, "198.51.100.98/24@203.0.113.1")
    assert res.returncode == 0, res.stderr
    assert ip_json("route", "show", "203.0.113.1/32", netns=ns) == [], "no on-link takeover"
    default = ip_json("route", "show", "default", netns=ns)
    assert [(r["gateway"], r["dev"]) for r in default] == [("203.0.113.1", "pwt-lan")]


def test_arp_notify_already_on_stays_on(make_netns, bridge_name):
    ns = make_netns()
    sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.default.arp_notify=1")
    assert pipework(bridge_name(), ns, "198.51.100.99/24").returncode == 0
    value = sh("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.conf.eth1.arp_notify")
    assert value.stdout.strip() == "1"


def test_the_python_api_works_from_a_thread(make_netns, bridge_name):
    import threading

    import pipework as pw

    ns = make_netns()
    spec = pw.AttachSpec(
        bridge_name(),
        pw.parse_guest_ref(f"netns:{ns}"),
        pw.Addressing((pw.parse_interface("198.51.100.100/24"),)),
    )
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(pw.attach(spec)))
    thread.start()
    thread.join(30)
    assert results and addresses("eth1", ns) == ["198.51.100.100/24"]


def test_an_interface_pipework_did_not_make_is_refused(make_netns, bridge_name):
    ns = make_netns()
    sh("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "pwt-theirs")
    res = pipework(bridge_name(), ns, "198.51.100.55/24")
    assert res.returncode == 1
    assert f"interface eth1 already exists in netns:{ns}" in res.stderr
    assert "choose another container interface name with -i" in res.stderr
    assert addresses("eth1", ns) == []
