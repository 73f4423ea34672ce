"""The nftables ruleset read from the kernel (nfnetlink), without spawning ``nft``.

``nft -j list ruleset`` costs 5-8 ms (the program, its parser, the JSON); the two
dumps it makes underneath (the chains, then the rules) cost a fraction of a
millisecond here. Only what judging traffic within a bridge needs is decoded: a
chain's family, table, name, hook, type and policy; a rule's handle, its comment
(the userdata pipework and iptables-nft put it in), ``meta iifname/oifname``
compared to a name, and its verdict. Anything else in a rule makes it one that
"matches on something else" (the judge passes over it). A reply this reader does
not understand makes it give up (None): the caller then asks ``nft``.
"""

from __future__ import annotations

from _struct import pack, unpack_from

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

NETLINK_NETFILTER = 12
AF_NETLINK = 16
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_NEWCHAIN, NFT_MSG_GETCHAIN, NFT_MSG_NEWRULE, NFT_MSG_GETRULE = 3, 4, 6, 7
NLMSG_ERROR, NLMSG_DONE = 2, 3
FAMILIES = {1: "inet", 2: "ip", 10: "ip6"}
NF_INET_FORWARD = 2
#: verdict codes (include/uapi/linux/netfilter.h, nf_tables.h)
VERDICTS = {0: "drop", 1: "accept", -3: "jump", -4: "goto", -5: "return"}
NFT_META_IIFNAME, NFT_META_OIFNAME = 6, 7
NFT_CMP_EQ, NFT_CMP_NEQ = 0, 1
#: how many reply datagrams a dump may take (a bound, far above any real ruleset)
MAX_REPLIES = 4096


class Unreadable(Exception):
    """A reply this reader does not decode: ask ``nft`` instead."""


def _attrs(data: bytes, offset: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """Every attribute (type without its flags, payload), repeated types included."""
    end = len(data) if end is None else end
    while offset + 4 <= end:
        length, kind = unpack_from("=HH", data, offset)
        if length < 4 or offset + length > end:
            raise Unreadable("truncated attribute")
        yield kind & 0x3FFF, data[offset + 4 : offset + length]
        offset += (length + 3) & ~3


def _first(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    for kind, value in _attrs(data):
        found.setdefault(kind, value)
    return found


def _text(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _be32(value: bytes) -> int:
    return int(unpack_from(">i", value)[0])


def _dump(sock: object, msg: int) -> Iterator[tuple[int, bytes]]:
    """One dump of every family: (family, attributes) of each reply."""
    request = pack("=IHHIIBBH", 20, (NFNL_SUBSYS_NFTABLES << 8) | msg, 0x301, 1, 0, 0, 0, 0)
    sock.send(request)  # type: ignore[attr-defined]
    for _ in range(MAX_REPLIES):
        data = sock.recv(1 << 20)  # type: ignore[attr-defined]
        offset = 0
        while offset + 16 <= len(data):
            length, kind = unpack_from("=IH", data, offset)
            if length < 16 or offset + length > len(data):
                raise Unreadable("truncated message")
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                if length >= 20 and unpack_from("=i", data, offset + 16)[0] == 0:
                    return  # (an acknowledgement)
                raise Unreadable("the kernel refused the dump")
            if length >= 20:
                yield data[offset + 16], data[offset + 20 : offset + length]
            offset += (length + 3) & ~3
    raise Unreadable("the dump did not end")


def _comment(userdata: bytes) -> str:
    """The comment of a rule's userdata (type 0 of its type-length-value list)."""
    offset = 0
    while offset + 2 <= len(userdata):
        kind, length = userdata[offset], userdata[offset + 1]
        if kind == 0:
            return _text(userdata[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return ""


def _rule(body: bytes) -> tuple[str, str, dict[str, object]]:
    """(table, chain, the fields of a forward.Rule) of one NEWRULE reply."""
    top = _first(body)
    table, chain = _text(top.get(1, b"")), _text(top.get(2, b""))
    handle = int(unpack_from(">Q", top[3])[0]) if len(top.get(3, b"")) == 8 else 0
    fields: dict[str, object] = {
        "iif": None, "oif": None, "verdict": "", "target": "", "other": False,
        "comment": _comment(top.get(7, b"")), "handle": handle,
    }  # fmt: skip
    registers: dict[int, str] = {}  # register -> "iif" | "oif" loaded into it
    for _kind, element in _attrs(top.get(4, b"")):
        expr = _first(element)
        name = _text(expr.get(1, b""))
        data = _first(expr.get(2, b""))
        if name == "counter":
            continue
        if name == "meta" and 1 in data and _be32(data.get(2, b"\0\0\0\0")) in (6, 7):
            key = _be32(data[2])
            registers[_be32(data[1])] = "iif" if key == NFT_META_IIFNAME else "oif"
            continue
        if name == "cmp" and _be32(data.get(1, b"\0\0\0\0")) in registers:
            op = _be32(data.get(2, b"\0\0\0\0"))
            value = _first(data.get(3, b"")).get(1, b"")
            if op in (NFT_CMP_EQ, NFT_CMP_NEQ) and value:
                exact = value.endswith(b"\0")
                text = _text(value) + ("" if exact else "+")
                fields[registers[_be32(data[1])]] = ("!" if op == NFT_CMP_NEQ else "") + text
                continue
        if name == "immediate" and _be32(data.get(1, b"\xff\xff\xff\xff")) == 0:
            verdict = _first(_first(data.get(2, b"")).get(2, b""))
            code = _be32(verdict.get(1, b"\xff\xff\xff\xff"))
            if code in VERDICTS:
                fields["verdict"] = VERDICTS[code]
                fields["target"] = _text(verdict.get(2, b""))
                continue
        if name == "reject":
            fields["verdict"] = "drop"
            continue
        fields["other"] = True
    return table, chain, fields


def read_ruleset() -> list[tuple[str, str, str, str | None, str, list[dict[str, object]]]] | None:
    """Every ip/ip6/inet chain: (family, table, chain, hook, policy, its rules' fields),
    in the kernel's order; None when it cannot be read this way."""
    from _socket import SOCK_CLOEXEC, SOCK_RAW, socket

    try:
        sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)
    except OSError:
        return None
    try:
        sock.settimeout(5.0)
        chains: dict[tuple[str, str, str], tuple[str | None, str]] = {}
        for family, body in _dump(sock, NFT_MSG_GETCHAIN):
            if family not in FAMILIES:
                continue
            top = _first(body)
            hook = _first(top[4]) if 4 in top else None
            is_filter = _text(top.get(7, b"")) == "filter"
            hooked = hook is not None and is_filter and _be32(hook.get(1, b"\0\0\0\0")) == 2
            policy = ""
            if hook is not None:  # NF_DROP is 0; no policy attribute: accept
                policy = "drop" if _be32(top.get(5, b"\0\0\0\1")) == 0 else "accept"
            key = (FAMILIES[family], _text(top.get(1, b"")), _text(top.get(3, b"")))
            chains[key] = ("forward" if hooked else None, policy)
        rules: dict[tuple[str, str, str], list[dict[str, object]]] = {}
        for family, body in _dump(sock, NFT_MSG_GETRULE):
            if family not in FAMILIES:
                continue
            table, chain, fields = _rule(body)
            rules.setdefault((FAMILIES[family], table, chain), []).append(fields)
    except (OSError, Unreadable, KeyError, IndexError):
        return None
    finally:
        sock.close()
    return [
        (family, table, name, hook, policy, rules.get((family, table, name), []))
        for (family, table, name), (hook, policy) in chains.items()
    ]
