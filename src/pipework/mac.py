"""Ethernet MAC addresses: parsing, validation, and the original's ``U:<string>`` form."""

from __future__ import annotations

from .errors import UsageError

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_mac(text: str, what: str = "MAC address") -> bytes:
    """Parse ``aa:bb:cc:dd:ee:ff`` (1 or 2 hex digits per byte, as ``ip link`` reads it).

    Only unicast, non-zero addresses: a multicast source MAC breaks every switch
    and bridge it passes through.
    """
    parts = text.split(":")
    if (
        len(text) > 17
        or len(parts) != 6
        or not all(1 <= len(p) <= 2 and set(p) <= _HEX for p in parts)
    ):
        raise UsageError(f"invalid {what} {text!r}: expected six hex bytes like 02:00:c0:00:02:01")
    mac = bytes(int(p, 16) for p in parts)
    if mac[0] & 1:
        raise UsageError(f"invalid {what} {text}: a multicast address (first byte is odd)")
    if not any(mac):
        raise UsageError(f"invalid {what} {text}: the all-zero address")
    return mac


def mac_from_string(seed: str) -> bytes:
    """The original's ``U:<string>``: 02 followed by the first 40 bits of md5(string + newline).

    The shell script computes ``echo $seed | md5sum``, so the newline is part of
    the hashed text, and the unquoted ``$seed`` is split on whitespace and joined
    again by single spaces; doing the same makes the same ``U:`` value give the
    same MAC (and so the same DHCP lease) under both tools. (The shell would also
    expand glob characters against its working directory; that is not copied.)
    """
    words = seed.replace("\t", " ").replace("\n", " ").split(" ")  # the shell's default IFS
    seed = " ".join(word for word in words if word)
    try:
        from _md5 import md5  # type: ignore[import-not-found]  # C module; hashlib costs ms
    except ImportError:  # pragma: no cover - interpreters built without it
        from hashlib import md5
    # surrogateescape: hash the very bytes the shell would have given md5sum
    try:
        raw = (seed + "\n").encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise UsageError(f"U:{seed!r} is not valid text") from None
    digest = md5(raw).digest()  # noqa: S324 - compatibility, not security
    return b"\x02" + bytes(digest[:5])


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)
