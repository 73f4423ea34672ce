"""DHCPv6 (RFC 8415), stateful: one address (IA_NA) by SOLICIT, ADVERTISE, REQUEST, REPLY.

The client speaks from the interface's link-local address to the
All_DHCP_Relay_Agents_and_Servers group (ff02::1:2, port 547) through a UDP
socket made in the guest and bound to the interface. Its DUID is a DUID-LL
(type 3) from the MAC, so a ``U:<string>`` MAC gets the same address every
time, and its IAID a checksum of the interface name (stable, unlike the index).

A link-local address is unusable while duplicate address detection runs on it
(a second, here); the attach turns DAD off on the new interface first, as it
does for static IPv6 addresses (``nodad``). Routes do not come from DHCPv6 but
from router advertisements: the address is added as a /128.

Decoding is written for hostile input, like packet.py: MalformedReply only.
"""

from __future__ import annotations

import os
import time
import zlib
from _socket import (
    AF_INET6,
    IPPROTO_IPV6,
    SO_REUSEADDR,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOL_SOCKET,
    socket,
)
from _socket import timeout as socket_timeout
from _struct import Struct
from errno import EADDRNOTAVAIL, ENETUNREACH

from .._lowlevel.record import Record
from .client import SO_BINDTODEVICE, DhcpFailed
from .packet import MalformedReply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY

SOLICIT, ADVERTISE, REQUEST, RENEW, REPLY, RELEASE = 1, 2, 3, 5, 7, 8
OPT_CLIENTID, OPT_SERVERID, OPT_IA_NA, OPT_IAADDR, OPT_ORO = 1, 2, 3, 5, 6
OPT_ELAPSED_TIME, OPT_STATUS_CODE, OPT_DNS_SERVERS, OPT_DOMAIN_LIST = 8, 13, 23, 24
STATUS_SUCCESS = 0
ALL_SERVERS = "ff02::1:2"
CLIENT_PORT, SERVER_PORT = 546, 547
IPV6_MULTICAST_IF = 17
#: a send before IPv6 has started on the interface: no source address, no route
_NOT_READY = (EADDRNOTAVAIL, ENETUNREACH)

_OPT = Struct("!HH")
_IA = Struct("!III")  # IAID, T1, T2
_LIFETIMES = Struct("!II")  # preferred, valid
_U16 = Struct("!H")


class Lease6(Record):
    """One IA_NA address and what came with it."""

    _: KW_ONLY
    address: bytes
    preferred: int
    valid: int
    t1: int
    t2: int
    server_duid: bytes
    dns: tuple[bytes, ...]


def option(code: int, value: bytes) -> bytes:
    return _OPT.pack(code, len(value)) + value


def encode(msg_type: int, xid: int, options: list[bytes]) -> bytes:
    return bytes((msg_type,)) + xid.to_bytes(3, "big") + b"".join(options)


def parse_options(data: bytes) -> list[tuple[int, bytes]]:
    """The options of a message (or of an IA_NA / IAADDR), in order."""
    out = []
    i = 0
    while i < len(data):
        if i + 4 > len(data):
            raise MalformedReply("a DHCPv6 option header runs past the end")
        code, length = _OPT.unpack_from(data, i)
        if i + 4 + length > len(data):
            raise MalformedReply(f"DHCPv6 option {code} claims {length} bytes past the end")
        out.append((code, data[i + 4 : i + 4 + length]))
        i += 4 + length
    return out


def decode(data: bytes) -> tuple[int, int, list[tuple[int, bytes]]]:
    """(message type, transaction id, options); MalformedReply if it is not one."""
    if len(data) < 4:
        raise MalformedReply(f"{len(data)} bytes is too short for a DHCPv6 message")
    return data[0], int.from_bytes(data[1:4], "big"), parse_options(data[4:])


def _status_ok(options: list[tuple[int, bytes]]) -> bool:
    for code, value in options:
        if code == OPT_STATUS_CODE:
            if len(value) < 2:
                raise MalformedReply("a DHCPv6 status code option shorter than 2 bytes")
            return bool(_U16.unpack_from(value)[0] == STATUS_SUCCESS)
    return True


def lease_from(options: list[tuple[int, bytes]], iaid: int) -> Lease6 | None:
    """The lease an ADVERTISE or REPLY offers for our IA_NA, or None (none, or refused)."""
    if not _status_ok(options):
        return None
    server = next((v for c, v in options if c == OPT_SERVERID), None)
    if not server:
        raise MalformedReply("a DHCPv6 reply without a server identifier")
    dns_value = next((v for c, v in options if c == OPT_DNS_SERVERS), b"")
    if len(dns_value) % 16:
        raise MalformedReply("a DNS servers option that is not a list of IPv6 addresses")
    dns = tuple(dns_value[i : i + 16] for i in range(0, len(dns_value), 16))
    for code, value in options:
        if code != OPT_IA_NA:
            continue
        if len(value) < _IA.size:
            raise MalformedReply("an IA_NA option shorter than 12 bytes")
        ia_id, t1, t2 = _IA.unpack_from(value)
        if ia_id != iaid:
            continue
        inner = parse_options(value[_IA.size :])
        if not _status_ok(inner):
            return None
        for inner_code, addr in inner:
            if inner_code != OPT_IAADDR:
                continue
            if len(addr) < 24:
                raise MalformedReply("an IAADDR option shorter than 24 bytes")
            preferred, valid = _LIFETIMES.unpack_from(addr, 16)
            if valid == 0 or preferred > valid or addr[0] == 0xFF or addr[:2] == b"\xfe\x80":
                continue  # expired, inconsistent, multicast or link-local: not an address to use
            if not _status_ok(parse_options(addr[24:])):
                continue
            return Lease6(
                address=addr[:16],
                preferred=preferred,
                valid=valid,
                t1=t1,
                t2=t2,
                server_duid=server,
                dns=dns,
            )
    return None


class Session6:
    """A DHCPv6 client on one interface of the guest."""

    def __init__(self, ifname: str, ifindex: int, mac: bytes) -> None:
        self.ifname = ifname
        self.ifindex = ifindex
        self.duid = b"\x00\x03\x00\x01" + mac  # DUID-LL, hardware type 1 (Ethernet)
        # from the name, not the index (which changes with every new interface), so
        # that the same MAC on the same interface name is the same identity
        self.iaid = zlib.crc32(ifname.encode())
        self._sock: socket | None = None

    def open(self) -> None:
        """Make the socket; call it inside the guest's namespace."""
        sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)
        try:
            sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            sock.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, self.ifname.encode())
            sock.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, self.ifindex)
            sock.bind(("::", CLIENT_PORT, 0, 0))
        except OSError as exc:
            sock.close()
            raise DhcpFailed(
                f"open a DHCPv6 client socket on {self.ifname} (UDP port 546): "
                f"{exc.strerror} (errno {exc.errno})"
            ) from None
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _ia_na(self, lease: Lease6 | None = None) -> bytes:
        inner = b""
        if lease is not None:
            inner = option(OPT_IAADDR, lease.address + _LIFETIMES.pack(0, 0))
        return option(OPT_IA_NA, _IA.pack(self.iaid, 0, 0) + inner)

    def _exchange(self, msg_type: int, extra: list[bytes], want: int, deadline: float) -> Lease6:
        assert self._sock is not None
        xid = int.from_bytes(os.urandom(3), "big")
        started = time.monotonic()
        wait = 1.0  # RFC 8415 SOL_TIMEOUT is 1 s, doubling up to SOL_MAX_RT
        while True:
            now = time.monotonic()
            if now >= deadline:
                what = "advertisement" if want == ADVERTISE else "reply"
                raise DhcpFailed(
                    f"no DHCPv6 {what} on {self.ifname} within {now - started:.0f} s",
                    hint="is a DHCPv6 server on this network?",
                )
            elapsed = min(int((now - started) * 100), 0xFFFF)
            message = encode(
                msg_type,
                xid,
                [
                    option(OPT_CLIENTID, self.duid),
                    option(OPT_ELAPSED_TIME, _U16.pack(elapsed)),
                    option(OPT_ORO, _U16.pack(OPT_DNS_SERVERS) + _U16.pack(OPT_DOMAIN_LIST)),
                    *extra,
                ],
            )
            try:
                self._sock.sendto(message, (ALL_SERVERS, SERVER_PORT, 0, self.ifindex))
            except OSError as exc:
                if exc.errno in _NOT_READY and time.monotonic() + 0.01 < deadline:
                    # IPv6 starts on the interface (its link-local address, its
                    # multicast route) when the kernel's linkwatch sees the carrier,
                    # a moment after the link comes up
                    time.sleep(0.01)
                    continue
                raise DhcpFailed(
                    f"send a DHCPv6 message on {self.ifname}: {exc.strerror} (errno {exc.errno})",
                    hint="the interface needs a usable link-local address",
                ) from None
            until = min(deadline, now + wait + int.from_bytes(os.urandom(1), "big") / 512)
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._sock.settimeout(left)
                try:
                    data = self._sock.recv(4096)
                except socket_timeout:
                    break
                try:
                    kind, got_xid, options = decode(data)
                    if kind != want or got_xid != xid:
                        continue
                    client = next((v for c, v in options if c == OPT_CLIENTID), None)
                    if client != self.duid:
                        continue
                    lease = lease_from(options, self.iaid)
                except MalformedReply:
                    continue
                if lease is not None:
                    return lease
            wait = min(wait * 2, 16.0)

    def obtain(self, timeout: float) -> Lease6:
        deadline = time.monotonic() + timeout
        offer = self._exchange(SOLICIT, [self._ia_na()], ADVERTISE, deadline)
        server = option(OPT_SERVERID, offer.server_duid)
        return self._exchange(REQUEST, [server, self._ia_na(offer)], REPLY, deadline)
