"""Hostile input: one line, exit 2, and the host and the guest exactly as they were.

Every case names a real guest and a bridge pipework would create, so that input
which slipped past validation would visibly change something.
"""

from __future__ import annotations

import json

import pytest

import pipework as pw

from .conftest import pipework, sh

GOOD_ADDR = "198.51.100.180/24"

# (class of bad input, argv with {ns} for the guest and {br} for the bridge)
CLI_CASES = [
    ("address without prefix", ["{br}", "{ns}", "198.51.100.180"]),
    ("prefix too long", ["{br}", "{ns}", "198.51.100.180/33"]),
    ("prefix zero", ["{br}", "{ns}", "198.51.100.180/0"]),
    ("prefix not a number", ["{br}", "{ns}", "198.51.100.180/abc"]),
    ("prefix with a leading zero", ["{br}", "{ns}", "198.51.100.180/024"]),
    ("IPv4 octet out of range", ["{br}", "{ns}", "256.51.100.180/24"]),
    ("IPv4 with leading zeros", ["{br}", "{ns}", "198.051.100.180/24"]),
    ("malformed IPv6", ["{br}", "{ns}", "2001:db8::g/64"]),
    ("IPv6 prefix too long", ["{br}", "{ns}", "2001:db8::5/129"]),
    ("IPv6 with a scope id", ["{br}", "{ns}", "fe80::5%eth0/64"]),
    ("multicast address", ["{br}", "{ns}", "224.0.0.5/24"]),
    ("loopback address", ["{br}", "{ns}", "127.0.0.5/8"]),
    ("network address", ["{br}", "{ns}", "198.51.100.0/24"]),
    ("broadcast address", ["{br}", "{ns}", "198.51.100.255/24"]),
    ("gateway of the wrong family", ["{br}", "{ns}", "198.51.100.180/24@2001:db8::1"]),
    ("gateway is the address itself", ["{br}", "{ns}", "198.51.100.180/24@198.51.100.180"]),
    ("gateway is the subnet's broadcast", ["{br}", "{ns}", "198.51.100.180/24@198.51.100.255"]),
    ("multicast gateway", ["{br}", "{ns}", "198.51.100.180/24@224.0.0.1"]),
    ("multicast MAC", ["{br}", "{ns}", GOOD_ADDR, "01:00:5e:00:00:01"]),
    ("all-zero MAC", ["{br}", "{ns}", GOOD_ADDR, "00:00:00:00:00:00"]),
    ("malformed MAC", ["{br}", "{ns}", GOOD_ADDR, "02:00:00:00:00"]),
    ("VLAN 0", ["{br}", "{ns}", GOOD_ADDR, "@0"]),
    ("VLAN 4095", ["{br}", "{ns}", GOOD_ADDR, "@4095"]),
    ("VLAN not a number", ["{br}", "{ns}", GOOD_ADDR, "@ten"]),
    ("interface name too long", ["{br}", "-i", "eth-name-too-long", "{ns}", GOOD_ADDR]),
    ("interface name with a slash", ["{br}", "-i", "eth/1", "{ns}", GOOD_ADDR]),
    ("interface name with whitespace", ["{br}", "-i", "eth 1", "{ns}", GOOD_ADDR]),
    ("interface name ..", ["{br}", "-l", "..", "{ns}", GOOD_ADDR]),
    ("interface name template", ["{br}", "-i", "eth%d", "{ns}", GOOD_ADDR]),
    ("host interface name too long", ["brpwt-way-too-long", "{ns}", GOOD_ADDR]),
    ("guest name with a glob", ["{br}", "pwt-*", GOOD_ADDR]),
    ("guest name with shell characters", ["{br}", "pwt;rm -rf /", GOOD_ADDR]),
    ("guest name with path characters", ["{br}", "../../{ns}", GOOD_ADDR]),
    ("unknown guest prefix", ["{br}", "vm:{ns}", GOOD_ADDR]),
    ("pid 0", ["{br}", "pid:0", GOOD_ADDR]),
    ("empty guest", ["{br}", "", GOOD_ADDR]),
    ("empty address", ["{br}", "{ns}", ""]),
    ("huge argument", ["{br}", "{ns}", "1" * 10000]),
    ("-a 4 with an IPv6 address", ["{br}", "-a", "4", "{ns}", "2001:db8::5/64"]),
    ("MTU below 68", ["--mtu", "20", "{br}", "{ns}", GOOD_ADDR]),
    ("unknown option", ["{br}", "--frobnicate", "{ns}", GOOD_ADDR]),
    ("extra argument", ["{br}", "{ns}", GOOD_ADDR, "02:00:00:00:00:01", "extra"]),
    ("modern: bad --ip", ["attach", "{ns}", "--to", "{br}", "--ip", "198.51.100.300"]),
    ("modern: no --to", ["attach", "{ns}", "--ip", GOOD_ADDR]),
    (
        "modern: two gateways of one family",
        [
            "attach",
            "{ns}",
            "--to",
            "{br}",
            "--ip",
            GOOD_ADDR,
            "--gateway",
            "198.51.100.1",
            "--gateway",
            "198.51.100.2",
        ],
    ),
    ("modern: --ifname with --all", ["detach", "{ns}", "--ifname", "eth1", "--all"]),
    ("unknown macvlan mode", ["--macvlan-mode", "hairpin", "{br}", "{ns}", GOOD_ADDR]),
    ("unknown ipvlan mode", ["attach", "{ns}", "--to", "{br}", "--ipvlan-mode", "l4"]),
    ("unknown OVS datapath", ["{br}", "--ovs-datapath", "dpdk0", "{ns}", GOOD_ADDR]),
    (
        "macvlan and ipvlan modes together",
        ["{br}", "--macvlan-mode", "vepa", "--ipvlan-mode", "l2", "{ns}", GOOD_ADDR],
    ),
    ("--direct-phys after the host interface", ["{br}", "--direct-phys", "{ns}", GOOD_ADDR]),
    ("malformed mac: selector", ["--direct-phys", "mac:02:00", "{ns}", GOOD_ADDR]),
    ("link: one guest twice", ["link", "{ns}", "{ns}:eth2"]),
    ("link: bad address", ["link", "{ns}", "{ns}:eth2", "--ip-a", "198.51.100.300/24"]),
    ("link: one end only", ["link", "{ns}"]),
    ("built-in DHCP with an unknown udhcpc option", ["{br}", "{ns}", "dhcp:-z 3"]),
    ("DHCP mode without an -f form", ["{br}", "{ns}", "dhcpcd-f"]),
    ("DHCP timeout of zero", ["--dhcp-timeout", "0", "{br}", "{ns}", "dhcp"]),
    ("--dns with a static address", ["--dns", "{br}", "{ns}", GOOD_ADDR]),
    ("modern: --dhcp and --ip", ["attach", "{ns}", "--to", "{br}", "--dhcp", "--ip", GOOD_ADDR]),
    ("modern: unknown --dhcp-client", ["attach", "{ns}", "--to", "{br}", "--dhcp-client", "pump"]),
    (
        "modern: hostname with a newline",
        ["attach", "{ns}", "--to", "{br}", "--dhcp", "--hostname", "a\nb"],
    ),
    ("modern: --hostname without DHCP", ["attach", "{ns}", "--to", "{br}", "--hostname", "web"]),
]


def snapshot(ns: str) -> str:
    """Links, addresses and routes of the host and of the guest."""
    parts = []
    for prefix in ([], ["-n", ns]):
        for what in (
            ["link", "show"],
            ["addr", "show"],
            ["route", "show", "table", "all"],
            ["-6", "route", "show", "table", "all"],
        ):
            parts.append(sh("ip", *prefix, "-j", *what).stdout)
    return json.dumps(parts)


@pytest.mark.parametrize(("case", "argv"), CLI_CASES, ids=[c for c, _ in CLI_CASES])
def test_bad_command_line_changes_nothing(make_netns, bridge_name, case, argv):
    ns = make_netns()
    br = bridge_name()
    before = snapshot(ns)
    res = pipework(*(a.format(ns=ns, br=br) for a in argv))
    assert res.returncode == 2, (case, res.stderr)
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("pipework: "), res.stderr
    assert res.stdout == ""
    assert snapshot(ns) == before


def test_there_are_at_least_thirty_classes():
    assert len({c for c, _ in CLI_CASES}) + len(API_CASES) >= 30


def _spec(ns: str, br: str, **changes: object) -> pw.AttachSpec:
    fields: dict[str, object] = {
        "host_if": br,
        "guest": pw.parse_guest_ref(f"netns:{ns}"),
        "addressing": pw.Addressing((pw.parse_interface(GOOD_ADDR),)),
    }
    fields.update(changes)
    host_if, guest, addressing = (
        fields.pop("host_if"),
        fields.pop("guest"),
        fields.pop("addressing"),
    )
    return pw.AttachSpec(host_if, guest, addressing, **fields)  # type: ignore[arg-type]


API_CASES = {
    "guest ref with a glob": lambda ns, br: _spec(ns, br, guest=pw.GuestRef(None, "pwt-*")),
    "guest ref with a path": lambda ns, br: _spec(ns, br, guest=pw.GuestRef("lxc", "/etc")),
    "interface built with prefix 33": lambda ns, br: _spec(
        ns, br, addressing=pw.Addressing((pw.IPInterface(pw.parse_address("198.51.100.180"), 33),))
    ),
    "MAC given as text": lambda ns, br: _spec(ns, br, mac="02:00:00:00:00:01"),
    "multicast MAC bytes": lambda ns, br: _spec(ns, br, mac=b"\x01\x00\x5e\x00\x00\x01"),
    "VLAN 4095": lambda ns, br: _spec(ns, br, vlan=4095),
    "MTU given as bool": lambda ns, br: _spec(ns, br, mtu=True),
    "host interface with a slash": lambda ns, br: _spec(ns, br, host_if="br/1"),
    "the same address twice": lambda ns, br: _spec(
        ns,
        br,
        addressing=pw.Addressing((pw.parse_interface(GOOD_ADDR), pw.parse_interface(GOOD_ADDR))),
    ),
    "addresses not a tuple": lambda ns, br: _spec(ns, br, addressing=pw.Addressing(GOOD_ADDR)),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_bad_python_api_input_changes_nothing(make_netns, bridge_name, case):
    ns = make_netns()
    br = bridge_name()
    before = snapshot(ns)
    with pytest.raises(pw.UsageError) as info:
        pw.attach(API_CASES[case](ns, br))
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert snapshot(ns) == before
