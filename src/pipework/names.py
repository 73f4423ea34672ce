"""Interface names and guest identifiers: what the kernel and pipework accept.

Every name is checked here before the first kernel change, so a typo or a hostile
argument can never reach ``find``, a glob, a path join or the kernel.
"""

from __future__ import annotations

from .errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import GuestRef

IFNAMSIZ = 16  # including the trailing NUL: names have 1-15 bytes

# Letters, digits and a few separators. Docker names are [a-zA-Z0-9][a-zA-Z0-9_.-]*,
# LXC and `ip netns` names in practice the same; anything else (glob characters,
# shell metacharacters, '/', whitespace) is refused rather than interpreted.
_GUEST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+@")
GUEST_NAME_MAX = 253


def check_ifname(name: str, what: str = "interface name") -> str:
    """Validate a Linux interface name: 1-15 bytes, no '/', ':' or whitespace, not '.' or '..'."""
    raw = name.encode("utf-8", "surrogateescape")
    if not raw:
        raise UsageError(f"empty {what}")
    if len(raw) >= IFNAMSIZ:
        raise UsageError(f"{what} {name!r} is too long: {len(raw)} bytes, the kernel allows 15")
    if name in (".", ".."):
        raise UsageError(f"{what} {name!r} is not allowed")
    for ch in name:
        if ch in "/:" or ch.isspace() or not ch.isprintable() or ord(ch) > 126:
            raise UsageError(f"{what} {name!r} contains {ch!r}, which the kernel refuses")
    return name


def check_guest_name(name: str, what: str = "guest name") -> str:
    """Validate a container, netns or Docker name (never a glob, never a path)."""
    if not name:
        raise UsageError(f"empty {what}")
    if len(name) > GUEST_NAME_MAX:
        raise UsageError(f"{what} is too long: {len(name)} characters (at most {GUEST_NAME_MAX})")
    if name in (".", ".."):
        raise UsageError(f"{what} {name!r} is not allowed")
    bad = next((ch for ch in name if ch not in _GUEST_CHARS), None)
    if bad is not None:
        raise UsageError(
            f"{what} {name!r} contains {bad!r}: names may use letters, digits and _ . - + @"
        )
    if name[0] in "-.":
        raise UsageError(f"{what} {name!r} may not start with {name[0]!r}")
    return name


def parse_guest_ref(text: str) -> GuestRef:
    """``[lxc:|docker:|netns:|pid:]IDENT``, or an absolute path to a netns file."""
    from .model import GUEST_KINDS, GuestRef

    kind: str | None = None
    value = text
    head, colon, rest = text.partition(":")
    if colon and not text.startswith("/"):
        if head not in GUEST_KINDS:
            raise UsageError(
                f"unknown guest prefix {head + ':'!r} in {text!r} "
                "(use lxc:, docker:, netns: or pid:)"
            )
        kind, value = head, rest
    if value.startswith("/"):
        if kind not in (None, "netns"):
            raise UsageError(
                f"guest {text!r}: a path can only name a network namespace (netns:PATH)"
            )
        if "\0" in value or len(value) > 4096 or "/../" in value + "/":
            raise UsageError(f"invalid netns path {value!r}")
        return GuestRef("netns", value)
    if kind == "pid" and not (value.isdigit() and 0 < int(value) <= 1 << 22):
        raise UsageError(f"invalid pid {value!r} in {text!r}")
    check_guest_name(value, "guest name" if kind is None else f"{kind} guest name")
    return GuestRef(kind, value)
