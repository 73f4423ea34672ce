"""JSON decoding with the C scanner of the ``json`` package, without importing ``json``.

``import json`` pulls in ``re`` and ``enum``: about as long as the rest of a
one-shot attach on the reference host. The scanner it wraps, ``_json``, is a C
module that needs none of that; this is the few lines of ``json.decoder`` that
drive it.
"""

from __future__ import annotations

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_JSON_SPACE = " \t\n\r"


class _Context:
    # What the C scanner reads from a JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


def loads(data: str | bytes) -> object:
    """Parse one JSON document; ValueError when it is not one."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.strip(_JSON_SPACE)
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - interpreters without the C accelerator
        import json

        return json.loads(text)
    try:
        value, end = make_scanner(_Context())(text, 0)  # type: ignore[arg-type]  # duck-typed
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if end != len(text):
        raise ValueError(f"extra data after JSON value at {end}")
    return value
