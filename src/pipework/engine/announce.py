"""Tell the neighbours about the new addresses: gratuitous ARP (IPv4), unsolicited NA (IPv6).

The original ran ``arping -c 1 -A`` and so waited a second for a reply that never
comes. pipework sends the announcements without waiting, and without a packet
socket: closing an AF_PACKET socket waits for a kernel RCU grace period (about
15 ms here, as long as the rest of the attach). Instead:

* IPv4: the guest interface's ``arp_notify`` sysctl is turned on when it is
  brought up (``plan.py``), and here the interface's MAC is set to itself.
  The kernel answers that address change with a gratuitous ARP request for every
  IPv4 address of the interface (RFC 5227's announcement), and in the same netlink
  request ``arp_notify`` goes back to what it was.
* IPv6: an unsolicited neighbour advertisement (Override set, with our link-layer
  address) to all nodes, from a raw ICMPv6 socket inside the guest; the kernel
  fills in the checksum.

Many attaches in one process (``attach_many``) announce differently: one packet
socket on the host sends every gratuitous ARP into the bridges, so the grace
period of its close is paid once per batch instead of a MAC change per guest.

An announcement that cannot be sent is a warning, not a failure: the address
works, neighbours just learn it on first contact.
"""

from __future__ import annotations

import time
from _struct import pack
from errno import ENETUNREACH

from ..errors import NetlinkError
from ..netlink import messages as m

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Callable

    from ..inet import IPInterface
    from .context import AttachContext

ALL_NODES = "ff02::1"
RTMGRP_LINK = 1
IPV6_READY_S = 1.0
ETH_P_ARP = 0x0806
IPV6_MULTICAST_HOPS = 18


def neighbour_advertisement(mac: bytes, target: bytes) -> bytes:
    """ICMPv6 type 136, Override set, target address, option 2 (target link-layer address).

    The checksum is left zero: on a raw ICMPv6 socket the kernel computes it.
    """
    return pack("!BBHI", 136, 0, 0, 0x20000000) + target + pack("!BB", 2, 1) + mac


def arp_announcement(mac: bytes, ip: bytes) -> bytes:
    """An Ethernet frame: ARP request for our own address (RFC 5227 announcement)."""
    eth = b"\xff" * 6 + mac + pack("!H", ETH_P_ARP)
    return eth + pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + b"\0" * 6 + ip


class HostAnnouncer:
    """Gratuitous ARPs for many guests, sent into their bridges from one host socket."""

    __slots__ = ("_sock",)

    def __init__(self) -> None:
        self._sock: socket | None = None

    def send(self, bridge: str, mac: bytes, addresses: tuple[IPInterface, ...]) -> list[str]:
        warnings = []
        for iface in addresses:
            if iface.family != 4:
                continue
            try:
                if self._sock is None:
                    from _socket import AF_PACKET, SOCK_CLOEXEC, SOCK_RAW
                    from _socket import socket as make_socket

                    self._sock = make_socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)
                self._sock.sendto(arp_announcement(mac, iface.address.packed), (bridge, ETH_P_ARP))
            except OSError as exc:
                warnings.append(f"could not announce {iface.address} on {bridge}: {exc.strerror}")
        return warnings

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()  # waits for an RCU grace period: once per batch
            self._sock = None


def announce(ctx: AttachContext, mac: bytes) -> list[str]:
    """Announce every static address of the guest interface; return warnings."""
    warnings: list[str] = []
    ifname = ctx.spec.container_ifname
    addresses = ctx.spec.addressing.addresses
    index = ctx.guest_link.index if ctx.guest_link else 0
    if any(a.family == 4 for a in addresses) and not ctx.arp_from_host:
        # restore arp_notify only if the link-up step (plan.py) changed it
        before = ctx.arp_notify_before
        restore = None if before is None else {m.IPV4_DEVCONF_ARP_NOTIFY: before}
        try:
            ctx.guest_nl.request(
                m.set_link(index, address=mac, ipv4_conf=restore),
                op="announce (gratuitous ARP)",
                obj=f"{ifname} in {ctx.guest.label}",
            )
        except NetlinkError as exc:
            warnings.append(f"could not announce the IPv4 addresses of {ifname}: {exc}")
    v6 = [a for a in addresses if a.family == 6]
    if v6:
        try:
            sock = ctx.icmp6
            sock.setsockopt(41, IPV6_MULTICAST_HOPS, 255)  # IPPROTO_IPV6; RFC 4861 needs 255
            packets = [neighbour_advertisement(mac, iface.address.packed) for iface in v6]
            _when_ipv6_routes(ctx, lambda: _send_all(sock, packets, index))
        except OSError as exc:
            warnings.append(f"could not announce the IPv6 addresses of {ifname}: {exc.strerror}")
    return warnings


def _send_all(sock: socket, packets: list[bytes], index: int) -> None:
    for packet in packets:
        sock.sendto(packet, (ALL_NODES, 0, 0, index))


def _when_ipv6_routes(ctx: AttachContext, send: Callable[[], None]) -> None:
    """Send, and if the guest interface has no IPv6 multicast route yet, send again
    once it has (bounded by IPV6_READY_S).

    The kernel adds that route when it sees the interface's carrier, which it learns
    asynchronously (the linkwatch work that also makes a bridge port forward): the
    bridge can forward already while the guest end is still waiting for it, and the
    send fails with ENETUNREACH. The route comes with a link notification, so the
    retries follow those, with a short poll for one that came before the subscription.
    """
    try:
        send()
        return
    except OSError as exc:
        if exc.errno != ENETUNREACH:
            raise
    from select import select

    from ..netlink.socket import NetlinkSocket
    from ..netns import inside

    deadline = time.monotonic() + IPV6_READY_S
    with inside(ctx.guest.netns):
        events = NetlinkSocket("events", groups=RTMGRP_LINK)
    try:
        while True:
            try:
                send()
                return
            except OSError as exc:
                remaining = deadline - time.monotonic()
                if exc.errno != ENETUNREACH or remaining <= 0:
                    raise
            if select([events], [], [], min(remaining, 0.02))[0]:
                events.drain()
    finally:
        events.close()
