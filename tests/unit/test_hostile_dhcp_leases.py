"""Hostile lease times, routers and refusals: what a DHCP server says may not make
the renewal process spin, route through the broadcast address, or hide a refusal
behind "is a DHCP server on this network?".
"""

from __future__ import annotations

import pytest

from pipework.dhcp import client
from pipework.dhcp import packet as p
from pipework.dhcp.client import MIN_LEASE, MIN_RENEWAL, make_lease, nak_refusal, printable

from .test_dhcp_packet import reply

SERVER = bytes((198, 51, 100, 1))


def ack(*options: bytes, yiaddr: bytes = bytes((198, 51, 100, 60))) -> p.Message:
    body = bytes((p.MESSAGE_TYPE, 1, p.ACK, p.SUBNET_MASK, 4, 255, 255, 255, 0))
    return p.decode(reply(options=body + b"".join(options) + b"\xff", yiaddr=yiaddr))


def seconds(code: int, value: int) -> bytes:
    return bytes((code, 4)) + p.u32(value)


@pytest.mark.parametrize("lease_time", [0, 1, 2, MIN_LEASE - 1])
def test_a_short_lease_is_held_for_the_floor(lease_time: int) -> None:
    lease = make_lease(ack(seconds(p.LEASE_TIME, lease_time)), SERVER)
    assert lease.lease_time == lease_time  # what the server said, for the log
    assert lease.expires - lease.obtained == MIN_LEASE
    assert lease.renew_at - lease.obtained == MIN_LEASE // 2
    assert lease.rebind_at - lease.obtained == MIN_LEASE * 7 // 8


@pytest.mark.parametrize(("t1", "t2"), [(0, 0), (1, 1), (0, 2), (4, 3)])
def test_no_renewal_comes_sooner_than_the_floor(t1: int, t2: int) -> None:
    lease = make_lease(
        ack(seconds(p.LEASE_TIME, 0), seconds(p.RENEWAL_T1, t1), seconds(p.REBINDING_T2, t2)),
        SERVER,
    )
    assert lease.renew_at - lease.obtained >= MIN_RENEWAL
    assert lease.renew_at <= lease.rebind_at <= lease.expires


def test_a_long_lease_keeps_the_servers_times() -> None:
    lease = make_lease(
        ack(seconds(p.LEASE_TIME, 3600), seconds(p.RENEWAL_T1, 600), seconds(p.REBINDING_T2, 900)),
        SERVER,
    )
    assert (lease.renew_at - lease.obtained, lease.rebind_at - lease.obtained) == (600, 900)
    assert lease.expires - lease.obtained == 3600


def test_an_infinite_lease_stays_infinite() -> None:
    lease = make_lease(ack(seconds(p.LEASE_TIME, 0xFFFFFFFF)), SERVER)
    assert lease.infinite and lease.expires == float("inf")


@pytest.mark.parametrize(
    ("yiaddr", "reason"),
    [
        (bytes((198, 51, 100, 255)), "the broadcast address of 198.51.100.0/24"),
        (bytes((198, 51, 100, 0)), "the network address of 198.51.100.0/24"),
    ],
)
def test_an_address_no_host_may_carry_is_no_lease(yiaddr: bytes, reason: str) -> None:
    with pytest.raises(p.MalformedReply, match=reason):
        make_lease(ack(seconds(p.LEASE_TIME, 3600), yiaddr=yiaddr), SERVER)


@pytest.mark.parametrize(
    ("router", "problem"),
    [
        ((198, 51, 100, 255), "is the broadcast address of 198.51.100.60/24"),
        ((198, 51, 100, 0), "is the network address of 198.51.100.60/24"),
        ((198, 51, 100, 60), "is the interface's own address"),
        ((0, 0, 0, 0), "not a unicast address"),
        ((127, 0, 0, 1), "not a unicast address"),
        ((224, 0, 0, 1), "not a unicast address"),
        ((255, 255, 255, 255), "the broadcast address"),
        ((240, 0, 0, 1), "reserved 240.0.0.0/4"),
        ((198, 51, 100, 1), None),
        ((203, 0, 113, 1), None),  # off the subnet: reachable through an on-link route
    ],
)
def test_a_router_is_checked_as_a_static_gateway(
    router: tuple[int, ...], problem: str | None
) -> None:
    lease = make_lease(ack(seconds(p.LEASE_TIME, 3600)), SERVER)
    found = lease.router_problem(bytes(router))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_nak_says_who_refused_and_what_it_said_escaped() -> None:
    said = b"no\n\x1b[2Jlease"
    nak = p.decode(
        reply(
            options=bytes((p.MESSAGE_TYPE, 1, p.NAK, p.SERVER_ID, 4, *SERVER))
            + bytes((p.MESSAGE, len(said)))
            + said
            + b"\xff",
            yiaddr=bytes(4),
        )
    )
    refusal = nak_refusal(nak, None, "eth1")
    assert isinstance(refusal, client.DhcpRefused) and refusal.exit_code == 1
    assert refusal.message == (
        "the DHCP server at 198.51.100.1 refused the request (DHCPNAK: no\\n\\x1b[2Jlease)"
    )


def test_a_nak_without_a_message() -> None:
    nak = p.decode(reply(options=bytes((p.MESSAGE_TYPE, 1, p.NAK, p.END)), yiaddr=bytes(4)))
    assert nak_refusal(nak, SERVER, "eth1").message == (
        "the DHCP server at 198.51.100.1 refused the request (DHCPNAK)"
    )


def test_printable_escapes_every_control_byte_and_is_bounded() -> None:
    text = printable(bytes(range(256)) * 4)
    assert text.isascii() and text.isprintable() and len(text) <= 120
    assert printable(b"plain text") == "plain text"
    assert printable(b"a\\b") == "a\\\\b"  # a backslash cannot forge an escape


# --- the renewal process's schedule -----------------------------------------------------


def test_the_backoff_doubles_with_jitter_and_is_bounded() -> None:
    from pipework.dhcp.keeper import _BACKOFF_FIRST, _BACKOFF_MAX, backoff

    assert backoff(1, 0.5) == _BACKOFF_FIRST
    assert backoff(2, 0.5) == 2 * _BACKOFF_FIRST
    assert backoff(1000, 0.5) == _BACKOFF_MAX
    for failures in range(1, 40):
        low, high = backoff(failures, 0.0), backoff(failures, 0.99999)
        assert _BACKOFF_FIRST * 0.75 <= low < high <= _BACKOFF_MAX * 1.25


def test_an_unanswered_renewal_waits_half_the_time_left_at_least_a_minute() -> None:
    from pipework.dhcp.keeper import retry_after_silence

    assert retry_after_silence(1000.0, 1000.0 + 3600) == 1000.0 + 1800
    assert retry_after_silence(1000.0, 1000.0 + 100) == 1000.0 + 60
    assert retry_after_silence(1000.0, 1000.0 + 30) == 1000.0 + 30  # T2 comes first
    assert retry_after_silence(1000.0, 900.0) == 900.0  # past due: at once


def test_the_log_keeps_its_tail(tmp_path, monkeypatch) -> None:
    from pipework.dhcp import keeper, state

    monkeypatch.setattr(state, "STATE_DIR", str(tmp_path))
    lease = make_lease(ack(seconds(p.LEASE_TIME, 0)), SERVER)
    k = keeper._Keeper("pwt-key", {"lease": state.lease_to_json(lease)})
    try:
        for i in range(5000):
            k.log(f"line {i} " + "x" * 60)
    finally:
        k.log_file.close()
    text = (tmp_path / "pwt-key.log").read_text()
    assert len(text.encode()) <= keeper._LOG_MAX
    assert text.startswith("(earlier lines dropped)\n")
    assert text.rstrip("\n").endswith("line 4999 " + "x" * 60)
    lines = text.splitlines()[1:]
    assert lines and all(" line " in line and line.endswith("x" * 60) for line in lines)
