"""JSON with the C scanner and string encoder of ``json``, without importing ``json``.

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


def dumps(value: object, indent: int = 2, _level: int = 0) -> str:
    """Serialise plain data (dict, list, tuple, str, int, float, bool, None) as JSON."""
    from _json import encode_basestring_ascii as quote

    pad = "\n" + " " * (indent * (_level + 1))
    end = "\n" + " " * (indent * _level)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value != value:  # noqa: PLR0124 - NaN, without math
        return "NaN"  # as json.dumps writes them
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return str(quote(value))
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{quote(str(k))}: {dumps(v, indent, _level + 1)}" for k, v in value.items())
        return "{" + pad + ("," + pad).join(items) + end + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[" + pad + ("," + pad).join(dumps(v, indent, _level + 1) for v in value) + end + "]"
    raise TypeError(f"cannot serialise {type(value).__name__} as JSON")
