"""Tell the neighbours about the new address: gratuitous ARP (IPv4), unsolicited NA (IPv6).

The original ran ``arping -c 1 -A`` and so waited a second for a reply that never
comes; pipework writes the one frame itself on a packet socket opened inside the
guest and returns at once. An announcement that cannot be sent is a warning, not
a failure: the address works, neighbours just learn it on first contact.
"""

from __future__ import annotations

from _struct import pack

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _socket import socket

    from .inet import IPInterface

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_NODES_MAC = bytes.fromhex("333300000001")


def arp_announcement(mac: bytes, ip: bytes) -> bytes:
    """An ARP request for our own address (RFC 5227 "ARP Announcement")."""
    eth = BROADCAST + mac + pack("!H", ETH_P_ARP)
    arp = pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + b"\0" * 6 + ip
    return eth + arp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na(mac: bytes, ip: bytes) -> bytes:
    """A neighbour advertisement to all nodes, Override set, with our link-layer address."""
    # type 136, code 0, checksum, flags (Override = 0x20000000), target, option 2 (TLLA)
    body = pack("!BBHI", 136, 0, 0, 0x20000000) + ip + pack("!BB", 2, 1) + mac
    pseudo = ip + ALL_NODES + pack("!IxxxB", len(body), 58)
    body = body[:2] + pack("!H", _checksum(pseudo + body)) + body[4:]
    ipv6 = pack("!IHBB", 6 << 28, len(body), 58, 255) + ip + ALL_NODES
    return ALL_NODES_MAC + mac + pack("!H", ETH_P_IPV6) + ipv6 + body


def announce(
    sock: socket, ifname: str, mac: bytes, addresses: tuple[IPInterface, ...]
) -> list[str]:
    """Send one announcement per address; return warnings for those that could not go out."""
    warnings = []
    for iface in addresses:
        packed = iface.address.packed
        if iface.family == 4:
            frame, proto = arp_announcement(mac, packed), ETH_P_ARP
        else:
            frame, proto = unsolicited_na(mac, packed), ETH_P_IPV6
        try:
            sock.sendto(frame, (ifname, proto))
        except OSError as exc:
            warnings.append(f"could not announce {iface.address} on {ifname}: {exc.strerror}")
    return warnings
