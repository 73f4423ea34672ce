"""JSON with the C scanner and string encoder of ``json``, without importing ``json``.

``import json`` pulls in ``re`` and ``enum``: about as long as the rest of a
one-shot attach on the reference host. The scanner it wraps, ``_json``, is a C
module that needs none of that; this is the few lines of ``json.decoder`` that
drive it.

The scanner recurses once per level of nesting, so a document from a daemon that
nests 100000 deep would end in RecursionError (or, with a raised limit, a crashed
C stack). ``loads`` refuses anything nested deeper than ``MAX_DEPTH`` before the
scanner sees it: a deterministic limit, far above any real document's (a Docker
inspect nests about 6 deep), checked in C for almost every document.
"""

from __future__ import annotations

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_JSON_SPACE = " \t\n\r"
MAX_DEPTH = 512


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
    _check_depth(text)
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - interpreters without the C accelerator
        import json

        return json.loads(text)
    try:
        value, end = make_scanner(_Context())(text, 0)  # type: ignore[arg-type]  # duck-typed
    except StopIteration:
        raise ValueError("not a JSON document") from None
    except RecursionError:  # called with little stack left: still a refusal, not a crash
        raise ValueError("JSON nested too deep for this stack") from None
    if end != len(text):
        raise ValueError(f"extra data after JSON value at {end}")
    return value


def _check_depth(text: str) -> None:
    """ValueError when ``text`` nests arrays and objects deeper than MAX_DEPTH."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # it cannot nest deeper than it has brackets: the usual case, in C
    if "\\" in text:
        # Escape pairs go first, as the scanner reads them from the left: then \"
        # never ends a string and \\ never escapes the quote after it.
        text = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(text.split('"')[::2])  # what lies between the strings
    # only ASCII is valid outside strings (dropping the rest keeps every bracket);
    # deleting every other byte leaves the brackets alone, in C
    others = bytes(b for b in range(256) if b not in b"[]{}")
    depth = 0
    for byte in outside.encode("ascii", "ignore").translate(None, others):
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


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
