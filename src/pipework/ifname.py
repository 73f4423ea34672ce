"""Linux interface names: what the kernel accepts, checked before the first kernel change."""

from __future__ import annotations

from .errors import UsageError

IFNAMSIZ = 16  # including the trailing NUL: names have 1-15 bytes


def check_ifname(name: str, what: str = "interface name") -> str:
    """Validate a Linux interface name: 1-15 bytes, no "/", ":", "%" or whitespace, not . or ..."""
    if not isinstance(name, str):
        raise UsageError(f"{what} must be a string, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogatepass")  # counted in bytes; odd characters refused below
    if not raw:
        raise UsageError(f"empty {what}")
    if len(raw) >= IFNAMSIZ:
        raise UsageError(f"{what} {name!r} is too long: {len(raw)} bytes, the kernel allows 15")
    if name in (".", ".."):
        raise UsageError(f"{what} {name!r} is not allowed")
    for ch in name:
        # '%' too: the kernel reads "eth%d" as a template and picks a free number
        if ch in "/:%" or ch.isspace() or not ch.isprintable() or ord(ch) > 126:
            raise UsageError(f"{what} {name!r} contains {ch!r}, which the kernel refuses")
    return name
