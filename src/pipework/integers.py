"""Bounded integers from the command line: plain ASCII decimal, nothing else.

``str.isdigit`` accepts '²' and Arabic-Indic digits, and tools differ on what a
leading zero means (``ip`` reads 010 as octal 8), so both are refused here.
"""

from __future__ import annotations

from .errors import UsageError


def is_decimal(text: str) -> bool:
    """ASCII digits only, and no leading zero (except "0" itself)."""
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")


def parse_int(text: str, what: str, low: int, high: int) -> int:
    if not is_decimal(text) or len(text) > len(str(high)):
        raise UsageError(f"invalid {what} {text!r}: must be a number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise UsageError(f"invalid {what} {text!r}: must be a number from {low} to {high}")
    return value


def parse_seconds(text: str, what: str, high: float) -> float:
    """A positive number of seconds such as ``5`` or ``0.5``."""
    whole, _dot, frac = text.partition(".")
    if not (whole or frac) or not all(
        p == "" or (p.isascii() and p.isdigit()) for p in (whole, frac)
    ):
        raise UsageError(f"invalid {what} {text!r}: expected seconds, such as 30 or 0.5")
    value = float(text)
    if not 0 < value <= high:
        raise UsageError(
            f"invalid {what} {text!r}: must be more than 0 and at most {high:g} seconds"
        )
    return value
