"""The original pipework command line, as parsed by ``pipework.cli.legacy.parse_legacy``.

Every form and default of the shell script, then every class of bad input: each
must be a ``UsageError`` (exit code 2) with a one-line message, raised before
anything on the host could change.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest

from pipework.cli.legacy import (
    MAX_ARG,
    AttachCommand,
    HelpCommand,
    PassthroughCommand,
    WaitCommand,
    parse_legacy,
)
from pipework.errors import UsageError
from pipework.inet import parse_address, parse_interface
from pipework.model import AttachSpec, DhcpRequest
from pipework.names import GuestRef

ADDR = "192.168.1.10/24"
MAC = "02:00:00:00:00:01"
MAC_BYTES = bytes.fromhex("020000000001")


def parse_attach(*argv: str) -> AttachCommand:
    command = parse_legacy(list(argv))
    assert isinstance(command, AttachCommand)
    return command


def attach_spec(*argv: str) -> AttachSpec:
    return parse_attach(*argv).spec


def usage_error(*argv: str) -> UsageError:
    """Parse ``argv``, expect a UsageError, and check it is fit for one stderr line."""
    with pytest.raises(UsageError) as info:
        parse_legacy(list(argv))
    error = info.value
    assert error.exit_code == 2
    assert len(str(error).splitlines()) == 1
    return error


def u_mac(seed: str) -> bytes:
    """What ``U:<seed>`` must give: 02 then the first 5 bytes of ``echo <seed> | md5sum``."""
    return b"\x02" + hashlib.md5((seed + "\n").encode()).digest()[:5]  # noqa: S324


# --- pipework <hostif> <guest> <ip>/<prefix> ---------------------------------------------


def test_attach_parses_host_interface_guest_and_address():
    command = parse_attach("br1", "c1", ADDR)
    assert command.verbose is False
    spec = command.spec
    assert spec.host_if == "br1"
    assert spec.guest == GuestRef(None, "c1")
    assert spec.addressing.addresses == (parse_interface(ADDR),)
    assert spec.addressing.gateways == ()
    assert spec.addressing.dhcp is None


def test_attach_defaults_container_interface_to_eth1():
    assert attach_spec("br1", "c1", ADDR).container_ifname == "eth1"


def test_attach_leaves_host_side_name_to_be_derived_by_default():
    assert attach_spec("br1", "c1", ADDR).host_ifname is None


def test_attach_without_mac_argument_has_no_mac_and_no_vlan():
    spec = attach_spec("br1", "c1", ADDR)
    assert spec.mac is None
    assert spec.vlan is None


def test_attach_defaults_leave_every_flag_off():
    spec = attach_spec("br1", "c1", ADDR)
    assert spec.host_mac is None
    assert spec.mtu is None
    assert spec.create_bridge is False
    assert spec.direct_phys is False


def test_dash_i_names_the_container_interface():
    assert attach_spec("br1", "-i", "eth2", "c1", ADDR).container_ifname == "eth2"


def test_dash_l_names_the_host_side_interface():
    assert attach_spec("br1", "-l", "vethweb", "c1", ADDR).host_ifname == "vethweb"


@pytest.mark.parametrize(("family", "address"), [("4", ADDR), ("6", "2001:db8::10/64")])
def test_dash_a_accepts_an_address_of_that_family(family, address):
    spec = attach_spec("br1", "-a", family, "c1", address)
    assert spec.addressing.addresses == (parse_interface(address),)


@pytest.mark.parametrize(
    "options",
    list(itertools.permutations([("-i", "eth2"), ("-l", "vethweb"), ("-a", "4")])),
    ids=lambda opts: " ".join(o for o, _ in opts),
)
def test_options_may_come_in_any_order_between_host_interface_and_guest(options):
    argv = ["br1", *itertools.chain.from_iterable(options), "c1", ADDR]
    spec = attach_spec(*argv)
    assert spec.container_ifname == "eth2"
    assert spec.host_ifname == "vethweb"
    assert spec.host_if == "br1"
    assert spec.guest == GuestRef(None, "c1")


def test_fifteen_byte_interface_names_are_accepted_everywhere():
    name = "a" * 15
    spec = attach_spec(name, "-i", name, "-l", name, "c1", ADDR)
    assert (spec.host_if, spec.container_ifname, spec.host_ifname) == (name, name, name)


def test_interface_names_may_use_dots_dashes_and_at_signs():
    spec = attach_spec("br-lan.10", "-i", "eth1@x", "c1", ADDR)
    assert spec.host_if == "br-lan.10"
    assert spec.container_ifname == "eth1@x"


# --- addresses and gateways -----------------------------------------------------------


def test_at_gateway_sets_the_default_gateway():
    spec = attach_spec("br1", "c1", "192.168.1.10/24@192.168.1.254")
    assert spec.addressing.addresses == (parse_interface(ADDR),)
    assert spec.addressing.gateways == (parse_address("192.168.1.254"),)


def test_zero_slash_zero_attaches_without_an_address():
    addressing = attach_spec("br1", "c1", "0/0").addressing
    assert addressing.addresses == ()
    assert addressing.gateways == ()
    assert addressing.dhcp is None


def test_zero_slash_zero_at_gateway_sets_only_a_gateway():
    addressing = attach_spec("br1", "c1", "0/0@10.0.0.1").addressing
    assert addressing.addresses == ()
    assert addressing.gateways == (parse_address("10.0.0.1"),)


def test_gateway_outside_the_subnet_is_accepted():
    spec = attach_spec("br1", "c1", "192.168.1.10/24@10.9.8.7")
    assert spec.addressing.gateways == (parse_address("10.9.8.7"),)


@pytest.mark.parametrize(
    "address", ["2001:db8::10/64", "fe80::2/64", "2001:db8::1/128", "fd00::1/8", "2001:db8::/127"]
)
def test_ipv6_addresses_are_accepted(address):
    assert attach_spec("br1", "c1", address).addressing.addresses == (parse_interface(address),)


@pytest.mark.parametrize(
    ("text", "gateway"),
    [
        ("2001:db8::10/64@2001:db8::1", "2001:db8::1"),
        ("2001:db8::10/64@fe80::1", "fe80::1"),
        ("0/0@fe80::1", "fe80::1"),
    ],
)
def test_ipv6_gateways_are_accepted(text, gateway):
    assert attach_spec("br1", "c1", text).addressing.gateways == (parse_address(gateway),)


def test_dash_a_6_with_ipv6_gateway_and_no_address_is_accepted():
    spec = attach_spec("br1", "-a", "6", "c1", "0/0@2001:db8::1")
    assert spec.addressing.gateways == (parse_address("2001:db8::1"),)


@pytest.mark.parametrize(
    "address", ["10.0.0.0/31", "10.0.0.1/31", "10.0.0.5/32", "10.0.0.1/30", "10.0.0.2/30"]
)
def test_point_to_point_and_host_prefixes_use_every_address(address):
    assert attach_spec("br1", "c1", address).addressing.addresses == (parse_interface(address),)


@pytest.mark.parametrize("address", ["1.0.0.1/1", "10.0.0.1/8", "10.255.255.254/8"])
def test_ipv4_prefix_boundaries_are_accepted(address):
    assert attach_spec("br1", "c1", address).addressing.addresses == (parse_interface(address),)


# --- DHCP -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dhcp", DhcpRequest("dhcp", False, "")),
        ("dhcp:-t 5", DhcpRequest("dhcp", False, "-t 5", timeout=15.0)),
        ("dhcp:-T 1 -t 4 -q", DhcpRequest("dhcp", False, "-T 1 -t 4 -q", timeout=4.0)),
        (
            "dhcp:-x hostname:web -V pw",
            DhcpRequest("dhcp", False, "-x hostname:web -V pw", hostname="web", vendor_class="pw"),
        ),
        ("dhcp-f", DhcpRequest("dhcp", True, "")),
        ("dhcp-f:-q", DhcpRequest("dhcp", True, "-q")),
        ("udhcpc", DhcpRequest("udhcpc", False, "")),
        ("udhcpc:-t 5 -T 2", DhcpRequest("udhcpc", False, "-t 5 -T 2")),
        ("udhcpc-f", DhcpRequest("udhcpc", True, "")),
        ("udhcpc-f:-x hostname:web", DhcpRequest("udhcpc", True, "-x hostname:web")),
        ("dhclient", DhcpRequest("dhclient", False, "")),
        ("dhclient:-v", DhcpRequest("dhclient", False, "-v")),
        ("dhclient-f", DhcpRequest("dhclient", True, "")),
        (
            "dhclient-f:-cf /etc/dhclient.conf",
            DhcpRequest("dhclient", True, "-cf /etc/dhclient.conf"),
        ),
        ("dhcpcd", DhcpRequest("dhcpcd", False, "")),
        ("dhcpcd:--noipv6 -t 10", DhcpRequest("dhcpcd", False, "--noipv6 -t 10")),
    ],
)
def test_dhcp_modes_become_a_dhcp_request(text, expected):
    addressing = attach_spec("br1", "c1", text).addressing
    assert addressing.dhcp == expected
    assert addressing.addresses == ()
    assert addressing.gateways == ()


def test_dhcp_options_keep_every_colon_after_the_first():
    spec = attach_spec("br1", "c1", "udhcpc:-x a:b:c")
    assert spec.addressing.dhcp == DhcpRequest("udhcpc", False, "-x a:b:c")


def test_dhcp_with_empty_options_after_colon_has_no_options():
    assert attach_spec("br1", "c1", "dhcp:").addressing.dhcp == DhcpRequest("dhcp", False, "")


def test_dhcp_accepts_a_mac_and_a_vlan():
    spec = attach_spec("br1", "-i", "eth2", "c1", "dhclient", f"{MAC}@10")
    assert spec.addressing.dhcp == DhcpRequest("dhclient", False, "")
    assert spec.mac == MAC_BYTES
    assert spec.vlan == 10
    assert spec.container_ifname == "eth2"


@pytest.mark.parametrize("text", ["dhcpcd-f", "dhcpcd-f:-t 5"])
def test_dhcpcd_has_no_foreground_form(text):
    assert "dhcpcd" in str(usage_error("br1", "c1", text))


@pytest.mark.parametrize("text", ["DHCP", "dhcp6", "udhcpcd", "-f", "dhcp-f-f", "dhcp@10.0.0.1"])
def test_words_that_only_look_like_dhcp_modes_are_refused(text):
    usage_error("br1", "c1", text)


# --- mac:<hostif-mac>, --direct-phys, dummy ---------------------------------------------


def test_mac_prefix_selects_the_host_interface_by_its_mac():
    spec = attach_spec("mac:02:00:00:00:00:aa", "c1", ADDR)
    assert spec.host_mac == bytes.fromhex("0200000000aa")
    assert spec.host_if is None


def test_mac_prefix_accepts_options_like_any_host_interface():
    spec = attach_spec("mac:02:00:00:00:00:aa", "-i", "eth3", "c1", ADDR)
    assert spec.container_ifname == "eth3"


@pytest.mark.parametrize(
    "text",
    ["mac:", "mac:02:00:00:00:00", "mac:01:00:5e:00:00:01", "mac:00:00:00:00:00:00", "mac:zz"],
)
def test_mac_prefix_with_a_bad_mac_is_refused(text):
    usage_error(text, "c1", ADDR)


def test_direct_phys_sets_the_direct_phys_flag():
    spec = attach_spec("--direct-phys", "eth0", "c1", ADDR)
    assert spec.direct_phys is True
    assert spec.host_if == "eth0"


def test_direct_phys_makes_route_a_host_interface_name():
    spec = attach_spec("--direct-phys", "route", "c1", ADDR)
    assert spec.host_if == "route"
    assert spec.direct_phys is True


def test_direct_phys_is_only_a_global_option():
    usage_error("eth0", "--direct-phys", "c1", ADDR)


def test_dummy_is_an_attach_to_host_interface_dummy():
    spec = attach_spec("dummy", "c1", ADDR)
    assert spec.host_if == "dummy"
    assert spec.addressing.addresses == (parse_interface(ADDR),)


# --- route, rule, tc ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "argv0"), [("route", ("ip", "route")), ("rule", ("ip", "rule")), ("tc", ("tc",))]
)
def test_route_rule_and_tc_are_passthrough_commands(tool, argv0):
    command = parse_legacy([tool, "c1", "add", "default", "via", "10.0.0.1"])
    assert isinstance(command, PassthroughCommand)
    assert command.tool == tool
    assert command.argv0 == argv0
    assert command.guest == GuestRef(None, "c1")
    assert command.args == ("add", "default", "via", "10.0.0.1")
    assert command.verbose is False


@pytest.mark.parametrize(
    "args",
    [
        ("-6", "route", "show"),
        ("qdisc", "add", "dev", "eth1", "root", "netem", "delay", "100ms"),
        ("--", "-i", "eth1", "--help", "-v"),
        ("a b", "", "x\ty", "0/0", "U:x", "@10", "*", "$HOME"),
    ],
    ids=["leading-dash", "tc-qdisc", "option-like", "odd-words"],
)
def test_passthrough_arguments_are_kept_verbatim(args):
    # tc's own options come first and only output ones pass (test_tc_options_...)
    tools = ("route", "rule") if args[0].startswith("-") else ("route", "rule", "tc")
    for tool in tools:
        command = parse_legacy([tool, "c1", *args])
        assert isinstance(command, PassthroughCommand)
        assert command.args == args


@pytest.mark.parametrize(
    ("args", "ok"),
    [
        (("-s", "-d", "-j", "qdisc", "show"), True),
        (("--json", "-p", "class", "show", "dev", "eth1"), True),
        (("qdisc", "add", "dev", "eth1", "root", "handle", "1:", "netem", "-n"), True),
        (("-n", "other", "qdisc", "show"), False),
        (("-net", "other", "qdisc", "show"), False),
        (("-b", "/etc/shadow"), False),
        (("-force", "-batch", "file"), False),
        (("-conf", "/etc/shadow", "qdisc", "show"), False),
        (("--", "qdisc"), False),
        (("exec", "bpf", "dbg"), False),
    ],
)
def test_tc_options_that_would_leave_the_guest_are_refused(args, ok):
    if ok:
        assert parse_legacy(["tc", "c1", *args]).args == args  # type: ignore[union-attr]
    else:
        with pytest.raises(UsageError):
            parse_legacy(["tc", "c1", *args])


def test_passthrough_without_arguments_has_an_empty_argument_tuple():
    command = parse_legacy(["route", "c1"])
    assert isinstance(command, PassthroughCommand)
    assert command.args == ()


def test_passthrough_guest_may_carry_a_prefix():
    command = parse_legacy(["tc", "docker:web", "qdisc", "show"])
    assert isinstance(command, PassthroughCommand)
    assert command.guest == GuestRef("docker", "web")


def test_passthrough_guest_may_be_a_netns_path():
    command = parse_legacy(["rule", "/var/run/netns/blue", "list"])
    assert isinstance(command, PassthroughCommand)
    assert command.guest == GuestRef("netns", "/var/run/netns/blue")


@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_before_passthrough_is_kept(flag):
    command = parse_legacy([flag, "route", "c1"])
    assert isinstance(command, PassthroughCommand)
    assert command.verbose is True


@pytest.mark.parametrize("tool", ["route", "rule", "tc"])
def test_passthrough_without_a_guest_is_refused(tool):
    assert "guest" in str(usage_error(tool))


@pytest.mark.parametrize("guest", ["-x", "a*b", "../x", "foo:bar", "", "pid:0"])
def test_passthrough_with_a_bad_guest_is_refused(guest):
    usage_error("route", guest, "show")


# --- -- ends the global options ---------------------------------------------------------


@pytest.mark.parametrize("name", ["tc", "route", "rule"])
def test_double_dash_makes_a_verb_a_host_interface(name):
    spec = attach_spec("--", name, "c1", ADDR)
    assert spec.host_if == name
    assert spec.guest == GuestRef(None, "c1")


@pytest.mark.parametrize("name", ["--wait", "-h", "-v", "--direct-phys"])
def test_double_dash_makes_an_option_a_host_interface(name):
    assert attach_spec("--", name, "c1", ADDR).host_if == name


def test_double_dash_after_verbose_keeps_verbose():
    command = parse_attach("-v", "--", "tc", "c1", ADDR)
    assert command.verbose is True
    assert command.spec.host_if == "tc"


def test_double_dash_alone_is_missing_arguments():
    usage_error("--")


# --- -v, --create-bridge, --mtu, --help ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "br1", "c1", ADDR],
        ["--verbose", "br1", "c1", ADDR],
        ["br1", "-v", "c1", ADDR],
        ["br1", "-i", "eth2", "--verbose", "c1", ADDR],
    ],
    ids=["-v first", "--verbose first", "-v after hostif", "--verbose among options"],
)
def test_verbose_flag_sets_verbose(argv):
    assert parse_attach(*argv).verbose is True


@pytest.mark.parametrize(
    "argv",
    [["--create-bridge", "lan", "c1", ADDR], ["lan", "--create-bridge", "c1", ADDR]],
    ids=["before hostif", "after hostif"],
)
def test_create_bridge_sets_create_bridge(argv):
    spec = attach_spec(*argv)
    assert spec.create_bridge is True
    assert spec.host_if == "lan"


@pytest.mark.parametrize("mtu", ["68", "1500", "9000", "65535"])
def test_mtu_sets_the_mtu(mtu):
    assert attach_spec("br1", "--mtu", mtu, "c1", ADDR).mtu == int(mtu)


@pytest.mark.parametrize("mtu", ["67", "0", "65536", "100000", "-1", "1500.0", " 1500", "abc", ""])
def test_mtu_out_of_range_or_not_a_number_is_refused(mtu):
    assert "mtu" in str(usage_error("br1", "--mtu", mtu, "c1", ADDR))


@pytest.mark.parametrize(
    "argv",
    [["-h"], ["--help"], ["-v", "-h"], ["-h", "br1", "garbage"], ["--create-bridge", "--help"]],
)
def test_help_flag_gives_the_help_command(argv):
    assert parse_legacy(argv) == HelpCommand()


# --- --wait ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--wait"], WaitCommand("eth1", None)),
        (["--wait", "-i", "eth2"], WaitCommand("eth2", None)),
        (["--wait", "--timeout", "5"], WaitCommand("eth1", 5.0)),
        (["--wait", "--timeout", "2.5", "-i", "eth3"], WaitCommand("eth3", 2.5)),
        (["--wait", "-i", "eth3", "--timeout", "86400"], WaitCommand("eth3", 86400.0)),
        (["-v", "--wait"], WaitCommand("eth1", None)),
    ],
    ids=["default", "-i", "--timeout", "both", "max timeout", "after -v"],
)
def test_wait_gives_the_wait_command(argv, expected):
    assert parse_legacy(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--wait", "-i"],
        ["--wait", "--timeout"],
        ["--wait", "--timeout", "abc"],
        ["--wait", "--timeout", "0"],
        ["--wait", "--timeout", "-1"],
        ["--wait", "--timeout", "86401"],
        ["--wait", "--timeout", "nan"],
        ["--wait", "--timeout", "inf"],
        ["--wait", "--timeout", ""],
        ["--wait", "eth2"],
        ["--wait", "-i", "eth2", "extra"],
        ["--wait", "-l", "x"],
        ["--wait", "-i", "a/b"],
        ["--wait", "-i", "a" * 16],
    ],
    ids=lambda argv: " ".join(argv[1:]) or "empty",
)
def test_wait_with_bad_arguments_is_refused(argv):
    usage_error(*argv)


# --- U:<string> MACs ------------------------------------------------------------------


def test_u_hello_gives_the_mac_the_shell_script_computes():
    # echo hello | md5sum -> b1946ac92492d2347c6235b4d2611184
    assert attach_spec("br1", "c1", ADDR, "U:hello").mac == bytes.fromhex("02b1946ac924")


@pytest.mark.parametrize("seed", ["hello", "web-1", "a b", "café", "x" * 200, "U:nested", "0"])
def test_u_mac_is_02_then_md5_of_the_string_and_a_newline(seed):
    assert attach_spec("br1", "c1", ADDR, f"U:{seed}").mac == u_mac(seed)


def test_u_mac_is_stable_for_one_string_and_differs_between_strings():
    first = attach_spec("br1", "c1", ADDR, "U:web").mac
    again = attach_spec("br2", "c2", "dhcp", "U:web").mac
    other = attach_spec("br1", "c1", ADDR, "U:db").mac
    assert first == again
    assert first != other


def test_u_mac_is_locally_administered_unicast():
    mac = attach_spec("br1", "c1", ADDR, "U:anything").mac
    assert mac is not None
    assert len(mac) == 6
    assert mac[0] == 0x02


def test_u_mac_with_a_vlan_gives_both():
    spec = attach_spec("br1", "c1", ADDR, "U:hello@42")
    assert spec.mac == bytes.fromhex("02b1946ac924")
    assert spec.vlan == 42


@pytest.mark.parametrize("text", ["U:", "U:@10"])
def test_u_with_an_empty_string_is_refused(text):
    assert "U:" in str(usage_error("br1", "c1", ADDR, text))


# --- MAC and @vlan --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        (MAC, MAC_BYTES),
        ("02:AA:BB:cc:dd:EE", bytes.fromhex("02aabbccddee")),
        ("2:0:0:0:0:1", MAC_BYTES),
        ("fe:ff:ff:ff:ff:ff", bytes.fromhex("feffffffffff")),
        ("00:00:00:00:00:01", bytes.fromhex("000000000001")),
    ],
)
def test_mac_argument_sets_the_container_mac(text, mac):
    spec = attach_spec("br1", "c1", ADDR, text)
    assert spec.mac == mac
    assert spec.vlan is None


def test_at_vlan_without_a_mac_sets_only_the_vlan():
    spec = attach_spec("br1", "c1", ADDR, "@10")
    assert spec.mac is None
    assert spec.vlan == 10


def test_mac_at_vlan_sets_both():
    spec = attach_spec("br1", "c1", ADDR, f"{MAC}@10")
    assert spec.mac == MAC_BYTES
    assert spec.vlan == 10


@pytest.mark.parametrize("vlan", ["1", "4094", "10"])
def test_vlan_boundaries_are_accepted(vlan):
    assert attach_spec("br1", "c1", ADDR, f"@{vlan}").vlan == int(vlan)


@pytest.mark.parametrize("vlan", ["0010", "010", "00"])
def test_vlan_with_leading_zeros_is_refused(vlan):
    # `ip` would read 010 as octal 8: refuse rather than guess
    assert "VLAN" in str(usage_error("br1", "c1", ADDR, f"@{vlan}"))


@pytest.mark.parametrize(
    "vlan", ["0", "", "99999", "-1", "+10", " 10", "10 ", "1.5", "10@20", "0x10", "xyz"]
)
@pytest.mark.parametrize("mac", ["", MAC], ids=["no mac", "mac"])
def test_bad_vlan_is_refused(mac, vlan):
    assert "VLAN" in str(usage_error("br1", "c1", ADDR, f"{mac}@{vlan}"))


@pytest.mark.parametrize(
    "text",
    ["01:00:5e:00:00:01", "03:00:00:00:00:01", "ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01"],
)
def test_multicast_mac_is_refused(text):
    assert "multicast" in str(usage_error("br1", "c1", ADDR, text))


@pytest.mark.parametrize("text", ["00:00:00:00:00:00", "0:0:0:0:0:0"])
def test_all_zero_mac_is_refused(text):
    assert "zero" in str(usage_error("br1", "c1", ADDR, text))


@pytest.mark.parametrize(
    "text",
    [
        "02:00:00:00:00",
        "02:00:00:00:00:00:01",
        "02:00:00:00:00:zz",
        "02:00:00:00:00:0g",
        "002:00:00:00:00:01",
        "02:00:00:00:00:001",
        "02-00-00-00-00-01",
        "0200.0000.0001",
        "020000000001",
        ":::::",
        "02:00:00:00:00:01:",
        "02::00:00:00:01",
        " 02:00:00:00:00:01",
        "02:00:00:00:00:01 ",
        "\uff10\uff12:00:00:00:00:01",  # fullwidth digits
    ],
    ids=repr,
)
def test_malformed_mac_is_refused(text):
    usage_error("br1", "c1", ADDR, text)


# --- guests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("c1", GuestRef(None, "c1")),
        ("lxc:devenv", GuestRef("lxc", "devenv")),
        ("docker:web", GuestRef("docker", "web")),
        ("docker:0123456789ab", GuestRef("docker", "0123456789ab")),
        ("netns:blue", GuestRef("netns", "blue")),
        ("pid:1234", GuestRef("pid", "1234")),
        ("pid:1", GuestRef("pid", "1")),
        ("/var/run/netns/blue", GuestRef("netns", "/var/run/netns/blue")),
        ("/proc/42/ns/net", GuestRef("netns", "/proc/42/ns/net")),
        ("netns:/run/netns/red", GuestRef("netns", "/run/netns/red")),
        ("my_app.1-web+x@y", GuestRef(None, "my_app.1-web+x@y")),
        ("a" * 253, GuestRef(None, "a" * 253)),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else None,
)
def test_guest_names_and_prefixes_become_a_guest_ref(text, ref):
    assert attach_spec("br1", text, ADDR).guest == ref


BAD_GUESTS = [
    "c*",
    "c?",
    "c[1]",
    "$c",
    "a;b",
    "a|b",
    "a&b",
    "a`b`",
    "a'b",
    'a"b',
    "a<b",
    "a>b",
    "a(b)",
    "a!b",
    "a\\b",
    "a~b",
    "a#b",
    "a{b}",
    "../x",
    "a/b",
    "./x",
    "a b",
    "a\tb",
    "a\nb",
    "-x",
    "",
    ".",
    "..",
    ".hidden",
    "a" * 254,
    "a" * 300,
    "café",
    "foo:bar",
    "LXC:c1",
    ":c1",
    "lxc:",
    "docker:",
    "netns:",
    "pid:",
    "lxc:a*b",
    "docker:../x",
    "lxc:/var/lib/lxc/c1",
    "docker:/x",
    "pid:/proc/1",
    "pid:abc",
    "pid:0",
    "pid:-1",
    "pid:1.5",
    "pid: 12",
    "pid:4194305",
    "pid:99999999999999999999",
    "/var/run/netns/../x",
    "/..",
    "netns:/a/../b",
]


@pytest.mark.parametrize("guest", BAD_GUESTS, ids=lambda g: repr(g[:40]))
def test_bad_guest_is_refused(guest):
    usage_error("br1", guest, ADDR)


def test_unknown_guest_prefix_names_the_known_ones():
    message = str(usage_error("br1", "foo:bar", ADDR))
    assert "foo:" in message
    assert "lxc:" in message


# --- bad command lines ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["-v"],
        ["--create-bridge"],
        ["--direct-phys"],
        ["br1"],
        ["br1", "c1"],
        ["br1", "-i", "eth2", "c1"],
        ["br1", "-v"],
        ["mac:02:00:00:00:00:01", "c1"],
    ],
    ids=lambda argv: " ".join(argv) or "nothing",
)
def test_missing_arguments_are_refused(argv):
    assert "missing" in str(usage_error(*argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["-x", "br1", "c1", ADDR],
        ["--foo"],
        ["-"],
        ["-i", "eth2", "br1", "c1", ADDR],
        ["br1", "-x", "eth2", "c1", ADDR],
        ["br1", "--wait", "c1", ADDR],
        ["br1", "--", "c1", ADDR],
        ["br1", "-h", "c1", ADDR],
        ["br1", "-I", "eth2", "c1", ADDR],
        ["br1", "-ieth2", "c1", ADDR],
        ["br1", "--mtu=1500", "c1", ADDR],
    ],
    ids=" ".join,
)
def test_unknown_options_are_refused(argv):
    assert "unknown option" in str(usage_error(*argv))


@pytest.mark.parametrize("option", ["-i", "-l", "-a", "--mtu"])
def test_option_without_a_value_is_refused(option):
    assert "needs a value" in str(usage_error("br1", option))


@pytest.mark.parametrize("family", ["5", "0", "46", "ipv4", "", "-4", "4 "])
def test_dash_a_other_than_4_or_6_is_refused(family):
    assert "-a" in str(usage_error("br1", "-a", family, "c1", ADDR))


@pytest.mark.parametrize(
    "argv",
    [
        ["br1", "-a", "4", "c1", "2001:db8::10/64"],
        ["br1", "-a", "6", "c1", ADDR],
        ["br1", "-a", "4", "c1", "0/0@2001:db8::1"],
        ["br1", "-a", "6", "c1", "0/0@10.0.0.1"],
    ],
    ids=["4 with v6 address", "6 with v4 address", "4 with v6 gateway", "6 with v4 gateway"],
)
def test_dash_a_with_an_address_of_the_other_family_is_refused(argv):
    assert "-a" in str(usage_error(*argv))


def test_options_after_the_guest_are_not_options():
    usage_error("br1", "c1", "-i", "eth2")


def test_an_extra_positional_argument_is_refused():
    assert "extra" in str(usage_error("br1", "c1", ADDR, MAC, "extra"))


def test_an_option_after_the_mac_is_an_extra_argument():
    assert "-v" in str(usage_error("br1", "c1", ADDR, MAC, "-v"))


@pytest.mark.parametrize("address", ["192.168.1.10", "2001:db8::10"])
def test_address_without_a_prefix_suggests_slash_24(address):
    message = str(usage_error("br1", "c1", address))
    assert "prefix" in message
    assert f"{address}/{64 if ':' in address else 24}" in message


def test_empty_address_is_refused():
    usage_error("br1", "c1", "")


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1/33",
        "10.0.0.1/129",
        "10.0.0.1/0",
        "10.0.0.1/-1",
        "10.0.0.1/abc",
        "10.0.0.1/",
        "10.0.0.1/ 24",
        "10.0.0.1/24 ",
        "10.0.0.1/+24",
        "10.0.0.1/1000",
        "10.0.0.1/0024",
        "10.0.0.1/24/8",
        "10.0.0.1/255.255.255.0",
        "2001:db8::1/129",
        "2001:db8::1/0",
        "2001:db8::1/-1",
        "2001:db8::1/abc",
        "2001:db8::1/999",
    ],
)
def test_prefix_length_out_of_range_or_malformed_is_refused(address):
    assert "prefix" in str(usage_error("br1", "c1", address))


@pytest.mark.parametrize(
    "address",
    [
        "010.0.0.1/24",
        "10.0.0.01/24",
        "1.2.3/24",
        "1.2.3.4.5/24",
        "256.1.1.1/24",
        "1.2.3.-4/24",
        "a.b.c.d/24",
        "0x0a.0.0.1/24",
        " 10.0.0.1/24",
        "10.0.0.1 /24",
        "10..0.1/24",
        "/24",
        "10.0.0.1\t/24",
        "\uff11\uff10.0.0.1/24",  # fullwidth digits
    ],
    ids=repr,
)
def test_malformed_ipv4_address_is_refused(address):
    usage_error("br1", "c1", address)


@pytest.mark.parametrize(
    "address",
    [
        "::g/64",
        "fe80::1%eth0/64",
        "fe80::1%1/64",
        "1:2:3:4:5:6:7:8:9/64",
        "2001:db8:::1/64",
        "2001:db8::1::2/64",
        "[2001:db8::1]/64",
        ":/64",
        "12345::1/64",
        "2001:db8::1.2.3/64",
        "2001:db8::10 /64",
    ],
    ids=repr,
)
def test_malformed_ipv6_address_is_refused(address):
    usage_error("br1", "c1", address)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("224.0.0.1/24", "multicast"),
        ("239.255.255.250/8", "multicast"),
        ("ff02::1/64", "multicast"),
        ("ff05::2/64", "multicast"),
        ("127.0.0.1/8", "loopback"),
        ("127.1.2.3/8", "loopback"),
        ("::1/128", "loopback"),
        ("0.0.0.0/8", "unspecified"),
        ("::/64", "unspecified"),
        ("255.255.255.255/32", "broadcast"),
        ("10.0.0.0/24", "network address"),
        ("10.0.0.255/24", "broadcast address"),
        ("10.0.0.4/30", "network address"),
        ("10.0.0.7/30", "broadcast address"),
        ("172.16.0.0/12", "network address"),
        ("::ffff:10.0.0.1/96", "IPv4-mapped"),
    ],
)
def test_address_no_host_may_carry_is_refused(address, problem):
    assert problem in str(usage_error("br1", "c1", address))


@pytest.mark.parametrize(
    "text",
    ["10.0.0.2/24@2001:db8::1", "2001:db8::2/64@10.0.0.1", "fe80::2/64@192.168.1.1"],
)
def test_gateway_of_the_wrong_family_is_refused(text):
    usage_error("br1", "c1", text)


@pytest.mark.parametrize("text", ["10.0.0.2/24@10.0.0.2", "2001:db8::2/64@2001:db8::2"])
def test_gateway_equal_to_the_address_is_refused(text):
    assert "own address" in str(usage_error("br1", "c1", text))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("10.0.0.2/24@10.0.0.0", "network address"),
        ("10.0.0.2/24@10.0.0.255", "broadcast address"),
        ("10.0.0.5/30@10.0.0.4", "network address"),
        ("10.0.0.5/30@10.0.0.7", "broadcast address"),
    ],
)
def test_gateway_on_the_subnets_network_or_broadcast_address_is_refused(text, problem):
    assert problem in str(usage_error("br1", "c1", text))


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.2/24@224.0.0.1",
        "0/0@239.1.1.1",
        "2001:db8::2/64@ff02::1",
        "0/0@ff02::2",
        "10.0.0.2/24@127.0.0.1",
        "2001:db8::2/64@::1",
        "10.0.0.2/24@0.0.0.0",
        "2001:db8::2/64@::",
        "10.0.0.2/24@255.255.255.255",
    ],
)
def test_gateway_that_is_not_unicast_is_refused(text):
    assert "gateway" in str(usage_error("br1", "c1", text))


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.2/24@",
        "0/0@",
        "10.0.0.2/24@10.0.0.1@10.0.0.3",
        "10.0.0.2/24@10.0.0.1/24",
        "10.0.0.2/24@gateway",
        "10.0.0.2/24@010.0.0.1",
        "10.0.0.2/24@" + "1" * 65,
        "@10.0.0.1",
    ],
)
def test_malformed_gateway_is_refused(text):
    usage_error("br1", "c1", text)


# --- interface names ------------------------------------------------------------------

BAD_IFNAMES = [
    "a" * 16,
    "verylonginterface",
    "a/b",
    "a b",
    "a\tb",
    "a\nb",
    " eth1",
    "a:b",
    ".",
    "..",
    "",
    "eth\u00e9",
    "\u00e9th",
    "eth\u00a0",
    "a\x7f",
    "a\x1b[31m",
    "eth1\udcff",
]

IFNAME_POSITIONS = {
    "host interface": lambda name: ["--", name, "c1", ADDR],
    "-i": lambda name: ["br1", "-i", name, "c1", ADDR],
    "-l": lambda name: ["br1", "-l", name, "c1", ADDR],
    "--wait -i": lambda name: ["--wait", "-i", name],
}


@pytest.mark.parametrize(
    ("position", "name"),
    [
        (position, name)
        for position in IFNAME_POSITIONS
        for name in BAD_IFNAMES
        # an empty -i/-l value means the default, as in the original
        if name or position == "host interface"
    ],
    ids=repr,
)
def test_bad_interface_name_is_refused(position, name):
    usage_error(*IFNAME_POSITIONS[position](name))


def test_empty_option_values_mean_the_defaults_as_in_the_original():
    spec = attach_spec("br1", "-i", "", "-l", "", "c1", ADDR, "")
    assert spec.container_ifname == "eth1"
    assert spec.host_ifname is None
    assert spec.mac is None
    assert parse_legacy(["--wait", "-i", ""]) == WaitCommand("eth1", None)


@pytest.mark.parametrize("name", ["a" * 16, "a/b", "a b", ".", "..", "\u00e9"], ids=repr)
def test_bad_host_interface_name_is_refused_without_double_dash(name):
    usage_error(name, "c1", ADDR)


def test_too_long_interface_name_message_gives_the_limit():
    assert "15" in str(usage_error("br1", "-i", "a" * 16, "c1", ADDR))


# --- hostile and huge arguments -------------------------------------------------------

HUGE = "a" * 10000

HUGE_POSITIONS = {
    "host interface": ["HUGE", "c1", ADDR],
    "guest": ["br1", "HUGE", ADDR],
    "address": ["br1", "c1", "HUGE"],
    "mac": ["br1", "c1", ADDR, "HUGE"],
    "u-mac": ["br1", "c1", ADDR, "U:HUGE"],
    "-i value": ["br1", "-i", "HUGE", "c1", ADDR],
    "option": ["-HUGE"],
    "passthrough arg": ["route", "c1", "HUGE"],
    "wait timeout": ["--wait", "--timeout", "HUGE"],
    "dhcp options": ["br1", "c1", "dhcp:HUGE"],
}


@pytest.mark.parametrize("position", list(HUGE_POSITIONS))
def test_huge_argument_is_refused(position):
    argv = [arg.replace("HUGE", HUGE) for arg in HUGE_POSITIONS[position]]
    assert "too long" in str(usage_error(*argv))


def test_argument_of_max_length_passes_through():
    command = parse_legacy(["route", "c1", "x" * MAX_ARG])
    assert isinstance(command, PassthroughCommand)
    assert command.args == ("x" * MAX_ARG,)


def test_argument_one_over_max_length_is_refused():
    usage_error("route", "c1", "x" * (MAX_ARG + 1))


@pytest.mark.parametrize(
    "argv",
    [
        ["br1\0", "c1", ADDR],
        ["br1", "c1\0", ADDR],
        ["br1", "c1", ADDR + "\0"],
        ["br1", "c1", ADDR, "U:a\0b"],
        ["route", "c1", "show\0"],
        ["\0"],
        ["-h\0"],
        ["/var/run/netns/x\0"],
    ],
    ids=repr,
)
def test_nul_byte_anywhere_is_refused(argv):
    assert "NUL" in str(usage_error(*argv))


# --- numbers are plain ASCII decimal: never a crash, never a surprise ---


@pytest.mark.parametrize(
    "argv",
    [
        ["br1", "c1", "10.0.0.1/\u00b2"],
        ["br1", "c1", ADDR, "@\u00b2"],
        ["br1", "--mtu", "\u00b2", "c1", ADDR],
        ["br1", "pid:\u00b2", ADDR],
        ["route", "pid:\u2460"],
    ],
    ids=["prefix", "vlan", "mtu", "pid", "passthrough pid"],
)
def test_superscript_and_circled_digits_are_a_usage_error_not_a_crash(argv):
    usage_error(*argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["br1", "c1", "10.0.0.1/\u0662\u0664"],
        ["br1", "c1", ADDR, "@\u0661\u0660"],
        ["br1", "--mtu", "\u0661\u0665\u0660\u0660", "c1", ADDR],
    ],
    ids=["prefix 24", "vlan 10", "mtu 1500"],
)
def test_non_ascii_decimal_digits_are_refused(argv):
    usage_error(*argv)


def test_u_mac_from_non_utf8_bytes_hashes_the_raw_bytes_like_the_shell():
    # The shell script hashes the argument's bytes: echo $'\xff' | md5sum.
    expected = b"\x02" + hashlib.md5(b"\xff\n").digest()[:5]  # noqa: S324
    assert attach_spec("br1", "c1", ADDR, "U:\udcff").mac == expected


@pytest.mark.parametrize("address", ["10.0.0.1\nX", "10.0.0.1\r", "10.0.0.1\x1b[2J"], ids=repr)
def test_address_without_prefix_message_is_one_line_and_escaped(address):
    message = str(usage_error("br1", "c1", address))
    assert address not in message


def test_mtu_may_come_before_the_host_interface():
    assert attach_spec("--mtu", "1500", "br1", "c1", ADDR).mtu == 1500


@pytest.mark.parametrize(("tag", "pkey"), [("4095", 0x4095), ("abc", 0xABC), ("8001", 0x8001)])
def test_a_tag_that_is_no_vlan_id_is_kept_as_an_ipoib_partition_key(tag, pkey):
    # The original reads @PKEY as hexadecimal for IPoIB; any other kind refuses it
    # once the host interface is known (exit 2, before any change).
    spec = attach_spec("ib0", "c1", ADDR, f"@{tag}")
    assert spec.vlan is None and spec.pkey == pkey


def test_a_decimal_tag_is_both_a_vlan_and_a_partition_key():
    spec = attach_spec("br1", "c1", ADDR, "@10")
    assert spec.vlan == 10 and spec.pkey == 0x10


@pytest.mark.parametrize("where", ["before", "after"])
def test_kind_options_go_before_or_after_the_host_interface(where):
    options = ["--macvlan-mode", "private", "--ovs-datapath", "netdev", "--vlan-filtering"]
    argv = [*options, "eth0", "c1", ADDR] if where == "before" else ["eth0", *options, "c1", ADDR]
    spec = attach_spec(*argv)
    assert (spec.macvlan_mode, spec.ovs_datapath, spec.vlan_filtering) == (
        "private",
        "netdev",
        True,
    )
    assert spec.ipvlan_mode is None


def test_kind_option_values_are_checked():
    assert "invalid ipvlan mode 'l4'" in str(usage_error("--ipvlan-mode", "l4", "eth0", "c1", ADDR))
    assert "needs a value" in str(usage_error("eth0", "--ovs-datapath"))
    assert "exclude each other" in str(
        usage_error("eth0", "--ipvlan-mode", "l2", "--macvlan-mode", "vepa", "c1", ADDR)
    )
