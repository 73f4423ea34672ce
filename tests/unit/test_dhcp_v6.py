"""DHCPv6 messages: what the client sends, byte for byte, and hostile replies."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.dhcp import v6
from pipework.dhcp.packet import MalformedReply

MAC = bytes.fromhex("020000000001")
ADDR = bytes.fromhex("20010db8000100000000000000000150")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_solicit_golden_bytes() -> None:
    session = v6.Session6("eth1", 2, MAC)
    message = v6.encode(
        v6.SOLICIT,
        0xABCDEF,
        [v6.option(v6.OPT_CLIENTID, session.duid), session._ia_na()],
    )
    assert message == h(
        "01 abcdef"  # SOLICIT, transaction id
        "0001 000a 0003 0001 020000000001"  # client id: DUID-LL, Ethernet, the MAC
        "0003 000c"  # IA_NA, 12 bytes
    ) + struct.pack("!I", session.iaid) + bytes(8)  # IAID, T1 = T2 = 0: the server decides


def test_iaid_is_stable_for_a_name_and_differs_between_names() -> None:
    assert v6.Session6("eth1", 2, MAC).iaid == v6.Session6("eth1", 9, MAC).iaid
    assert v6.Session6("eth1", 2, MAC).iaid != v6.Session6("eth2", 2, MAC).iaid


def reply(ia_options: bytes, *, iaid: int = 7, status: int | None = None) -> bytes:
    options = v6.option(v6.OPT_SERVERID, h("00010001aabbccdd"))
    options += v6.option(v6.OPT_CLIENTID, b"\x00\x03\x00\x01" + MAC)
    options += v6.option(v6.OPT_IA_NA, struct.pack("!III", iaid, 60, 105) + ia_options)
    options += v6.option(v6.OPT_DNS_SERVERS, ADDR)
    if status is not None:
        options += v6.option(v6.OPT_STATUS_CODE, struct.pack("!H", status) + b"no")
    return bytes((v6.REPLY,)) + b"\x00\x00\x01" + options


def test_a_reply_gives_the_address_and_its_lifetimes() -> None:
    kind, xid, options = v6.decode(
        reply(v6.option(v6.OPT_IAADDR, ADDR + struct.pack("!II", 90, 120)))
    )
    assert (kind, xid) == (v6.REPLY, 1)
    lease = v6.lease_from(options, 7)
    assert lease is not None
    assert (lease.address, lease.preferred, lease.valid, lease.t1, lease.t2) == (
        ADDR,
        90,
        120,
        60,
        105,
    )
    assert lease.dns == (ADDR,)


def test_no_lease_for_another_iaid_a_refusal_or_an_expired_address() -> None:
    iaaddr = v6.option(v6.OPT_IAADDR, ADDR + struct.pack("!II", 90, 120))
    assert v6.lease_from(v6.decode(reply(iaaddr, iaid=8))[2], 7) is None
    assert v6.lease_from(v6.decode(reply(iaaddr, status=2))[2], 7) is None  # NoAddrsAvail
    expired = v6.option(v6.OPT_IAADDR, ADDR + struct.pack("!II", 0, 0))
    assert v6.lease_from(v6.decode(reply(expired))[2], 7) is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_replies_fail_only_as_malformed(data: bytes) -> None:
    try:
        _kind, _xid, options = v6.decode(data)
        v6.lease_from(options, 7)
    except MalformedReply:
        pass


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80), st.integers(0, 200))
def test_hostile_ia_na_contents_fail_only_as_malformed(inner: bytes, cut: int) -> None:
    data = reply(inner)
    for candidate in (data, data[:cut]):
        try:
            v6.lease_from(v6.decode(candidate)[2], 7)
        except MalformedReply:
            pass
