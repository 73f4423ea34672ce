"""DHCP messages: golden bytes for what the client sends, and hostile replies.

A reply comes from whatever answers on the guest's network, so decoding is fed
truncated options, wrong lengths and option overloads: the only failure allowed
is the project's own MalformedReply.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.dhcp import packet as p
from pipework.dhcp.client import make_lease

MAC = bytes.fromhex("020000000001")
XID = 0x11223344


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def reply(
    message_type: int = p.OFFER,
    *,
    options: bytes | None = None,
    yiaddr: bytes = bytes((198, 51, 100, 60)),
    sname: bytes = b"",
    file: bytes = b"",
    xid: int = XID,
) -> bytes:
    """A server's BOOTREPLY, options given raw (so they can be wrong)."""
    fixed = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        p.BOOTREPLY, 1, 6, 0, xid, 0, 0x8000, bytes(4), yiaddr, bytes(4), bytes(4),
        MAC, sname, file,
    )  # fmt: skip
    if options is None:
        options = (
            bytes((p.MESSAGE_TYPE, 1, message_type))
            + bytes((p.SERVER_ID, 4, 198, 51, 100, 1))
            + bytes((p.LEASE_TIME, 4)) + p.u32(120)
            + bytes((p.SUBNET_MASK, 4, 255, 255, 255, 0))
            + bytes((p.ROUTER, 4, 198, 51, 100, 1))
            + bytes((p.END,))
        )  # fmt: skip
    return fixed + p.MAGIC + options


def test_discover_golden_bytes() -> None:
    data = p.encode(
        p.DISCOVER,
        XID,
        MAC,
        secs=3,
        options=[(p.CLIENT_ID, b"\x01" + MAC), (p.HOSTNAME, b"web")],
    )
    assert len(data) == 300  # padded to the BOOTP minimum
    assert data[:44] == h(
        "01 01 06 00"  # BOOTREQUEST, Ethernet, 6-byte MAC, 0 hops
        "11223344"  # xid
        "0003 8000"  # secs 3, broadcast flag
        "00000000 00000000 00000000 00000000"  # ciaddr yiaddr siaddr giaddr
        "020000000001 00000000000000000000"  # chaddr, padded to 16
    )
    assert data[44:236] == bytes(192)  # sname and file: empty
    assert data[236:] == h(
        "63825363"  # magic cookie
        "35 01 01"  # option 53: DHCPDISCOVER
        "3d 07 01 020000000001"  # option 61: client id, type 1 + MAC
        "0c 03 776562"  # option 12: hostname "web"
        "ff"  # end
    ) + bytes(300 - 236 - 22)


def test_release_is_unicast_from_the_lease_address() -> None:
    data = p.encode(
        p.RELEASE, XID, MAC, ciaddr=bytes((198, 51, 100, 60)), broadcast=False, options=[]
    )
    assert data[10:16] == h("0000 c633643c")  # no broadcast flag; ciaddr 198.51.100.60
    assert data[240:243] == bytes((53, 1, p.RELEASE))


def test_long_option_is_split_and_joined_again() -> None:
    value = bytes(range(256)) * 2  # 512 bytes: three instances (RFC 3396)
    encoded = p.encode_option(p.CLASSLESS_ROUTES, value)
    assert [encoded[0], encoded[1]] == [121, 255]
    assert len(encoded) == 512 + 3 * 2
    message = p.decode(reply(options=encoded + b"\xff"))
    assert message.options[p.CLASSLESS_ROUTES] == value


def test_offer_decodes() -> None:
    message = p.decode(reply())
    assert message.op == p.BOOTREPLY and message.xid == XID and message.chaddr == MAC
    assert message.message_type == p.OFFER
    assert message.address_option(p.SERVER_ID) == bytes((198, 51, 100, 1))
    assert message.address_list(p.ROUTER) == [bytes((198, 51, 100, 1))]
    assert message.seconds(p.LEASE_TIME) == 120


def test_lease_from_an_ack() -> None:
    lease = make_lease(p.decode(reply(p.ACK)), bytes((198, 51, 100, 1)))
    assert lease.address == bytes((198, 51, 100, 60)) and lease.prefixlen == 24
    assert lease.renew_at - lease.obtained == 60  # T1: half the lease
    assert lease.rebind_at - lease.obtained == 105  # T2: 7/8 of it
    assert lease.expires - lease.obtained == 120


def test_overload_puts_options_in_file_and_sname() -> None:
    options = bytes((p.MESSAGE_TYPE, 1, p.ACK, p.OVERLOAD, 1, 3, p.END))
    file = bytes((p.SERVER_ID, 4, 198, 51, 100, 1, p.LEASE_TIME, 4)) + p.u32(60) + b"\xff"
    sname = bytes((p.ROUTER, 4, 198, 51, 100, 9, p.END))
    message = p.decode(reply(options=options, file=file, sname=sname))
    assert message.seconds(p.LEASE_TIME) == 60
    assert message.address_list(p.ROUTER) == [bytes((198, 51, 100, 9))]
    assert p.OVERLOAD not in message.options


def test_classless_routes() -> None:
    value = h("18 c63371 c633640100 c633640120 cb007101 00000000")
    assert p.classless_routes(value) == [
        (h("c6337100"), 24, h("c6336401")),
        (h("00000000"), 0, h("c6336401")),
        (h("cb007101"), 32, h("00000000")),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x02" * 100, "too short"),
        (reply()[:236] + b"\x00\x00\x00\x00", "no DHCP magic cookie"),
        (reply(options=bytes((p.MESSAGE_TYPE,))), "has no length"),
        (reply(options=bytes((p.MESSAGE_TYPE, 9, 1))), "claims 9 bytes"),
        (reply(options=bytes((p.OVERLOAD, 1, 7, p.END))), "option overload has a bad value"),
        (reply(options=bytes((p.OVERLOAD, 1, 1, p.END)), file=b"\x35\x01\x05"), "no end option"),
    ],
)
def test_malformed_replies_are_named(data: bytes, reason: str) -> None:
    with pytest.raises(p.MalformedReply, match=reason):
        p.decode(data)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (bytes((p.MESSAGE_TYPE, 1, p.ACK, p.END)), "no lease time"),
        (
            bytes((p.MESSAGE_TYPE, 1, p.ACK, p.LEASE_TIME, 2, 0, 9, p.END)),
            "is 2 bytes long, not 4",
        ),
        (
            bytes((p.MESSAGE_TYPE, 1, p.ACK, p.SUBNET_MASK, 4, 255, 0, 255, 0))
            + bytes((p.LEASE_TIME, 4))
            + p.u32(60)
            + b"\xff",
            "not contiguous",
        ),
        (
            bytes((p.MESSAGE_TYPE, 1, p.ACK, p.ROUTER, 3, 1, 2, 3, p.LEASE_TIME, 4))
            + p.u32(60)
            + b"\xff",
            "not a multiple of 4",
        ),
        (
            bytes((p.MESSAGE_TYPE, 1, p.ACK, p.CLASSLESS_ROUTES, 2, 33, 1, p.LEASE_TIME, 4))
            + p.u32(60)
            + b"\xff",
            "/33 destination",
        ),
    ],
)
def test_an_ack_without_a_usable_lease_is_named(options: bytes, reason: str) -> None:
    with pytest.raises(p.MalformedReply, match=reason):
        make_lease(p.decode(reply(options=options)), bytes(4))


OPTION = st.builds(
    lambda code, value, lie: bytes((code, (len(value) + lie) % 256)) + value,
    st.integers(0, 255),
    st.binary(max_size=40),
    st.sampled_from([0, 0, 0, 1, -1, 100]),
)


@settings(max_examples=400, deadline=None)
@given(
    options=st.lists(OPTION, max_size=12).map(b"".join),
    file=st.binary(max_size=128),
    sname=st.binary(max_size=64),
    cut=st.integers(0, 400),
)
def test_hostile_replies_fail_only_as_malformed(
    options: bytes, file: bytes, sname: bytes, cut: int
) -> None:
    data = reply(options=options, file=file, sname=sname)
    for candidate in (data, data[:cut]):
        try:
            message = p.decode(candidate)
        except p.MalformedReply:
            continue
        try:
            make_lease(message, bytes(4))
        except p.MalformedReply:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_fail_only_as_malformed(data: bytes) -> None:
    try:
        p.decode(data)
    except p.MalformedReply:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60))
def test_classless_routes_of_any_bytes_fail_only_as_malformed(value: bytes) -> None:
    try:
        routes = p.classless_routes(value)
    except p.MalformedReply:
        return
    for destination, width, router in routes:
        assert len(destination) == 4 and len(router) == 4 and 0 <= width <= 32
