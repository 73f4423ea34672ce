"""attach_many: many guests in one process, each all-or-nothing, announced once all are up."""

from __future__ import annotations

import pipework as pw

from .conftest import addresses, ip_json, link, sh


def _spec(bridge: str, guest: str, address: str, mac: str | None = None) -> pw.AttachSpec:
    return pw.AttachSpec(
        bridge,
        pw.parse_guest_ref(guest),
        pw.Addressing((pw.parse_interface(address),)),
        mac=pw.parse_mac(mac) if mac else None,
    )


def test_each_request_succeeds_or_fails_on_its_own(make_netns, bridge_name):
    a, b = make_netns(), make_netns()
    br = bridge_name()
    results = pw.attach_many(
        [
            _spec(br, f"netns:{a}", "198.51.100.130/24"),
            _spec(br, "netns:pwt-no-such-guest", "198.51.100.131/24"),
            _spec(br, f"netns:{b}", "198.51.100.132/24"),
        ]
    )
    assert isinstance(results[0], pw.Attachment) and isinstance(results[2], pw.Attachment)
    assert isinstance(results[1], pw.GuestNotFound)
    assert addresses("eth1", a) == ["198.51.100.130/24"]
    assert addresses("eth1", b) == ["198.51.100.132/24"]
    assert results[0].created_bridge and not results[2].created_bridge
    assert link(results[2].host_ifname)["master"] == br
    sh("ip", "netns", "exec", a, "ping", "-c", "1", "-W", "2", "198.51.100.132")


def test_a_failing_request_is_rolled_back_and_the_others_stay(make_netns, bridge_name):
    a, b = make_netns(), make_netns()
    sh("ip", "-n", b, "link", "add", "eth1", "type", "veth", "peer", "name", "pwt-x")
    br = bridge_name()
    results = pw.attach_many(
        [_spec(br, f"netns:{a}", "198.51.100.133/24"), _spec(br, f"netns:{b}", "198.51.100.134/24")]
    )
    assert isinstance(results[0], pw.Attachment)
    assert isinstance(results[1], pw.HostStateError)
    assert "eth1 already exists" in str(results[1])
    assert addresses("eth1", b) == [], "the guest's own eth1 is untouched"
    assert [p["ifname"] for p in ip_json("link", "show", "master", br)] == [results[0].host_ifname]


def test_announcements_come_from_the_host_and_reach_the_neighbours(make_netns, bridge_name):
    watcher, guest = make_netns(), make_netns()
    br = bridge_name()
    assert isinstance(
        pw.attach_many([_spec(br, f"netns:{watcher}", "198.51.100.135/24")])[0], pw.Attachment
    )
    sh(
        "ip",
        "-n",
        watcher,
        "neigh",
        "add",
        "198.51.100.136",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth1",
        "nud",
        "stale",
    )
    results = pw.attach_many(
        [_spec(br, f"netns:{guest}", "198.51.100.136/24", "02:00:c0:00:02:44")], announce=True
    )
    assert isinstance(results[0], pw.Attachment)
    entries = ip_json("neigh", "show", "198.51.100.136", "dev", "eth1", netns=watcher)
    assert entries and entries[0]["lladdr"] == "02:00:c0:00:02:44"
    value = sh("ip", "netns", "exec", guest, "sysctl", "-n", "net.ipv4.conf.eth1.arp_notify")
    assert value.stdout.strip() == "0", "the guest's sysctls are not touched"


def test_by_default_a_batch_sends_no_announcements(make_netns, bridge_name):
    watcher, guest = make_netns(), make_netns()
    br = bridge_name()
    pw.attach_many([_spec(br, f"netns:{watcher}", "198.51.100.137/24")])
    sh(
        "ip",
        "-n",
        watcher,
        "neigh",
        "add",
        "198.51.100.138",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth1",
        "nud",
        "stale",
    )
    results = pw.attach_many(
        [_spec(br, f"netns:{guest}", "198.51.100.138/24", "02:00:c0:00:02:45")]
    )
    assert isinstance(results[0], pw.Attachment)
    entries = ip_json("neigh", "show", "198.51.100.138", "dev", "eth1", netns=watcher)
    assert entries and entries[0]["lladdr"] == "02:00:00:00:00:99"
