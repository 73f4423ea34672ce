"""The value parsers (``inet``, ``mac``, ``names``) and ``AttachSpec`` built through the Python API.

Whatever the caller hands over, a bad value is a ``UsageError``: never a
``TypeError`` or ``AttributeError``, never a spec that only fails in the kernel.
"""

from __future__ import annotations

import hashlib

import pytest

from pipework.errors import UsageError
from pipework.inet import IPAddress, IPInterface, check_gateway, parse_address, parse_interface
from pipework.mac import format_mac, mac_from_string, parse_mac
from pipework.model import Addressing, AttachSpec, DhcpRequest
from pipework.names import GUEST_NAME_MAX, GuestRef, check_guest_name, check_ifname, parse_guest_ref

# --- parse_address --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "family", "packed"),
    [
        ("192.0.2.1", 4, bytes([192, 0, 2, 1])),
        ("0.0.0.0", 4, bytes(4)),  # noqa: S104 - parsed, never bound
        ("255.255.255.255", 4, b"\xff" * 4),
        ("2001:db8::1", 6, bytes.fromhex("20010db8000000000000000000000001")),
        ("::", 6, bytes(16)),
        ("::ffff:192.0.2.1", 6, bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1])),
        ("FE80::A", 6, bytes.fromhex("fe80000000000000000000000000000a")),
    ],
)
def test_parse_address_reads_family_and_bytes(text, family, packed):
    assert parse_address(text) == IPAddress(family, packed)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("192.0.2.1", "192.0.2.1"), ("2001:DB8:0:0::1", "2001:db8::1"), ("::", "::")],
)
def test_address_str_is_the_canonical_form(text, canonical):
    assert str(parse_address(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "010.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.4/24",
        " 1.2.3.4",
        "::g",
        "fe80::1%eth0",
        "1:2:3:4:5:6:7:8:9",
        "1" * 65,
        "a\0b",
        "\udcff",
        "\uff11.2.3.4",
    ],
    ids=repr,
)
def test_parse_address_refuses_malformed_text(text):
    with pytest.raises(UsageError):
        parse_address(text)


def test_parse_address_names_what_it_parsed_in_the_message():
    with pytest.raises(UsageError, match="gateway"):
        parse_address("nope", "gateway")


@pytest.mark.parametrize(
    ("text", "multicast", "loopback", "unspecified", "link_local", "limited_broadcast"),
    [
        ("224.0.0.1", True, False, False, False, False),
        ("239.255.255.255", True, False, False, False, False),
        ("240.0.0.1", False, False, False, False, False),
        ("127.0.0.1", False, True, False, False, False),
        ("0.0.0.0", False, False, True, False, False),  # noqa: S104 - parsed, never bound
        ("169.254.1.1", False, False, False, True, False),
        ("255.255.255.255", False, False, False, False, True),
        ("ff02::1", True, False, False, False, False),
        ("::1", False, True, False, False, False),
        ("::", False, False, True, False, False),
        ("fe80::1", False, False, False, True, False),
        ("febf::1", False, False, False, True, False),
        ("fec0::1", False, False, False, False, False),
        ("2001:db8::1", False, False, False, False, False),
    ],
)
def test_address_classification(
    text, multicast, loopback, unspecified, link_local, limited_broadcast
):
    address = parse_address(text)
    assert address.is_multicast is multicast
    assert address.is_loopback is loopback
    assert address.is_unspecified is unspecified
    assert address.is_link_local is link_local
    assert address.is_limited_broadcast is limited_broadcast


# --- parse_interface and IPInterface --------------------------------------------------


def test_parse_interface_keeps_address_and_prefix():
    iface = parse_interface("192.0.2.10/24")
    assert iface.address == parse_address("192.0.2.10")
    assert iface.prefixlen == 24
    assert iface.family == 4
    assert str(iface) == "192.0.2.10/24"


@pytest.mark.parametrize(("text", "guess"), [("192.0.2.10", "/24"), ("2001:db8::1", "/64")])
def test_parse_interface_without_prefix_suggests_a_prefix(text, guess):
    with pytest.raises(UsageError, match=guess):
        parse_interface(text)


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.1/0",
        "10.0.0.1/33",
        "10.0.0.1/-1",
        "10.0.0.1/abc",
        "10.0.0.1/",
        "10.0.0.1/0024",
        "2001:db8::1/0",
        "2001:db8::1/129",
    ],
)
def test_parse_interface_refuses_prefix_out_of_range(text):
    with pytest.raises(UsageError, match="prefix"):
        parse_interface(text)


@pytest.mark.parametrize(
    "text",
    [
        "0.0.0.0/8",
        "224.0.0.1/4",
        "127.0.0.1/8",
        "255.255.255.255/32",
        "192.0.2.0/24",
        "192.0.2.255/24",
        "::/64",
        "::1/128",
        "ff02::1/16",
        "::ffff:192.0.2.1/96",
    ],
)
def test_parse_interface_refuses_addresses_no_interface_may_carry(text):
    with pytest.raises(UsageError, match="cannot be assigned"):
        parse_interface(text)


@pytest.mark.parametrize(
    ("text", "broadcast"),
    [
        ("192.0.2.10/24", "192.0.2.255"),
        ("192.0.2.5/30", "192.0.2.7"),
        ("10.1.2.3/8", "10.255.255.255"),
        ("192.0.2.10/25", "192.0.2.127"),
        ("192.0.2.200/25", "192.0.2.255"),
    ],
)
def test_ipv4_broadcast_is_the_last_address_of_the_subnet(text, broadcast):
    assert parse_interface(text).broadcast() == parse_address(broadcast)


@pytest.mark.parametrize("text", ["192.0.2.10/31", "192.0.2.11/31", "192.0.2.10/32"])
def test_ipv4_slash_31_and_slash_32_have_no_broadcast(text):
    assert parse_interface(text).broadcast() is None


@pytest.mark.parametrize("text", ["2001:db8::1/64", "2001:db8::1/120", "2001:db8::1/128"])
def test_ipv6_has_no_broadcast(text):
    assert parse_interface(text).broadcast() is None


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("192.0.2.10/24", "192.0.2.0"),
        ("192.0.2.5/30", "192.0.2.4"),
        ("192.0.2.11/31", "192.0.2.10"),
        ("192.0.2.11/32", "192.0.2.11"),
        ("10.200.3.4/9", "10.128.0.0"),
        ("2001:db8::1/64", "2001:db8::"),
        ("2001:db8:1:2:3:4:5:6/48", "2001:db8:1::"),
    ],
)
def test_network_address_clears_the_host_bits(text, network):
    assert parse_interface(text).network_address() == parse_address(network)


@pytest.mark.parametrize(
    ("iface", "other", "inside"),
    [
        ("192.0.2.10/24", "192.0.2.1", True),
        ("192.0.2.10/24", "192.0.2.255", True),
        ("192.0.2.10/24", "192.0.3.1", False),
        ("192.0.2.5/30", "192.0.2.7", True),
        ("192.0.2.5/30", "192.0.2.8", False),
        ("192.0.2.10/32", "192.0.2.10", True),
        ("192.0.2.10/32", "192.0.2.11", False),
        ("2001:db8::1/64", "2001:db8::ffff", True),
        ("2001:db8::1/64", "2001:db8:0:1::1", False),
        ("192.0.2.10/24", "::ffff:192.0.2.1", False),
        ("2001:db8::1/1", "10.0.0.1", False),
    ],
)
def test_contains_tells_whether_an_address_is_in_the_subnet(iface, other, inside):
    assert parse_interface(iface).contains(parse_address(other)) is inside


# --- check_gateway --------------------------------------------------------------------


def addrs(*texts: str) -> tuple[IPInterface, ...]:
    return tuple(parse_interface(t) for t in texts)


@pytest.mark.parametrize(
    ("gateway", "addresses"),
    [
        ("192.0.2.1", ("192.0.2.10/24",)),
        ("198.51.100.1", ("192.0.2.10/24",)),
        ("192.0.2.1", ()),
        ("2001:db8::1", ("2001:db8::10/64",)),
        ("fe80::1", ("2001:db8::10/64",)),
        ("192.0.2.1", ("192.0.2.10/24", "2001:db8::10/64")),
        ("192.0.2.10", ("192.0.2.11/31",)),
        ("192.0.2.0", ("192.0.2.1/31",)),
    ],
)
def test_check_gateway_accepts_a_usable_gateway(gateway, addresses):
    check_gateway(parse_address(gateway), addrs(*addresses))


@pytest.mark.parametrize(
    ("gateway", "addresses", "match"),
    [
        ("0.0.0.0", (), "unicast"),  # noqa: S104 - parsed, never bound
        ("224.0.0.1", (), "unicast"),
        ("127.0.0.1", (), "unicast"),
        ("::", (), "unicast"),
        ("ff02::1", (), "unicast"),
        ("::1", (), "unicast"),
        ("255.255.255.255", (), "broadcast"),
        ("2001:db8::1", ("192.0.2.10/24",), "IPv6"),
        ("192.0.2.1", ("2001:db8::10/64",), "IPv4"),
        ("192.0.2.10", ("192.0.2.10/24",), "own address"),
        ("2001:db8::10", ("2001:db8::10/64",), "own address"),
        ("192.0.2.0", ("192.0.2.10/24",), "network address"),
        ("192.0.2.255", ("192.0.2.10/24",), "broadcast address"),
        ("192.0.2.4", ("192.0.2.5/30",), "network address"),
        ("192.0.2.7", ("192.0.2.5/30",), "broadcast address"),
    ],
)
def test_check_gateway_refuses_an_unusable_gateway(gateway, addresses, match):
    with pytest.raises(UsageError, match=match):
        check_gateway(parse_address(gateway), addrs(*addresses))


# --- MAC addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        ("02:00:00:00:00:01", bytes.fromhex("020000000001")),
        ("02:AA:bb:Cc:dD:ee", bytes.fromhex("02aabbccddee")),
        ("2:a:b:c:d:e", bytes.fromhex("020a0b0c0d0e")),
        ("fe:ff:ff:ff:ff:ff", bytes.fromhex("feffffffffff")),
        ("00:00:00:00:00:01", bytes.fromhex("000000000001")),
    ],
)
def test_parse_mac_reads_six_hex_bytes(text, mac):
    assert parse_mac(text) == mac


@pytest.mark.parametrize("text", ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "33:33:0:0:0:1"])
def test_parse_mac_refuses_multicast(text):
    with pytest.raises(UsageError, match="multicast"):
        parse_mac(text)


def test_parse_mac_refuses_all_zero():
    with pytest.raises(UsageError, match="all-zero"):
        parse_mac("00:00:00:00:00:00")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "02:00:00:00:00",
        "02:00:00:00:00:00:01",
        "02:00:00:00:00:zz",
        "002:00:00:00:00:01",
        "02-00-00-00-00-01",
        "020000000001",
        "02::00:00:00:01",
        "02:00:00:00:00:01 ",
        "+2:00:00:00:00:01",
        "\uff10\uff12:00:00:00:00:01",
    ],
    ids=repr,
)
def test_parse_mac_refuses_malformed_text(text):
    with pytest.raises(UsageError, match="six hex bytes"):
        parse_mac(text)


def test_parse_mac_names_what_it_parsed_in_the_message():
    with pytest.raises(UsageError, match="host interface MAC"):
        parse_mac("nope", "host interface MAC")


def test_mac_from_string_matches_echo_hello_md5sum():
    # echo hello | md5sum -> b1946ac92492d2347c6235b4d2611184
    assert mac_from_string("hello") == bytes.fromhex("02b1946ac924")


@pytest.mark.parametrize("seed", ["hello", "web-1", "a b", "café", "", "x" * 1000])
def test_mac_from_string_is_02_then_md5_of_string_and_newline(seed):
    digest = hashlib.md5((seed + "\n").encode()).digest()  # noqa: S324
    assert mac_from_string(seed) == b"\x02" + digest[:5]


@pytest.mark.parametrize(("seed", "as_echoed"), [("a  b", "a b"), (" a\tb\n", "a b"), ("\n", "")])
def test_mac_from_string_squeezes_whitespace_like_the_shells_unquoted_echo(seed, as_echoed):
    assert mac_from_string(seed) == mac_from_string(as_echoed)


def test_mac_from_string_gives_a_mac_parse_mac_accepts():
    mac = mac_from_string("anything")
    assert parse_mac(format_mac(mac)) == mac


@pytest.mark.parametrize(
    ("mac", "text"),
    [
        (bytes.fromhex("020000000001"), "02:00:00:00:00:01"),
        (bytes.fromhex("02aabbccddee"), "02:aa:bb:cc:dd:ee"),
        (bytes.fromhex("0a0b0c0d0e0f"), "0a:0b:0c:0d:0e:0f"),
    ],
)
def test_format_mac_is_lowercase_and_zero_padded(mac, text):
    assert format_mac(mac) == text


@pytest.mark.parametrize("text", ["02:00:00:00:00:01", "2:a:b:c:d:e", "FE:FF:FF:FF:FF:FF"])
def test_format_mac_round_trips_through_parse_mac(text):
    mac = parse_mac(text)
    assert parse_mac(format_mac(mac)) == mac


# --- interface names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["eth1", "a", "a" * 15, "br-lan.10", "veth_1@x", "-v", "..."])
def test_check_ifname_returns_a_valid_name(name):
    assert check_ifname(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 16,
        "a/b",
        "a:b",
        "a b",
        "a\tb",
        "a\nb",
        ".",
        "..",
        "\u00e9",
        "eth\u00a0",
        "a\x7f",
        "a\x00",
        "eth\udcff",
        "\u00e9" * 8,
    ],
    ids=repr,
)
def test_check_ifname_refuses_what_the_kernel_refuses(name):
    with pytest.raises(UsageError):
        check_ifname(name)


def test_check_ifname_counts_bytes_not_characters():
    # 8 two-byte characters: 16 bytes, one more than IFNAMSIZ - 1.
    with pytest.raises(UsageError, match="16 bytes"):
        check_ifname("\u00e9" * 8)


def test_check_ifname_names_what_it_checked_in_the_message():
    with pytest.raises(UsageError, match="container interface name"):
        check_ifname("", "container interface name")


# --- guest names and references -------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["web", "Web_1", "a.b-c+d@e", "0123456789ab", "a", "a" * GUEST_NAME_MAX, "x.."]
)
def test_check_guest_name_returns_a_valid_name(name):
    assert check_guest_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        ".x",
        "-x",
        "a" * (GUEST_NAME_MAX + 1),
        "a*",
        "a?",
        "a[b]",
        "a/b",
        "../x",
        "a b",
        "a;b",
        "$a",
        "a`b`",
        "a:b",
        "caf\u00e9",
        "a\0b",
    ],
    ids=repr,
)
def test_check_guest_name_refuses_globs_paths_and_metacharacters(name):
    with pytest.raises(UsageError):
        check_guest_name(name)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("web", GuestRef(None, "web")),
        ("lxc:web", GuestRef("lxc", "web")),
        ("docker:web", GuestRef("docker", "web")),
        ("netns:web", GuestRef("netns", "web")),
        ("pid:42", GuestRef("pid", "42")),
        ("pid:4194303", GuestRef("pid", "4194303")),
        ("/run/netns/web", GuestRef("netns", "/run/netns/web")),
        ("netns:/run/netns/web", GuestRef("netns", "/run/netns/web")),
        ("/proc/1/ns/net", GuestRef("netns", "/proc/1/ns/net")),
    ],
)
def test_parse_guest_ref_reads_prefix_and_value(text, ref):
    assert parse_guest_ref(text) == ref


@pytest.mark.parametrize(
    ("ref", "text", "is_path"),
    [
        (GuestRef(None, "web"), "web", False),
        (GuestRef("docker", "web"), "docker:web", False),
        (GuestRef("netns", "/run/netns/web"), "netns:/run/netns/web", True),
    ],
)
def test_guest_ref_str_and_is_path(ref, text, is_path):
    assert str(ref) == text
    assert ref.is_path is is_path


@pytest.mark.parametrize(
    "text",
    [
        "",
        "foo:bar",
        "lxc:",
        "lxc:/x",
        "docker:/x",
        "pid:/x",
        "pid:abc",
        "pid:0",
        "pid:-1",
        "pid:4194305",
        "/run/netns/../x",
        "/..",
        "netns:a/b",
        "docker:a*",
    ],
)
def test_parse_guest_ref_refuses_bad_references(text):
    with pytest.raises(UsageError):
        parse_guest_ref(text)


# --- AttachSpec through the Python API ------------------------------------------------

GUEST = GuestRef(None, "web")
ADDRESSING = Addressing((parse_interface("192.0.2.10/24"),))


def spec(**overrides: object) -> AttachSpec:
    """An AttachSpec for br1, guest web, 192.0.2.10/24, with keyword overrides."""
    args: dict[str, object] = {"host_if": "br1", "guest": GUEST, "addressing": ADDRESSING}
    args.update(overrides)
    host_if, guest, addressing = args.pop("host_if"), args.pop("guest"), args.pop("addressing")
    return AttachSpec(host_if, guest, addressing, **args)


def test_attach_spec_has_the_documented_defaults():
    s = spec()
    assert s.container_ifname == "eth1"
    assert s.host_ifname is None
    assert s.host_mac is None
    assert s.mac is None
    assert s.vlan is None
    assert s.mtu is None
    assert s.create_bridge is False
    assert s.direct_phys is False


def test_attach_spec_accepts_every_valid_field():
    s = spec(
        container_ifname="eth2",
        host_ifname="vethweb",
        mac=bytes.fromhex("020000000001"),
        vlan=4094,
        mtu=9000,
        create_bridge=True,
    )
    assert (s.container_ifname, s.host_ifname, s.vlan, s.mtu) == ("eth2", "vethweb", 4094, 9000)


def test_attach_spec_may_name_the_host_interface_by_mac_only():
    s = spec(host_if=None, host_mac=bytes.fromhex("0200000000aa"))
    assert s.host_if is None


def test_attach_spec_is_immutable():
    s = spec()
    with pytest.raises(AttributeError):
        s.vlan = 10


def test_attach_spec_needs_a_host_interface_or_its_mac():
    with pytest.raises(UsageError, match="no host interface"):
        spec(host_if=None)


@pytest.mark.parametrize(
    "overrides",
    [
        {"guest": "web"},
        {"guest": None},
        {"addressing": None},
        {"addressing": (parse_interface("192.0.2.10/24"),)},
        {"addressing": Addressing(("192.0.2.10/24",))},
        {"addressing": Addressing(gateways=("192.0.2.1",))},
        {"addressing": Addressing((parse_address("192.0.2.10"),))},
        {"mac": "02:00:00:00:00:01"},
        {"mac": bytearray(b"\x02\0\0\0\0\x01")},
        {"mac": b"\x02\0\0\0\0"},
        {"mac": b"\x02\0\0\0\0\0\x01"},
        {"mac": b"\x01\0\0\0\0\x01"},
        {"mac": bytes(6)},
        {"host_if": None, "host_mac": "02:00:00:00:00:01"},
        {"host_if": None, "host_mac": b"\xff" * 6},
        {"vlan": "10"},
        {"vlan": 10.0},
        {"vlan": True},
        {"mtu": "1500"},
        {"mtu": 1500.0},
        {"mtu": True},
        {"mtu": False},
    ],
    ids=repr,
)
def test_attach_spec_refuses_wrong_types(overrides):
    with pytest.raises(UsageError):
        spec(**overrides)


@pytest.mark.parametrize("vlan", [0, -1, 4095, 99999])
def test_attach_spec_refuses_vlan_out_of_range(vlan):
    with pytest.raises(UsageError, match="VLAN"):
        spec(vlan=vlan)


@pytest.mark.parametrize("vlan", [1, 4094])
def test_attach_spec_accepts_vlan_boundaries(vlan):
    assert spec(vlan=vlan).vlan == vlan


@pytest.mark.parametrize("mtu", [0, 67, 65536, -1500])
def test_attach_spec_refuses_mtu_out_of_range(mtu):
    with pytest.raises(UsageError, match="MTU"):
        spec(mtu=mtu)


@pytest.mark.parametrize("mtu", [68, 65535])
def test_attach_spec_accepts_mtu_boundaries(mtu):
    assert spec(mtu=mtu).mtu == mtu


@pytest.mark.parametrize("mtu", [True, False])
def test_attach_spec_refuses_a_bool_as_mtu(mtu):
    with pytest.raises(UsageError, match="MTU"):
        spec(mtu=mtu)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host_if", "a" * 16),
        ("host_if", "a/b"),
        ("host_if", ""),
        ("container_ifname", "a:b"),
        ("container_ifname", ".."),
        ("host_ifname", "a b"),
        ("host_ifname", ""),
    ],
)
def test_attach_spec_refuses_bad_interface_names(field, value):
    with pytest.raises(UsageError):
        spec(**{field: value})


@pytest.mark.parametrize(
    "addresses",
    [
        ("192.0.2.10/24", "192.0.2.10/24"),
        ("192.0.2.10/24", "192.0.2.10/16"),
        ("2001:db8::1/64", "2001:db8::1/128"),
    ],
)
def test_attach_spec_refuses_duplicate_addresses(addresses):
    with pytest.raises(UsageError, match="twice"):
        spec(addressing=Addressing(addrs(*addresses)))


def test_attach_spec_accepts_one_address_of_each_family_with_one_gateway_each():
    addressing = Addressing(
        addrs("192.0.2.10/24", "2001:db8::10/64"),
        (parse_address("192.0.2.1"), parse_address("2001:db8::1")),
    )
    assert spec(addressing=addressing).addressing == addressing


@pytest.mark.parametrize(
    "gateways", [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "fe80::1"), ("192.0.2.1",) * 2]
)
def test_attach_spec_refuses_two_gateways_of_one_family(gateways):
    addressing = Addressing(
        addrs("192.0.2.10/24", "2001:db8::10/64"), tuple(parse_address(g) for g in gateways)
    )
    with pytest.raises(UsageError, match="one gateway per address family"):
        spec(addressing=addressing)


@pytest.mark.parametrize(
    ("address", "gateway"),
    [
        ("192.0.2.10/24", "192.0.2.10"),
        ("192.0.2.10/24", "192.0.2.255"),
        ("192.0.2.10/24", "2001:db8::1"),
        ("192.0.2.10/24", "224.0.0.1"),
    ],
)
def test_attach_spec_checks_the_gateway_against_the_addresses(address, gateway):
    with pytest.raises(UsageError, match="gateway"):
        spec(addressing=Addressing(addrs(address), (parse_address(gateway),)))


def test_attach_spec_refuses_dhcp_plus_static_addresses():
    addressing = Addressing(addrs("192.0.2.10/24"), dhcp=DhcpRequest("dhcp"))
    with pytest.raises(UsageError, match="DHCP"):
        spec(addressing=addressing)


def test_attach_spec_accepts_dhcp_alone():
    addressing = Addressing(dhcp=DhcpRequest("udhcpc", True, "-t 5"))
    assert spec(addressing=addressing).addressing.dhcp == DhcpRequest("udhcpc", True, "-t 5")


@pytest.mark.parametrize(
    ("request_", "text"),
    [
        (DhcpRequest("dhcp"), "dhcp"),
        (DhcpRequest("udhcpc", True), "udhcpc-f"),
        (DhcpRequest("dhclient", False, "-v"), "dhclient:-v"),
        (DhcpRequest("udhcpc", True, "-t 5"), "udhcpc-f:-t 5"),
    ],
)
def test_dhcp_request_str_is_the_original_syntax(request_, text):
    assert str(request_) == text


# --- values built directly through the Python API get the command line's checks ---


@pytest.mark.parametrize(
    "overrides",
    [
        {"host_if": 5},
        {"host_if": b"br1"},
        {"container_ifname": None},
        {"container_ifname": b"eth1"},
        {"host_ifname": 3},
    ],
    ids=repr,
)
def test_attach_spec_refuses_non_str_interface_names(overrides):
    with pytest.raises(UsageError):
        spec(**overrides)


@pytest.mark.parametrize(
    "addressing",
    [
        Addressing(None),
        Addressing(gateways=None),
        Addressing(5),
    ],
    ids=["addresses None", "gateways None", "addresses 5"],
)
def test_attach_spec_refuses_addresses_that_are_not_a_tuple(addressing):
    with pytest.raises(UsageError):
        spec(addressing=addressing)


@pytest.mark.parametrize(
    "guest",
    [
        GuestRef(None, "../../etc"),
        GuestRef(None, "web*"),
        GuestRef("lxc", "/var/lib/lxc/web"),
        GuestRef("foo", "web"),
        GuestRef("pid", "abc"),
        GuestRef(None, ""),
    ],
    ids=repr,
)
def test_attach_spec_refuses_a_guest_ref_parse_guest_ref_would_refuse(guest):
    with pytest.raises(UsageError):
        spec(guest=guest)


@pytest.mark.parametrize(
    "make_iface",
    [
        lambda: IPInterface(parse_address("192.0.2.10"), 33),
        lambda: IPInterface(parse_address("192.0.2.10"), 0),
        lambda: IPInterface(parse_address("127.0.0.1"), 8),
        lambda: IPInterface(parse_address("192.0.2.0"), 24),
        lambda: IPInterface(IPAddress(4, b"\xc0\x00\x02"), 24),
        lambda: IPInterface(IPAddress(5, bytes(4)), 24),
        lambda: IPInterface("192.0.2.10", 24),
        lambda: IPInterface(parse_address("192.0.2.10"), True),
    ],
    ids=[
        "prefix 33",
        "prefix 0",
        "loopback",
        "network address",
        "3 bytes",
        "family 5",
        "a string",
        "bool prefix",
    ],
)
def test_attach_spec_refuses_an_interface_parse_interface_would_refuse(make_iface):
    with pytest.raises(UsageError):
        spec(addressing=Addressing((make_iface(),)))


def test_attach_spec_with_overlong_prefix_and_gateway_is_a_usage_error():
    with pytest.raises(UsageError):
        spec(
            addressing=Addressing(
                (IPInterface(parse_address("192.0.2.10"), 99),), (parse_address("192.0.2.1"),)
            )
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"addressing": Addressing(dhcp="dhcp")},
        {"addressing": Addressing(dhcp=DhcpRequest("evil"))},
        {
            "addressing": Addressing(
                gateways=(parse_address("192.0.2.1"),), dhcp=DhcpRequest("dhcp")
            )
        },
        {"create_bridge": "no"},
        {"direct_phys": 1},
    ],
    ids=[
        "dhcp str",
        "dhcp client evil",
        "dhcp with gateway",
        "create_bridge 'no'",
        "direct_phys 1",
    ],
)
def test_attach_spec_refuses_wrongly_typed_dhcp_and_flags(overrides):
    with pytest.raises(UsageError):
        spec(**overrides)


def test_public_names_are_the_functions_even_after_their_modules_are_imported():
    import importlib

    import pipework

    modules = {
        name: importlib.import_module(f"pipework.{pipework._WHERE[name]}")
        for name in pipework.__all__
    }  # as the CLI or any other code might, first
    for name in pipework.__all__:
        value = getattr(pipework, name)
        assert not isinstance(value, type(importlib)), f"pipework.{name} is a module"
        assert value is getattr(modules[name], name), name
