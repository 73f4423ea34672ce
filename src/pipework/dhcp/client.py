"""The built-in DHCPv4 client: obtain, renew, rebind and release a lease.

It talks UDP on ports 68/67 through a socket made inside the guest's network
namespace and bound to the guest interface (SO_BINDTODEVICE): before the
interface has an address, the kernel sends from 0.0.0.0 to the broadcast
address, and the server answers to the broadcast address too, as the client
asks with the broadcast flag. No raw socket, no external program.

Retransmissions follow RFC 2131 4.1, started faster (1 s, then doubling, up to
16 s, each with up to half a second of random jitter) because a guest being
plumbed waits on it; an overall timeout bounds the whole exchange.
"""

from __future__ import annotations

import os
import time
from _socket import (
    AF_INET,
    SO_BROADCAST,
    SO_REUSEADDR,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOL_SOCKET,
    socket,
)
from _socket import timeout as socket_timeout

from .._lowlevel.record import Record
from ..errors import PipeworkError
from . import packet as p

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from dataclasses import KW_ONLY

    _Builder = Callable[[int, int], bytes]
    _Acceptor = Callable[[p.Message], "p.Message | None"]

SO_BINDTODEVICE = 25
_RETRANSMIT_FIRST, _RETRANSMIT_MAX = 1.0, 16.0


class DhcpFailed(PipeworkError):
    """No lease: no server answered in time, or every server refused."""


class Lease(Record):
    """What the server gave, with the times (seconds since the epoch) it runs out."""

    _: KW_ONLY
    address: bytes
    prefixlen: int
    routers: tuple[bytes, ...]
    #: option 121: (destination, prefix length, router); when present, routers are ignored
    routes: tuple[tuple[bytes, int, bytes], ...]
    dns: tuple[bytes, ...]
    domain: str | None
    hostname: str | None
    mtu: int | None
    server: bytes
    lease_time: int  # 0xFFFFFFFF: infinite
    obtained: float
    renew_at: float
    rebind_at: float
    expires: float

    @property
    def infinite(self) -> bool:
        return self.lease_time == 0xFFFFFFFF


class Session:
    """One client: the interface, its MAC, and what it sends about itself."""

    def __init__(
        self,
        ifname: str,
        mac: bytes,
        *,
        hostname: str | None = None,
        vendor_class: str | None = None,
        client_id: bytes | None = None,
    ) -> None:
        self.ifname = ifname
        self.mac = mac
        self.hostname = hostname
        self.vendor_class = vendor_class
        # RFC 2132 9.14: type 1 (Ethernet) and the MAC, as udhcpc and dhclient send it
        self.client_id = client_id if client_id is not None else b"\x01" + mac
        self._sock: socket | None = None

    # -- the socket ----------------------------------------------------------------

    def open(self) -> None:
        """Make the socket; call it inside the guest's namespace."""
        sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)
        try:
            sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            sock.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
            sock.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, self.ifname.encode())
            # every address, but only on this device (SO_BINDTODEVICE above): before
            # the lease the interface has none, and replies go to 255.255.255.255
            sock.bind(("0.0.0.0", p.CLIENT_PORT))  # noqa: S104
        except OSError as exc:
            sock.close()
            raise DhcpFailed(
                f"open a DHCP client socket on {self.ifname} (UDP port 68): "
                f"{exc.strerror} (errno {exc.errno})",
                hint="is another DHCP client running on this interface?",
            ) from None
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- messages --------------------------------------------------------------------

    def _options(self, extra: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        options = [(p.CLIENT_ID, self.client_id)]
        options += extra
        if self.hostname:
            options.append((p.HOSTNAME, self.hostname.encode("ascii", "replace")))
        if self.vendor_class:
            options.append((p.VENDOR_CLASS, self.vendor_class.encode("ascii", "replace")))
        options.append((p.MAX_MESSAGE_SIZE, p.u16(1500)))
        options.append((p.PARAMETER_REQUEST, p.REQUESTED_OPTIONS))
        return options

    def _send(self, data: bytes, to: bytes | None) -> None:
        assert self._sock is not None, "open() first"
        address = ".".join(map(str, to)) if to else "255.255.255.255"
        try:
            self._sock.sendto(data, (address, p.SERVER_PORT))
        except OSError as exc:
            raise DhcpFailed(
                f"send a DHCP message on {self.ifname} to {address}: "
                f"{exc.strerror} (errno {exc.errno})"
            ) from None

    def _receive(self, xid: int, deadline: float) -> p.Message | None:
        """The next reply to ``xid`` for our MAC before ``deadline``, or None.
        Anything else that arrives (other clients' replies, garbage) is skipped."""
        assert self._sock is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(4096)
            except socket_timeout:
                return None
            except OSError as exc:
                raise DhcpFailed(
                    f"receive on {self.ifname}: {exc.strerror} (errno {exc.errno})"
                ) from None
            try:
                reply = p.decode(data)
            except p.MalformedReply:
                continue  # not for us to trust, not for us to die of
            if reply.op == p.BOOTREPLY and reply.xid == xid and reply.chaddr == self.mac:
                return reply

    def _exchange(
        self,
        build: _Builder,
        accept: _Acceptor,
        *,
        to: bytes | None,
        deadline: float,
        what: str,
    ) -> p.Message:
        """Send, retransmit with back-off until ``accept`` takes a reply or time is up."""
        xid = int.from_bytes(os.urandom(4), "big")
        started = time.monotonic()
        wait = _RETRANSMIT_FIRST
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise DhcpFailed(
                    f"no DHCP {what} on {self.ifname} within {now - started:.0f} s",
                    hint="is a DHCP server on this network? (a longer --dhcp-timeout may help)",
                )
            self._send(build(xid, int(now - started)), to)
            jitter = int.from_bytes(os.urandom(1), "big") / 512  # 0 to 0.5 s
            until = min(deadline, now + wait + jitter)
            while True:
                reply = self._receive(xid, until)
                if reply is None:
                    break
                verdict = accept(reply)
                if verdict is not None:
                    return verdict
            wait = min(wait * 2, _RETRANSMIT_MAX)

    # -- the protocol --------------------------------------------------------------

    def obtain(self, timeout: float, requested: bytes | None = None) -> Lease:
        """DISCOVER, OFFER, REQUEST, ACK; a NAK starts over (within the timeout)."""
        deadline = time.monotonic() + timeout
        for _attempt in range(8):
            offer = self._discover(deadline, requested)
            server = offer.address_option(p.SERVER_ID)
            assert server is not None
            ack = self._request_offer(offer.yiaddr, server, deadline)
            if ack is not None:
                return make_lease(ack, server)
            requested = None  # NAK: whatever the server has, not what we asked
        raise DhcpFailed(f"every DHCP server refused {self.ifname} a lease (DHCPNAK)")

    def _discover(self, deadline: float, requested: bytes | None) -> p.Message:
        extra = [(p.REQUESTED_ADDRESS, requested)] if requested else []

        def build(xid: int, secs: int) -> bytes:
            return p.encode(p.DISCOVER, xid, self.mac, secs=secs, options=self._options(extra))

        def accept(reply: p.Message) -> p.Message | None:
            if reply.message_type != p.OFFER or reply.yiaddr == b"\0\0\0\0":
                return None
            try:
                if reply.address_option(p.SERVER_ID) is None:
                    return None
            except p.MalformedReply:
                return None
            return reply

        return self._exchange(build, accept, to=None, deadline=deadline, what="offer")

    def _request_offer(self, address: bytes, server: bytes, deadline: float) -> p.Message | None:
        """REQUEST the offered address (SELECTING); the ACK, or None on a NAK."""
        extra = [(p.REQUESTED_ADDRESS, address), (p.SERVER_ID, server)]

        def build(xid: int, secs: int) -> bytes:
            return p.encode(p.REQUEST, xid, self.mac, secs=secs, options=self._options(extra))

        reply = self._exchange(
            build, _ack_or_nak(server, address), to=None, deadline=deadline, what="acknowledgement"
        )
        return reply if reply.message_type == p.ACK else None

    def renew(self, lease: Lease, timeout: float, *, rebind: bool = False) -> Lease | None:
        """RENEWING (unicast to the server) or REBINDING (broadcast to any server):
        the extended lease, None on a NAK; DhcpFailed when nobody answered."""
        deadline = time.monotonic() + timeout

        def build(xid: int, secs: int) -> bytes:
            return p.encode(
                p.REQUEST,
                xid,
                self.mac,
                ciaddr=lease.address,
                broadcast=False,
                secs=secs,
                options=self._options([]),
            )

        server = None if rebind else lease.server
        reply = self._exchange(
            build,
            _ack_or_nak(server, lease.address),
            to=server,
            deadline=deadline,
            what="renewal" if not rebind else "rebinding",
        )
        if reply.message_type != p.ACK:
            return None
        return make_lease(reply, reply.address_option(p.SERVER_ID) or lease.server)

    def release(self, lease: Lease) -> None:
        """DHCPRELEASE: no answer comes, so one message, best effort."""
        xid = int.from_bytes(os.urandom(4), "big")
        message = p.encode(
            p.RELEASE,
            xid,
            self.mac,
            ciaddr=lease.address,
            broadcast=False,
            options=[(p.SERVER_ID, lease.server), (p.CLIENT_ID, self.client_id)],
        )
        self._send(message, lease.server)


def _ack_or_nak(server: bytes | None, address: bytes) -> _Acceptor:
    def accept(reply: p.Message) -> p.Message | None:
        kind = reply.message_type
        if kind not in (p.ACK, p.NAK):
            return None
        try:
            sender = reply.address_option(p.SERVER_ID)
        except p.MalformedReply:
            return None
        if server is not None and sender is not None and sender != server:
            return None  # another server's answer to a broadcast REQUEST
        if kind == p.ACK and reply.yiaddr != address:
            return None
        if kind == p.ACK:
            try:
                make_lease(reply, sender or server or b"\0\0\0\0")
            except p.MalformedReply:
                return None  # an ACK we cannot use is no ACK
        return reply

    return accept


def make_lease(ack: p.Message, server: bytes) -> Lease:
    """The lease an ACK grants; MalformedReply when it lacks what a lease needs."""
    now = time.time()
    lease_time = ack.seconds(p.LEASE_TIME)
    if lease_time is None:
        raise p.MalformedReply("the DHCPACK has no lease time")
    mask = ack.address_option(p.SUBNET_MASK)
    prefixlen = p.prefix_length(mask) if mask is not None else _classful(ack.yiaddr)
    if not 0 < prefixlen <= 32:
        raise p.MalformedReply(f"a /{prefixlen} subnet for a lease")
    if ack.yiaddr[0] in (0, 127) or ack.yiaddr[0] >= 224:
        raise p.MalformedReply(f"{'.'.join(map(str, ack.yiaddr))} cannot be a lease")
    infinite = lease_time == 0xFFFFFFFF
    t1 = ack.seconds(p.RENEWAL_T1)
    t2 = ack.seconds(p.REBINDING_T2)
    # RFC 2131 4.4.5: T1 defaults to half the lease, T2 to 7/8; keep T1 <= T2 <= lease
    if t1 is None or t1 > lease_time:
        t1 = lease_time // 2
    if t2 is None or t2 > lease_time or t2 < t1:
        t2 = lease_time * 7 // 8
    routes_value = ack.options.get(p.CLASSLESS_ROUTES)
    mtu_value = ack.options.get(p.MTU)
    return Lease(
        address=ack.yiaddr,
        prefixlen=prefixlen,
        routers=tuple(ack.address_list(p.ROUTER)),
        routes=tuple(p.classless_routes(routes_value)) if routes_value else (),
        dns=tuple(ack.address_list(p.DNS_SERVERS)),
        domain=ack.text(p.DOMAIN_NAME),
        hostname=ack.text(p.HOSTNAME),
        mtu=int.from_bytes(mtu_value, "big") if mtu_value and len(mtu_value) == 2 else None,
        server=server,
        lease_time=lease_time,
        obtained=now,
        renew_at=float("inf") if infinite else now + t1,
        rebind_at=float("inf") if infinite else now + t2,
        expires=float("inf") if infinite else now + lease_time,
    )


def _classful(address: bytes) -> int:
    """The prefix of an address's class, for a server that sends no subnet mask."""
    first = address[0]
    return 8 if first < 128 else 16 if first < 192 else 24
