"""DHCPv4 messages (RFC 2131, options of RFC 2132, 3396 and 3442), encoded and decoded.

Decoding is written for hostile input: a reply comes from whatever answers on the
guest's network. Any malformation (a short packet, an option running past the
end, a bad length, an overload pointing at garbage) raises ``MalformedReply``
and nothing else; every value is checked before it is used. A name (the domain,
the host name) is taken only when it is one (``dns_name``): a string a server
chose goes into the guest's resolv.conf and into files on the host, and a
newline in it would be a line of the server's choosing, an escape sequence a
terminal's. An option that is not a name is left out, as dhclient does.
"""

from __future__ import annotations

from _struct import Struct

from .._lowlevel.record import Record
from ..errors import PipeworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY

BOOTREQUEST, BOOTREPLY = 1, 2
HTYPE_ETHER = 1
MAGIC = b"\x63\x82\x53\x63"
FLAG_BROADCAST = 0x8000
SERVER_PORT, CLIENT_PORT = 67, 68

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8

# option codes
PAD, END = 0, 255
SUBNET_MASK, ROUTER, DNS_SERVERS, HOSTNAME, DOMAIN_NAME = 1, 3, 6, 12, 15
BROADCAST_ADDRESS, MTU = 28, 26
REQUESTED_ADDRESS, LEASE_TIME, OVERLOAD, MESSAGE_TYPE, SERVER_ID = 50, 51, 52, 53, 54
PARAMETER_REQUEST, MESSAGE, MAX_MESSAGE_SIZE, RENEWAL_T1, REBINDING_T2 = 55, 56, 57, 58, 59
VENDOR_CLASS, CLIENT_ID, DOMAIN_SEARCH, CLASSLESS_ROUTES = 60, 61, 119, 121

#: what the client asks for (option 55)
REQUESTED_OPTIONS = bytes(
    (
        SUBNET_MASK,
        ROUTER,
        DNS_SERVERS,
        HOSTNAME,
        DOMAIN_NAME,
        MTU,
        BROADCAST_ADDRESS,
        LEASE_TIME,
        SERVER_ID,
        RENEWAL_T1,
        REBINDING_T2,
        DOMAIN_SEARCH,
        CLASSLESS_ROUTES,
    )
)

# op htype hlen hops xid secs flags ciaddr yiaddr siaddr giaddr chaddr[16] sname[64] file[128]
_FIXED = Struct("!BBBBIHH4s4s4s4s16s64s128s")
FIXED_SIZE = _FIXED.size  # 236
_U32 = Struct("!I")
_U16 = Struct("!H")
MIN_SIZE = FIXED_SIZE + len(MAGIC)
#: the smallest message every DHCP server must accept (RFC 2131: 576-byte IP datagrams)
BOOTP_MIN_LENGTH = 300


class MalformedReply(PipeworkError):
    """A DHCP message that does not parse; the reason names what is wrong."""


class Message(Record):
    """A decoded DHCP message: the fixed fields that matter and the options, by code.

    ``options`` maps each option code to its value, the concatenation of every
    instance of the option (RFC 3396), from the options field and, when option
    52 says so, from the file and sname fields.
    """

    _: KW_ONLY
    op: int
    xid: int
    flags: int
    ciaddr: bytes
    yiaddr: bytes
    siaddr: bytes
    chaddr: bytes
    options: dict[int, bytes]

    @property
    def message_type(self) -> int | None:
        value = self.options.get(MESSAGE_TYPE)
        return value[0] if value is not None and len(value) == 1 else None

    def address_option(self, code: int) -> bytes | None:
        """A single IPv4 address option (server id, subnet mask…), or None."""
        value = self.options.get(code)
        if value is None:
            return None
        if len(value) != 4:
            raise MalformedReply(f"option {code} is {len(value)} bytes long, not 4")
        return value

    def address_list(self, code: int) -> list[bytes]:
        """A list of IPv4 addresses (routers, DNS servers); empty when absent."""
        value = self.options.get(code)
        if value is None:
            return []
        if not value or len(value) % 4:
            raise MalformedReply(f"option {code} is {len(value)} bytes long, not a multiple of 4")
        return [value[i : i + 4] for i in range(0, len(value), 4)]

    def seconds(self, code: int) -> int | None:
        """A 32-bit time option (lease time, T1, T2), or None."""
        value = self.options.get(code)
        if value is None:
            return None
        if len(value) != 4:
            raise MalformedReply(f"option {code} is {len(value)} bytes long, not 4")
        seconds: int = _U32.unpack(value)[0]
        return seconds

    def name(self, code: int, *, several: bool = False) -> str | None:
        """A name option (host name, domain name), or None when it is absent or is
        not a name (``dns_name``); ``several``: a list of names separated by spaces,
        which some servers send in the domain name option."""
        value = self.options.get(code)
        if value is None:
            return None
        value = value.split(b"\0", 1)[0]  # some servers count a C string's final NUL
        return dns_names(value) if several else dns_name(value)


_NAME_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
#: resolv.conf(5): a search list of at most six domains, 256 characters in all
_MAX_NAMES, _MAX_NAMES_LENGTH = 6, 256


def dns_name(value: bytes | str) -> str | None:
    """``value`` as a host or domain name, or None when it is not one: ASCII labels
    of letters, digits, '-' and '_' (1 to 63 each, none starting with '-'), joined by
    single dots, an optional final dot, 253 characters at most. Nothing else (no
    newline, control or escape character, space or non-ASCII byte) can pass."""
    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    if not raw or len(raw) > 254 or (len(raw) == 254 and not raw.endswith(b".")):
        return None
    labels = raw[:-1].split(b".") if raw.endswith(b".") and len(raw) > 1 else raw.split(b".")
    for label in labels:
        if not 0 < len(label) <= 63 or label[0] == 0x2D or not _NAME_BYTES.issuperset(label):
            return None
    return raw.decode("ascii")


def dns_names(value: bytes | str) -> str | None:
    """A list of names separated by single spaces (a search list), or None when any
    of them is not a name or there are too many for resolv.conf."""
    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    names = raw.split(b" ")
    if len(names) > _MAX_NAMES or len(raw) > _MAX_NAMES_LENGTH:
        return None
    checked = [dns_name(name) for name in names]
    if None in checked:
        return None
    return " ".join(name for name in checked if name)


def encode(
    message_type: int,
    xid: int,
    mac: bytes,
    *,
    ciaddr: bytes = b"\0\0\0\0",
    broadcast: bool = True,
    secs: int = 0,
    options: list[tuple[int, bytes]] | None = None,
) -> bytes:
    """A client message (BOOTREQUEST) of ``message_type``, padded to 300 bytes."""
    if len(mac) != 6:
        raise ValueError("a DHCP client MAC is 6 bytes")
    fixed = _FIXED.pack(
        BOOTREQUEST,
        HTYPE_ETHER,
        6,
        0,
        xid,
        min(secs, 0xFFFF),
        FLAG_BROADCAST if broadcast else 0,
        ciaddr,
        b"\0\0\0\0",
        b"\0\0\0\0",
        b"\0\0\0\0",
        mac,
        b"",
        b"",
    )
    body = bytearray(fixed + MAGIC)
    body += bytes((MESSAGE_TYPE, 1, message_type))
    for code, value in options or ():
        body += encode_option(code, value)
    body.append(END)
    if len(body) < BOOTP_MIN_LENGTH:
        body += bytes(BOOTP_MIN_LENGTH - len(body))
    return bytes(body)


def encode_option(code: int, value: bytes) -> bytes:
    """One option; a value longer than 255 bytes is split over instances (RFC 3396)."""
    if not 0 < code < 255:
        raise ValueError(f"option code {code} cannot carry a value")
    if not value:
        return bytes((code, 0))
    out = bytearray()
    for start in range(0, len(value), 255):
        chunk = value[start : start + 255]
        out += bytes((code, len(chunk))) + chunk
    return bytes(out)


def decode(data: bytes) -> Message:
    """A DHCP message from the bytes of a UDP payload; MalformedReply if it is not one."""
    if len(data) < MIN_SIZE:
        raise MalformedReply(f"{len(data)} bytes is too short for a DHCP message")
    (op, htype, hlen, _hops, xid, _secs, flags, ciaddr, yiaddr, siaddr, _giaddr, chaddr, sname,
     file) = _FIXED.unpack_from(data)  # fmt: skip
    if data[FIXED_SIZE:MIN_SIZE] != MAGIC:
        raise MalformedReply("no DHCP magic cookie")
    if htype != HTYPE_ETHER or hlen != 6:
        raise MalformedReply(f"hardware type {htype} with address length {hlen} is not Ethernet")
    options: dict[int, bytes] = {}
    _parse_options(data[MIN_SIZE:], options, "options", end_required=False)
    overload = options.pop(OVERLOAD, None)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            raise MalformedReply(f"option overload has a bad value {overload.hex()}")
        # RFC 2131 4.1: the options field, then file, then sname
        if overload[0] & 1:
            _parse_options(file, options, "file field", end_required=True)
        if overload[0] & 2:
            _parse_options(sname, options, "sname field", end_required=True)
        options.pop(OVERLOAD, None)  # an overload inside an overload means nothing more
    return Message(
        op=op,
        xid=xid,
        flags=flags,
        ciaddr=ciaddr,
        yiaddr=yiaddr,
        siaddr=siaddr,
        chaddr=chaddr[:6],
        options=options,
    )


def _parse_options(data: bytes, into: dict[int, bytes], where: str, *, end_required: bool) -> None:
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == PAD:
            i += 1
            continue
        if code == END:
            return
        if i + 1 >= n:
            raise MalformedReply(f"option {code} in the {where} has no length")
        length = data[i + 1]
        if i + 2 + length > n:
            raise MalformedReply(
                f"option {code} in the {where} claims {length} bytes; {n - i - 2} are left"
            )
        into[code] = into.get(code, b"") + data[i + 2 : i + 2 + length]
        i += 2 + length
    if end_required:
        raise MalformedReply(f"the {where} has no end option")
    # the options field may end with the UDP payload: servers differ, clients accept it


def classless_routes(value: bytes) -> list[tuple[bytes, int, bytes]]:
    """Option 121 (RFC 3442): (destination, prefix length, router) for each route."""
    routes = []
    i = 0
    while i < len(value):
        width = value[i]
        if width > 32:
            raise MalformedReply(f"classless route with a /{width} destination")
        significant = (width + 7) // 8
        end = i + 1 + significant + 4
        if end > len(value):
            raise MalformedReply("classless static routes option ends in the middle of a route")
        raw = int.from_bytes(value[i + 1 : i + 1 + significant] + bytes(4 - significant), "big")
        # host bits set past the width are the server's error; the kernel refuses such
        # a route (EINVAL), which would let any server fail the attach: drop them
        mask = (0xFFFFFFFF << (32 - width)) & 0xFFFFFFFF
        destination = (raw & mask).to_bytes(4, "big")
        routes.append((destination, width, value[i + 1 + significant : end]))
        i = end
    return routes


def prefix_length(mask: bytes) -> int:
    """The prefix length of a subnet mask; MalformedReply when it is not contiguous."""
    bits: int = _U32.unpack(mask)[0]
    length = 32 - (bits ^ 0xFFFFFFFF).bit_length()
    if bits != (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF:
        raise MalformedReply(f"subnet mask {'.'.join(map(str, mask))} is not contiguous")
    return length


def u32(value: int) -> bytes:
    return _U32.pack(value)


def u16(value: int) -> bytes:
    return _U16.pack(value)
