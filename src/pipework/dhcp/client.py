"""The built-in DHCPv4 client: obtain, renew, rebind and release a lease.

It talks UDP on ports 68/67 through a socket made inside the guest's network
namespace and bound to the guest interface (SO_BINDTODEVICE): before the
interface has an address, the kernel sends from 0.0.0.0 to the broadcast
address, and the server answers to the broadcast address too, as the client
asks with the broadcast flag. No raw socket, no external program.

Retransmissions follow RFC 2131 4.1, started faster (1 s, then doubling, up to
16 s, each with up to half a second of random jitter) because a guest being
plumbed waits on it; an overall timeout bounds the whole exchange.

Whatever answers on the guest's network is trusted for nothing it could abuse.
A DHCPNAK is reported as the refusal it is, with the server's message escaped;
an ACK that cannot be used (no lease time, an address no host may carry, a
broken mask) is reported with its reason after the retransmission window in
which a usable ACK could still have come. A lease shorter than ``MIN_LEASE`` is
held as ``MIN_LEASE``, and no renewal is due sooner than ``MIN_RENEWAL``: RFC 2131
sets no minimum, and a zero-second lease would otherwise ask for a renewal at
once, forever (ISC dhclient floors leases at 60 s too, dhcpcd at 20 s).
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
    #: a reply taken, None for one to skip, or why a reply for us cannot be used
    _Acceptor = Callable[[p.Message], "p.Message | str | None"]

SO_BINDTODEVICE = 25
_RETRANSMIT_FIRST, _RETRANSMIT_MAX = 1.0, 16.0
#: seconds: the shortest lease held, as ISC dhclient holds it (the server's figure
#: stays in ``Lease.lease_time``), and the soonest a renewal (T1) or rebinding
#: (T2) may come; the server's T1 below it is raised to it
MIN_LEASE, MIN_RENEWAL = 60, 5
#: how often ``obtain`` starts over after a DHCPNAK (waiting 1 s, then 2 s...)
_NAK_ATTEMPTS = 3


class DhcpFailed(PipeworkError):
    """No lease: no server answered in time, or every server refused."""


class DhcpRefused(DhcpFailed):
    """The server answered no: a DHCPNAK, or an ACK this client cannot use."""


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
    lease_time: int  # as the server said it (0xFFFFFFFF: infinite); the times below are floored
    obtained: float
    renew_at: float
    rebind_at: float
    expires: float

    @property
    def infinite(self) -> bool:
        return self.lease_time == 0xFFFFFFFF

    def router_problem(self, router: bytes) -> str | None:
        """Why ``router`` cannot be this lease's gateway, or None when it can: the
        static path's rule (``check_gateway``: not the subnet's broadcast or network
        address, not the leased address itself, a unicast address), and not in the
        reserved 240.0.0.0/4, which no kernel route accepts."""
        from ..errors import UsageError
        from ..inet import IPAddress, IPInterface, check_gateway

        gateway = IPAddress(4, router)
        try:
            check_gateway(gateway, (IPInterface(IPAddress(4, self.address), self.prefixlen),))
        except UsageError as exc:
            return exc.message
        if router[0] >= 240:
            return f"gateway {gateway} is in the reserved 240.0.0.0/4"
        return None


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
        """Send, retransmit with back-off until ``accept`` takes a reply or time is up.

        A reply ``accept`` rejects (with a reason) ends the exchange with
        DhcpRefused once the retransmission window it came in is over: a forged or
        stray reply does not win over a good one arriving just after it, and a
        server that only sends unusable ones is not waited on for the whole timeout.
        """
        xid = int.from_bytes(os.urandom(4), "big")
        started = time.monotonic()
        wait = _RETRANSMIT_FIRST
        rejected: str | None = None
        while True:
            now = time.monotonic()
            if rejected is not None:
                raise DhcpRefused(
                    f"the DHCP server's ACK was rejected: {rejected}",
                    hint=f"it answered on {self.ifname} with a lease pipework cannot use: "
                    "check the server's configuration",
                )
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
                if isinstance(verdict, str):
                    rejected = verdict
                elif verdict is not None:
                    return verdict
            wait = min(wait * 2, _RETRANSMIT_MAX)

    # -- the protocol --------------------------------------------------------------

    def obtain(
        self, timeout: float, requested: bytes | None = None, *, attempts: int = _NAK_ATTEMPTS
    ) -> Lease:
        """DISCOVER, OFFER, REQUEST, ACK. A NAK starts over after a pause (1 s, then
        2 s...), ``attempts`` times in all within the timeout; then DhcpRefused says
        which server refused and what it said."""
        deadline = time.monotonic() + timeout
        refusal: DhcpRefused | None = None
        for attempt in range(attempts):
            if attempt:
                pause = min(float(1 << (attempt - 1)), deadline - time.monotonic())
                if pause <= 0:
                    break
                time.sleep(pause)
            try:
                offer = self._discover(deadline, requested)
            except DhcpFailed:
                if refusal is not None:
                    raise refusal from None  # the last word a server said
                raise
            server = offer.address_option(p.SERVER_ID)
            assert server is not None
            reply = self._request_offer(offer.yiaddr, server, deadline)
            if reply.message_type == p.ACK:
                return make_lease(reply, server)
            refusal = nak_refusal(reply, server, self.ifname)
            requested = None  # NAK: whatever the server has, not what we asked
        assert refusal is not None
        raise refusal

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

    def _request_offer(self, address: bytes, server: bytes, deadline: float) -> p.Message:
        """REQUEST the offered address (SELECTING); the ACK or the NAK."""
        extra = [(p.REQUESTED_ADDRESS, address), (p.SERVER_ID, server)]

        def build(xid: int, secs: int) -> bytes:
            return p.encode(p.REQUEST, xid, self.mac, secs=secs, options=self._options(extra))

        return self._exchange(
            build, _ack_or_nak(server, address), to=None, deadline=deadline, what="acknowledgement"
        )

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
    def accept(reply: p.Message) -> p.Message | str | None:
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
            except p.MalformedReply as exc:
                return exc.message  # an ACK we cannot use is no ACK, and says why
        return reply

    return accept


def nak_refusal(nak: p.Message, server: bytes | None, ifname: str) -> DhcpRefused:
    """What a DHCPNAK says: who refused, and its message (option 56), escaped."""
    try:
        sender = nak.address_option(p.SERVER_ID) or server
    except p.MalformedReply:
        sender = server
    who = f" at {'.'.join(map(str, sender))}" if sender else ""
    message = nak.options.get(p.MESSAGE)
    said = f": {printable(message)}" if message else ""
    return DhcpRefused(
        f"the DHCP server{who} refused the request (DHCPNAK{said})",
        hint=f"it will not lease an address to {ifname}'s MAC: check the server's configuration",
    )


def printable(value: bytes, limit: int = 120) -> str:
    """A server's free text made safe for a terminal and a log line: ASCII with every
    other byte escaped (\\n, \\x1b), cut at ``limit`` characters."""
    text = value.decode("latin-1").encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    _check_address(ack.yiaddr, prefixlen)
    infinite = lease_time == 0xFFFFFFFF
    held = max(lease_time, MIN_LEASE)
    t1 = ack.seconds(p.RENEWAL_T1)
    t2 = ack.seconds(p.REBINDING_T2)
    # RFC 2131 4.4.5: T1 defaults to half the lease, T2 to 7/8; keep T1 <= T2 <= lease,
    # and neither sooner than MIN_RENEWAL (a T1 of 0 would renew at once, forever)
    if t1 is None or t1 > held:
        t1 = held // 2
    t1 = max(t1, MIN_RENEWAL)
    if t2 is None or t2 > held or t2 < t1:
        t2 = held * 7 // 8
    t2 = max(t2, t1)
    routes_value = ack.options.get(p.CLASSLESS_ROUTES)
    mtu_value = ack.options.get(p.MTU)
    return Lease(
        address=ack.yiaddr,
        prefixlen=prefixlen,
        routers=tuple(ack.address_list(p.ROUTER)),
        routes=tuple(p.classless_routes(routes_value)) if routes_value else (),
        dns=tuple(ack.address_list(p.DNS_SERVERS)),
        domain=ack.name(p.DOMAIN_NAME, several=True),
        hostname=ack.name(p.HOSTNAME),
        mtu=int.from_bytes(mtu_value, "big") if mtu_value and len(mtu_value) == 2 else None,
        server=server,
        lease_time=lease_time,
        obtained=now,
        renew_at=float("inf") if infinite else now + t1,
        rebind_at=float("inf") if infinite else now + t2,
        expires=float("inf") if infinite else now + held,
    )


def _check_address(address: bytes, prefixlen: int) -> None:
    """The static path's rule for an interface address (not the subnet's network or
    broadcast address...); MalformedReply with its reason."""
    from ..errors import UsageError
    from ..inet import IPAddress, IPInterface, check_interface

    try:
        check_interface(IPInterface(IPAddress(4, address), prefixlen), "leased address")
    except UsageError as exc:
        raise p.MalformedReply(exc.message) from None


def _classful(address: bytes) -> int:
    """The prefix of an address's class, for a server that sends no subnet mask."""
    first = address[0]
    return 8 if first < 128 else 16 if first < 192 else 24
