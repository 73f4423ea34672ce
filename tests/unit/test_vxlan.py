"""VXLAN segments (``--to vxlan:VNI``, the original syntax's ``vxlanVNI``): the request
as both command lines parse it, the model's checks, and the RTM_NEWLINK that makes
the VXLAN device (golden bytes, then pyroute2 decoding the same bytes)."""

from __future__ import annotations

import socket
import sys

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg as pr_ifinfmsg

from pipework.cli.legacy import AttachCommand, insert_guest, parse_legacy
from pipework.cli.modern import ModernCommand, parse_modern
from pipework.drivers import KINDS
from pipework.drivers.vxlan import vni_of_name, vxlan_mark
from pipework.errors import UsageError
from pipework.inet import parse_address
from pipework.model import Addressing, AttachSpec, vxlan_names
from pipework.names import GuestRef
from pipework.netlink import codec
from pipework.netlink import messages as m

REMOTE = "198.51.100.2"
GUEST = GuestRef("netns", "pwtg")


def spec(**kw: object) -> AttachSpec:
    fields: dict[str, object] = {"vni": 42, "vxlan_remote": parse_address(REMOTE)}
    fields.update(kw)
    host_if = fields.pop("host_if", f"vxlan{fields['vni']}")
    return AttachSpec(host_if, GUEST, Addressing(), **fields)  # type: ignore[arg-type]


def modern(*argv: str) -> AttachSpec:
    command = parse_modern(["attach", "pwtg", *argv])
    assert isinstance(command, ModernCommand) and command.spec is not None
    return command.spec


def legacy(*argv: str) -> AttachSpec:
    command = parse_legacy(list(argv))
    assert isinstance(command, AttachCommand)
    return command.spec


# ---------------------------------------------------------------- the model


@pytest.mark.parametrize("vni", [1, 42, 16777215])
def test_a_vni_from_1_to_2_to_the_24_minus_1_is_a_segment(vni: int) -> None:
    request = spec(vni=vni)
    assert request.vni == vni
    assert request.kind == "vxlan"


@pytest.mark.parametrize("vni", [0, -1, 16777216, True, "42"])
def test_a_vni_out_of_range_is_refused(vni: object) -> None:
    with pytest.raises(UsageError, match="invalid VXLAN id"):
        spec(vni=vni, host_if="vxlan42")


def test_the_segment_bridge_and_device_names_fit_an_interface_name() -> None:
    assert vxlan_names(42) == ("brvx42", "vx42")
    assert all(len(name) <= 15 for name in vxlan_names(16777215))
    assert len("vxlan16777215") <= 15


def test_the_host_interface_is_the_segment_or_its_bridge() -> None:
    assert spec(host_if="brvx42").host_if == "brvx42"
    with pytest.raises(UsageError, match="host interface vxlan42"):
        spec(host_if="br0")


def test_remote_or_group_is_needed() -> None:
    with pytest.raises(UsageError, match=r"--remote ADDR .* or --group ADDR"):
        spec(vxlan_remote=None)


def test_remote_and_group_exclude_each_other() -> None:
    with pytest.raises(UsageError, match="one of them"):
        spec(vxlan_group=parse_address("239.1.1.1"))


@pytest.mark.parametrize(
    "remote",
    ["239.1.1.1", "0.0.0.0", "255.255.255.255", "ff02::1"],  # noqa: S104
)
def test_a_remote_is_a_unicast_address(remote: str) -> None:
    with pytest.raises(UsageError, match="invalid VXLAN remote"):
        spec(vxlan_remote=parse_address(remote))


def test_a_group_is_a_multicast_address() -> None:
    assert spec(vxlan_remote=None, vxlan_group=parse_address("ff05::42")).vxlan_group
    with pytest.raises(UsageError, match="not a multicast address"):
        spec(vxlan_remote=None, vxlan_group=parse_address("198.51.100.7"))


def test_the_local_address_is_of_the_remotes_family() -> None:
    assert spec(vxlan_local=parse_address("198.51.100.1")).vxlan_local
    with pytest.raises(UsageError, match=r"is IPv6, the remote 198\.51\.100\.2 IPv4"):
        spec(vxlan_local=parse_address("2001:db8::1"))


@pytest.mark.parametrize("port", [0, 65536, -4789])
def test_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(UsageError, match="invalid VXLAN port"):
        spec(vxlan_dstport=port)


def test_the_underlay_device_is_an_interface_name() -> None:
    assert spec(vxlan_dev="eth0").vxlan_dev == "eth0"
    with pytest.raises(UsageError):
        spec(vxlan_dev="../eth0")


def test_vxlan_options_without_a_segment_are_refused() -> None:
    with pytest.raises(UsageError, match="--remote: options of a VXLAN segment"):
        AttachSpec("br0", GUEST, Addressing(), vxlan_remote=parse_address(REMOTE))


def test_a_segment_takes_no_vlan_tag() -> None:
    with pytest.raises(UsageError, match="no VLAN tag"):
        spec(vlan=10)


# ---------------------------------------------------------------- command lines


def test_modern_attach_to_a_segment() -> None:
    request = modern(
        "--to", "vxlan:42", "--remote", REMOTE, "--local", "198.51.100.1", "--dstport", "8472",
        "--vxlan-dev", "eth0", "--ip", "203.0.113.1/24",
    )  # fmt: skip
    assert request.host_if == "vxlan42"
    assert request.vni == 42
    assert request.vxlan_remote == parse_address(REMOTE)
    assert request.vxlan_local == parse_address("198.51.100.1")
    assert request.vxlan_dstport == 8472
    assert request.vxlan_dev == "eth0"
    assert request.kind == "vxlan"


@pytest.mark.parametrize("to", ["vxlan:0", "vxlan:16777216", "vxlan:x", "vxlan:"])
def test_modern_refuses_a_bad_vni(to: str) -> None:
    with pytest.raises(UsageError, match="VXLAN id"):
        modern("--to", to, "--remote", REMOTE)


def test_modern_refuses_a_bad_port() -> None:
    with pytest.raises(UsageError, match="--dstport"):
        modern("--to", "vxlan:42", "--remote", REMOTE, "--dstport", "65536")


def test_modern_refuses_vxlan_options_on_a_bridge() -> None:
    with pytest.raises(UsageError, match="--group: options of a VXLAN segment"):
        modern("--to", "br1", "--group", "239.1.1.1")


def test_legacy_vxlan_vni_with_a_remote_is_a_segment() -> None:
    request = legacy("vxlan42", "--remote", REMOTE, "pwtg", "203.0.113.1/24")
    assert request.host_if == "vxlan42"
    assert request.vni == 42
    assert request.vxlan_remote == parse_address(REMOTE)
    assert str(request.addressing.addresses[0]) == "203.0.113.1/24"


def test_legacy_vxlan_options_may_come_first() -> None:
    request = legacy("--group", "239.1.1.1", "--vxlan-dev", "eth0", "vxlan7", "pwtg", "0/0")
    assert request.vni == 7
    assert request.vxlan_group == parse_address("239.1.1.1")
    assert request.vxlan_dev == "eth0"


def test_legacy_vxlan_vni_without_options_is_left_to_the_host() -> None:
    # a host interface of that name may exist: only the host says whether it is one
    request = legacy("vxlan42", "pwtg", "203.0.113.1/24")
    assert request.host_if == "vxlan42"
    assert request.vni is None


def test_legacy_vxlan_options_need_a_vxlan_interface() -> None:
    with pytest.raises(UsageError, match="host interface is then vxlanVNI, not 'br1'"):
        legacy("br1", "--remote", REMOTE, "pwtg", "203.0.113.1/24")


def test_legacy_vxlan_option_given_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="given twice"):
        legacy("vxlan42", "--remote", REMOTE, "--remote", REMOTE, "pwtg", "0/0")


def test_a_declared_segment_gets_its_guest_after_the_options() -> None:
    words = ["vxlan42", "--remote", REMOTE, "--dstport", "4789", "203.0.113.1/24"]
    assert insert_guest(words, "pwtg") == [*words[:5], "pwtg", words[5]]


# ---------------------------------------------------------------- the driver's names


def test_the_vxlan_kind_is_registered() -> None:
    assert "vxlan" in KINDS


@pytest.mark.parametrize(
    ("name", "vni"),
    [("vxlan42", 42), ("vxlan16777215", 16777215), ("vxlan042", None), ("vxlan", None),
     ("vxlan16777216", None), ("vxlan4x", None), ("vxlan٤٢", None), ("br42", None)],
)  # fmt: skip
def test_the_vni_of_a_host_interface_name(name: str, vni: int | None) -> None:
    assert vni_of_name(name) == vni


def test_the_device_mark_names_its_segment() -> None:
    assert vxlan_mark(42) == "pipework vxlan vni=42"


# ---------------------------------------------------------------- the netlink request

pytestmark_le = pytest.mark.skipif(
    sys.byteorder != "little", reason="golden bytes are written for a little-endian host"
)


@pytestmark_le
def test_create_vxlan_golden_bytes() -> None:
    remote = socket.inet_pton(socket.AF_INET, REMOTE)
    req = m.create_vxlan("vx42", 42, remote=remote, mtu=1450, master=7, up=True)
    assert req[:2] == (16, 0x605)  # RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
    assert req[2] == bytes.fromhex(
        "00 00 0000 00000000 01000000 01000000"  # ifinfomsg: flags IFF_UP, change IFF_UP
        "0900 0300 76783432 00 000000"  # IFLA_IFNAME "vx42\0", padded
        "0800 0400 aa050000"  # IFLA_MTU 1450
        "0800 0a00 07000000"  # IFLA_MASTER 7
        "2c00 1280"  # IFLA_LINKINFO (18) | NLA_F_NESTED, len 44
        "0a00 0100 76786c616e00 0000"  # IFLA_INFO_KIND "vxlan\0", padded
        "1c00 0280"  # IFLA_INFO_DATA (2) | NLA_F_NESTED, len 28
        "0800 0100 2a000000"  # IFLA_VXLAN_ID 42
        "0800 0200 c6336402"  # IFLA_VXLAN_GROUP 198.51.100.2 (a unicast remote)
        "0600 0f00 12b5 0000"  # IFLA_VXLAN_PORT 4789, big-endian
    )


def _pyroute2(req: tuple[int, int, bytes]) -> pr_ifinfmsg:
    msg = pr_ifinfmsg(codec.pack_message(req[0], req[1], 1, req[2]))
    msg.decode()
    return msg


def test_create_vxlan_v4_as_pyroute2_reads_it() -> None:
    req = m.create_vxlan(
        "vx7",
        7,
        group=socket.inet_pton(socket.AF_INET, "239.1.1.1"),
        local=socket.inet_pton(socket.AF_INET, "198.51.100.1"),
        port=8472,
        underlay=3,
    )
    msg = _pyroute2(req)
    assert msg["flags"] == 0 and msg["change"] == 1
    assert msg.get_attr("IFLA_IFNAME") == "vx7"
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "vxlan"
    data = info.get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_VXLAN_ID") == 7
    assert data.get_attr("IFLA_VXLAN_GROUP") == "239.1.1.1"
    assert data.get_attr("IFLA_VXLAN_LOCAL") == "198.51.100.1"
    assert data.get_attr("IFLA_VXLAN_PORT") == 8472
    assert data.get_attr("IFLA_VXLAN_LINK") == 3


def test_create_vxlan_v6_uses_the_v6_attributes() -> None:
    req = m.create_vxlan(
        "vx9",
        9,
        remote=socket.inet_pton(socket.AF_INET6, "2001:db8::2"),
        local=socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
    )
    data = _pyroute2(req).get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    assert data.get_attr("IFLA_VXLAN_GROUP6") == "2001:db8::2"
    assert data.get_attr("IFLA_VXLAN_LOCAL6") == "2001:db8::1"
    assert data.get_attr("IFLA_VXLAN_GROUP") is None
    assert data.get_attr("IFLA_VXLAN_PORT") == 4789


def test_a_vxlan_device_reads_back_through_kind_data() -> None:
    """The attributes pipework sends are the ones it reads back from a dump (ls, gc)."""
    req = m.create_vxlan("vx42", 42, remote=socket.inet_pton(socket.AF_INET, REMOTE))
    info = m.IFLA.decode(req[2], m.IFINFOMSG.size).get_nested("IFLA_LINKINFO")
    assert info is not None
    link = m.Link(
        index=5, type=1, name="vx42", flags=0, kind="vxlan", slave_kind=None, master=None,
        mtu=1450, address=None, alias=None, link=None, link_netnsid=None, operstate=None,
        port_state=None, arp_notify=None, info_data=info.raw[2],
    )  # fmt: skip
    data = m.kind_data(link)
    assert data is not None
    assert data.get_int("IFLA_VXLAN_ID") == 42
    assert data.get_bytes("IFLA_VXLAN_GROUP") == socket.inet_pton(socket.AF_INET, REMOTE)
    assert data.get_int("IFLA_VXLAN_PORT") == 4789
