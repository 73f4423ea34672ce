"""IPv4/IPv6 addresses and prefixes: parsing, validation, the arithmetic pipework needs.

Built on ``inet_pton`` instead of the ``ipaddress`` module, which would add several
milliseconds of import to every ``pipework`` process; ``inet_pton`` is also the
strictest parser at hand (no leading zeros, no octal, no scope ids).
"""

from __future__ import annotations

from _socket import AF_INET, AF_INET6, inet_ntop, inet_pton

from ._lowlevel.record import Record
from .errors import UsageError
from .integers import is_decimal

_BITS = {4: 32, 6: 128}
_AF = {4: AF_INET, 6: AF_INET6}


class IPAddress(Record):
    """One IPv4 or IPv6 address."""

    family: int  # 4 or 6
    packed: bytes

    def __post_init__(self) -> None:
        family, packed = self.family, self.packed
        if family not in _BITS or not isinstance(packed, bytes) or len(packed) * 8 != _BITS[family]:
            raise UsageError(f"invalid IP address: family {family!r} with {packed!r}")

    @property
    def af(self) -> int:
        """The socket address family (AF_INET or AF_INET6)."""
        return _AF[self.family]

    @property
    def bits(self) -> int:
        return _BITS[self.family]

    @property
    def value(self) -> int:
        return int.from_bytes(self.packed, "big")

    @property
    def is_multicast(self) -> bool:
        return (
            self.packed[0] >= 224 and self.packed[0] < 240
            if self.family == 4
            else self.packed[0] == 0xFF
        )

    @property
    def is_unspecified(self) -> bool:
        return not any(self.packed)

    @property
    def is_loopback(self) -> bool:
        if self.family == 4:
            return self.packed[0] == 127
        return self.value == 1

    @property
    def is_link_local(self) -> bool:
        if self.family == 4:
            return self.packed[:2] == b"\xa9\xfe"
        return self.packed[0] == 0xFE and (self.packed[1] & 0xC0) == 0x80

    @property
    def is_limited_broadcast(self) -> bool:
        return self.family == 4 and self.packed == b"\xff\xff\xff\xff"

    def __str__(self) -> str:
        return inet_ntop(self.af, self.packed)


class IPInterface(Record):
    """An address with its prefix length, as assigned to an interface (192.0.2.1/24)."""

    address: IPAddress
    prefixlen: int

    def __post_init__(self) -> None:
        address, prefixlen = self.address, self.prefixlen
        if not isinstance(address, IPAddress):
            raise UsageError(f"invalid interface address {address!r}: not an IPAddress")
        if type(prefixlen) is not int or not 0 <= prefixlen <= address.bits:
            raise UsageError(f"invalid prefix length {prefixlen!r} for {address}")

    @property
    def family(self) -> int:
        return self.address.family

    @property
    def _mask(self) -> int:
        bits = self.address.bits
        return ((1 << bits) - 1) ^ ((1 << (bits - self.prefixlen)) - 1)

    @property
    def network_value(self) -> int:
        return self.address.value & self._mask

    def contains(self, other: IPAddress) -> bool:
        """Whether ``other`` lies in this interface's subnet."""
        return other.family == self.family and (other.value & self._mask) == self.network_value

    def network_address(self) -> IPAddress:
        return _from_int(self.family, self.network_value)

    def broadcast(self) -> IPAddress | None:
        """The IPv4 directed broadcast; none for IPv6 or for /31 and /32 (RFC 3021)."""
        if self.family != 4 or self.prefixlen > 30:
            return None
        return _from_int(4, self.network_value | (~self._mask & 0xFFFFFFFF))

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


def _from_int(family: int, value: int) -> IPAddress:
    return IPAddress(family, value.to_bytes(_BITS[family] // 8, "big"))


def parse_address(text: str, what: str = "address") -> IPAddress:
    """Parse one IPv4 or IPv6 address; the family comes from the text itself."""
    if not text or len(text) > 64:
        raise UsageError(f"invalid {what} {text!r}: expected an IPv4 or IPv6 address")
    family, af = (6, AF_INET6) if ":" in text else (4, AF_INET)
    try:
        packed = inet_pton(af, text)
    except (OSError, ValueError):
        raise UsageError(f"invalid {what} {text!r}: not an IPv{family} address") from None
    return IPAddress(family, packed)


def parse_interface(text: str, what: str = "address") -> IPInterface:
    """Parse ``ADDR/PREFIX`` for an interface address, refusing what no host may carry."""
    addr_text, slash, prefix_text = text.partition("/")
    if not slash:
        address = parse_address(text, what)  # say first if it is no address at all
        guess = f"{text}/{24 if address.family == 4 else 64}"
        raise UsageError(
            f"the IP address {text!r} has no prefix length; maybe you meant {guess!r}?"
        )
    address = parse_address(addr_text, what)
    if not is_decimal(prefix_text) or len(prefix_text) > 3:
        raise UsageError(f"invalid prefix length {prefix_text!r} in {what} {text!r}")
    prefixlen = int(prefix_text)
    if not 1 <= prefixlen <= address.bits:
        raise UsageError(
            f"prefix length /{prefixlen} out of range in {what} {text!r} "
            f"(1-{address.bits} for IPv{address.family})"
        )
    iface = IPInterface(address, prefixlen)
    check_interface(iface, what, text)
    return iface


def parse_network(text: str, what: str = "network") -> IPInterface:
    """Parse ``ADDR/PREFIX`` naming a network (a route's destination): prefix 0 (a
    default route) up to the family's width, host bits allowed and ignored."""
    addr_text, slash, prefix_text = text.partition("/")
    address = parse_address(addr_text, what)
    if not slash or not is_decimal(prefix_text) or len(prefix_text) > 3:
        raise UsageError(f"invalid {what} {text!r}: expected ADDRESS/PREFIX")
    prefixlen = int(prefix_text)
    if prefixlen > address.bits:
        raise UsageError(f"prefix length /{prefixlen} out of range in {what} {text!r}")
    return IPInterface(address, prefixlen)


def check_interface(iface: IPInterface, what: str = "address", text: str | None = None) -> None:
    """Refuse an interface address no host may carry (however the value was built)."""
    text = str(iface) if text is None else text
    if iface.prefixlen < 1:
        raise UsageError(f"invalid {what} {text!r}: a /0 prefix leaves no subnet")
    address = iface.address
    problem = None
    if address.is_unspecified:
        problem = "the unspecified address"
    elif address.is_multicast:
        problem = "a multicast address"
    elif address.is_loopback:
        problem = "a loopback address"
    elif address.is_limited_broadcast:
        problem = "the broadcast address"
    elif address.family == 6 and address.packed[:12] == b"\0" * 10 + b"\xff\xff":
        problem = "an IPv4-mapped IPv6 address"
    elif iface.broadcast() is not None:
        if address == iface.network_address():
            problem = f"the network address of {iface.network_address()}/{iface.prefixlen}"
        elif address == iface.broadcast():
            problem = f"the broadcast address of {iface.network_address()}/{iface.prefixlen}"
    if problem:
        raise UsageError(f"invalid {what} {text!r}: {problem} cannot be assigned to an interface")


def check_gateway(gateway: IPAddress, addresses: tuple[IPInterface, ...]) -> None:
    """Refuse a gateway no route could use with these interface addresses."""
    text = str(gateway)
    if gateway.is_unspecified or gateway.is_multicast or gateway.is_loopback:
        raise UsageError(f"invalid gateway {text}: not a unicast address")
    if gateway.is_limited_broadcast:
        raise UsageError(f"invalid gateway {text}: the broadcast address")
    same_family = [a for a in addresses if a.family == gateway.family]
    if addresses and not same_family:
        fams = "/".join(sorted({f"IPv{a.family}" for a in addresses}))
        raise UsageError(f"gateway {text} is IPv{gateway.family} but the address is {fams}")
    for iface in same_family:
        if iface.address == gateway:
            raise UsageError(f"gateway {text} is the interface's own address")
        if iface.contains(gateway) and iface.broadcast() is not None:
            if gateway == iface.network_address():
                raise UsageError(f"gateway {text} is the network address of {iface}")
            if gateway == iface.broadcast():
                raise UsageError(f"gateway {text} is the broadcast address of {iface}")
