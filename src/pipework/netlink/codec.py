"""Netlink framing: the nlmsghdr and type-length-value attributes, declared as tables.

An ``AttrTable`` names each attribute of one family (IFLA_*, IFA_*, RTA_*, …) with
its wire kind, the way pyroute2's ``nla_map`` does; the same table encodes requests
and decodes replies, so a name can never mean two different numbers.

Decoding is lazy: ``Attrs`` keeps the raw slices and converts a value when it is
asked for, because dumps of a busy host carry thousands of attributes nobody reads.
"""

from __future__ import annotations

from _struct import Struct

from ..errors import PipeworkError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

NLMSGHDR = Struct("=IHHII")  # length, type, flags, sequence, port id
NLAHDR = Struct("=HH")  # length, type
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

_U8 = Struct("=B")
_U16 = Struct("=H")
_U32 = Struct("=I")
_S32 = Struct("=i")
_U64 = Struct("=Q")
_BE16 = Struct(">H")

KINDS = ("u8", "u16", "u32", "s32", "u64", "be16", "asciiz", "binary", "nested", "flag")


class DecodeError(PipeworkError):
    """A netlink message or attribute that does not parse (truncated, wrong length)."""


def align(length: int) -> int:
    return (length + 3) & ~3


def pack_attr(type_id: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return NLAHDR.pack(length, type_id) + payload + b"\0" * (align(length) - length)


class AttrTable:
    """The attributes of one netlink family: number, name and wire kind of each."""

    __slots__ = ("by_id", "by_name", "name", "nested")

    def __init__(
        self,
        name: str,
        entries: Iterable[tuple[int, str, str]],
        nested: dict[str, AttrTable] | None = None,
    ) -> None:
        self.name = name
        self.by_id: dict[int, tuple[str, str]] = {}
        self.by_name: dict[str, tuple[int, str]] = {}
        for type_id, attr_name, kind in entries:
            if kind not in KINDS:
                raise ValueError(f"{name}.{attr_name}: unknown kind {kind}")
            self.by_id[type_id] = (attr_name, kind)
            self.by_name[attr_name] = (type_id, kind)
        self.nested = nested or {}

    def encode(self, items: Iterable[tuple[str, object]]) -> bytes:
        """Encode ``(name, value)`` pairs; nested values are already-encoded bytes."""
        out = []
        for attr_name, value in items:
            type_id, kind = self.by_name[attr_name]
            out.append(_encode_one(type_id, kind, value))
        return b"".join(out)

    def decode(self, data: bytes, offset: int = 0, end: int | None = None) -> Attrs:
        return Attrs(self, split_attrs(data, offset, len(data) if end is None else end))


def _encode_one(type_id: int, kind: str, value: object) -> bytes:
    if kind == "asciiz":
        assert isinstance(value, str)
        return pack_attr(type_id, value.encode("utf-8", "surrogateescape") + b"\0")
    if kind == "flag":
        return pack_attr(type_id, b"")
    if kind in ("binary", "nested"):
        assert isinstance(value, (bytes, bytearray))
        flag = NLA_F_NESTED if kind == "nested" else 0
        return pack_attr(type_id | flag, bytes(value))
    assert isinstance(value, int)
    return pack_attr(type_id, _INT_STRUCT[kind].pack(value))


_INT_STRUCT = {"u8": _U8, "u16": _U16, "u32": _U32, "s32": _S32, "u64": _U64, "be16": _BE16}


def split_attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    """Split a run of attributes into ``{type: payload}`` (the last one of a type wins)."""
    found: dict[int, bytes] = {}
    unpack = NLAHDR.unpack_from
    while offset + 4 <= end:
        length, type_id = unpack(data, offset)
        if length < 4 or offset + length > end:
            raise DecodeError(
                f"netlink attribute {type_id & NLA_TYPE_MASK} has bad length {length}"
            )
        found[type_id & NLA_TYPE_MASK] = data[offset + 4 : offset + length]
        offset += align(length)
    return found


class Attrs:
    """Decoded attributes of one message, read through typed accessors."""

    __slots__ = ("raw", "table")

    def __init__(self, table: AttrTable, raw: dict[int, bytes]) -> None:
        self.table = table
        self.raw = raw

    def _payload(self, name: str, kinds: tuple[str, ...]) -> bytes | None:
        type_id, kind = self.table.by_name[name]
        if kind not in kinds:
            raise TypeError(f"{self.table.name}.{name} is {kind}, not {'/'.join(kinds)}")
        return self.raw.get(type_id)

    def has(self, name: str) -> bool:
        return self.table.by_name[name][0] in self.raw

    def get_int(self, name: str) -> int | None:
        type_id, kind = self.table.by_name[name]
        payload = self.raw.get(type_id)
        if payload is None:
            return None
        st = _INT_STRUCT.get(kind)
        if st is None:
            raise TypeError(f"{self.table.name}.{name} is {kind}, not an integer")
        if len(payload) < st.size:
            raise DecodeError(f"{self.table.name}.{name}: {len(payload)} bytes, expected {st.size}")
        value: int = st.unpack_from(payload)[0]
        return value

    def get_str(self, name: str) -> str | None:
        payload = self._payload(name, ("asciiz",))
        if payload is None:
            return None
        return payload.split(b"\0", 1)[0].decode("utf-8", "replace")

    def get_bytes(self, name: str) -> bytes | None:
        return self._payload(name, ("binary",))

    def get_nested(self, name: str, table: AttrTable | None = None) -> Attrs | None:
        payload = self._payload(name, ("nested",))
        if payload is None:
            return None
        sub = table or self.table.nested.get(name)
        if sub is None:
            raise TypeError(f"{self.table.name}.{name}: no table to decode it with")
        return sub.decode(payload)

    def names(self) -> Iterator[str]:
        for type_id in self.raw:
            entry = self.table.by_id.get(type_id)
            if entry:
                yield entry[0]


def pack_message(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    return NLMSGHDR.pack(16 + len(body), msg_type, flags, seq, 0) + body


def split_messages(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield ``(type, flags, seq, body_offset, end)`` for each message of a datagram."""
    offset = 0
    total = len(data)
    unpack = NLMSGHDR.unpack_from
    while offset + 16 <= total:
        length, msg_type, flags, seq, _port = unpack(data, offset)
        if length < 16 or offset + length > total:
            raise DecodeError(f"netlink message of type {msg_type} has bad length {length}")
        yield msg_type, flags, seq, offset + 16, offset + length
        offset += align(length)
