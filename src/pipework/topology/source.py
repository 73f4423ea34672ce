"""Reading a topology file into plain values that remember their line numbers.

YAML goes through PyYAML's node API (``yaml.compose``), whose every node carries
its position, so a bad value deep in ``topology.links`` is reported on its own
line; JSON goes through a small parser of our own around ``json``'s scanner for
the same reason (``json.loads`` forgets positions). PyYAML is imported only
here and only for a file that is not JSON: the rest of pipework never needs it.

Mappings become ``LineDict`` (a dict with ``line`` and ``lines[key]``), sequences
``LineList`` (a list with ``line`` and ``lines[i]``); scalars stay plain values.
"""

from __future__ import annotations

from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_DEPTH = 64  # far deeper than any topology; a bound on the recursion


class TopologyError(UsageError):
    """A topology file that cannot be used as written: ``FILE:LINE: what is wrong``."""

    def __init__(self, path: str, line: int, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class _NoLines(dict):  # type: ignore[type-arg]
    """The lines of a document read without them: line 0 for every key."""

    def __missing__(self, key: object) -> int:
        return 0


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping of the file, with the line of itself and of each of its keys."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[str, int] = {} if line else _NoLines()


class LineList(list):  # type: ignore[type-arg]
    """A sequence of the file, with the line of itself and of each of its items."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []


def _json_fast(path: str, text: str) -> Any:
    import json

    def mapping(pairs: list[tuple[str, Any]]) -> LineDict:
        result = LineDict(0)
        for key, value in pairs:
            if key in result:
                raise TopologyError(path, 0, f"{key!r} given twice")
            result[key] = _lists(value)
        return result

    try:
        return _lists(json.loads(text, object_pairs_hook=mapping))
    except json.JSONDecodeError as exc:
        raise TopologyError(path, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise TopologyError(path, 0, f"nested deeper than {MAX_DEPTH} levels") from None


def _lists(value: Any) -> Any:
    """JSON arrays as LineLists (objects are LineDicts already, their values done)."""
    if type(value) is not list:
        return value
    items = LineList(0)
    items.extend(_lists(item) for item in value)
    items.lines = [0] * len(items)
    return items


def read(path: str, *, lines: bool = True) -> Any:
    """The document in ``path`` (YAML, or JSON), with line numbers; TopologyError if bad.

    ``lines=False`` reads JSON with ``json``'s C scanner alone, every line 0: several
    times faster on a large lab, for a first pass that reads again with lines only
    when the file turns out to be bad (``parse.load``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(4 << 20)
    except OSError as exc:
        raise UsageError(f"cannot read topology file {path}: {exc.strerror}") from None
    if len(raw) >= 4 << 20:
        raise TopologyError(path, 0, "larger than 4 MiB; not a topology file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TopologyError(path, raw.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None
    if path.endswith(".json") or text.lstrip().startswith("{"):
        if not lines:
            return _json_fast(path, text)
        return _JsonReader(path, text).document()
    return _read_yaml(path, text)


# ---------------------------------------------------------------- YAML


def _read_yaml(path: str, text: str) -> Any:
    try:
        yaml = _yaml()
    except ImportError:
        raise UsageError(
            f"{path}: reading YAML needs PyYAML, which is not installed",
            hint="pip install 'pipework[topology]' (or apt-get install python3-yaml), "
            "or write the file as JSON",
        ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise TopologyError(path, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise TopologyError(path, 0, f"not valid YAML: {exc}") from None
    if node is None:
        raise TopologyError(path, 1, "the file is empty")
    constructor = yaml.SafeLoader("")
    return _from_yaml(path, node, constructor, 0)


def _yaml() -> Any:
    """PyYAML, typed as Any: it ships no type information (and its stubs are optional)."""
    return __import__("yaml")


def _from_yaml(path: str, node: Any, constructor: Any, depth: int) -> Any:
    yaml = _yaml()

    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise TopologyError(path, line, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode):
        mapping = LineDict(line)
        merged: list[Any] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.append(value_node)  # '<<: *anchor': keys given here win
                continue
            key = _from_yaml(path, key_node, constructor, depth + 1)
            if not isinstance(key, str):
                raise TopologyError(path, key_node.start_mark.line + 1, f"key {key!r} is no name")
            if key in mapping:
                raise TopologyError(path, key_node.start_mark.line + 1, f"{key!r} given twice")
            mapping[key] = _from_yaml(path, value_node, constructor, depth + 1)
            mapping.lines[key] = key_node.start_mark.line + 1
        for value_node in merged:
            nodes = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for one in nodes:
                other = _from_yaml(path, one, constructor, depth + 1)
                if not isinstance(other, LineDict):
                    raise TopologyError(path, line, "'<<' merges only mappings")
                for key, value in other.items():
                    if key not in mapping:
                        mapping[key] = value
                        mapping.lines[key] = other.lines[key]
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items = LineList(line)
        for item in node.value:
            items.append(_from_yaml(path, item, constructor, depth + 1))
            items.lines.append(item.start_mark.line + 1)
        return items
    try:
        return constructor.construct_object(node)
    except yaml.YAMLError as exc:
        raise TopologyError(path, line, f"bad value: {exc}") from None


# ---------------------------------------------------------------- JSON


class _JsonReader:
    """JSON with positions: objects and arrays here, scalars through ``json``'s decoder."""

    def __init__(self, path: str, text: str) -> None:
        import json

        self.path = path
        self.text = text
        self.newlines: list[int] = []
        at = text.find("\n")
        while at >= 0:
            self.newlines.append(at)
            at = text.find("\n", at + 1)
        self.scalar = json.JSONDecoder().raw_decode
        self.error = json.JSONDecodeError

    def line(self, pos: int) -> int:
        from bisect import bisect_left

        return bisect_left(self.newlines, pos) + 1

    def fail(self, pos: int, message: str) -> TopologyError:
        return TopologyError(self.path, self.line(pos), f"not valid JSON: {message}")

    def skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def document(self) -> Any:
        pos = self.skip(0)
        value, pos = self.value(pos, 0)
        pos = self.skip(pos)
        if pos != len(self.text):
            raise self.fail(pos, "extra data after the document")
        return value

    def value(self, pos: int, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise self.fail(pos, f"nested deeper than {MAX_DEPTH} levels")
        text = self.text
        if pos >= len(text):
            raise self.fail(pos, "unexpected end of the file")
        if text[pos] == "{":
            return self.mapping(pos, depth)
        if text[pos] == "[":
            return self.sequence(pos, depth)
        try:
            value, end = self.scalar(text, pos)
        except self.error as exc:
            raise self.fail(exc.pos, exc.msg) from None
        if isinstance(value, (dict, list)):  # pragma: no cover - handled above
            raise self.fail(pos, "unexpected value")
        return value, end

    def mapping(self, pos: int, depth: int) -> tuple[LineDict, int]:
        text = self.text
        mapping = LineDict(self.line(pos))
        pos = self.skip(pos + 1)
        if pos < len(text) and text[pos] == "}":
            return mapping, pos + 1
        while True:
            if pos >= len(text) or text[pos] != '"':
                raise self.fail(pos, "expected a key in double quotes")
            key_line = self.line(pos)
            key, pos = self.value(pos, depth + 1)
            if key in mapping:
                raise TopologyError(self.path, key_line, f"{key!r} given twice")
            pos = self.skip(pos)
            if pos >= len(text) or text[pos] != ":":
                raise self.fail(pos, "expected ':' after a key")
            pos = self.skip(pos + 1)
            mapping[key], pos = self.value(pos, depth + 1)
            mapping.lines[key] = key_line
            pos = self.skip(pos)
            if pos < len(text) and text[pos] == ",":
                pos = self.skip(pos + 1)
                continue
            if pos < len(text) and text[pos] == "}":
                return mapping, pos + 1
            raise self.fail(pos, "expected ',' or '}'")

    def sequence(self, pos: int, depth: int) -> tuple[LineList, int]:
        text = self.text
        items = LineList(self.line(pos))
        pos = self.skip(pos + 1)
        if pos < len(text) and text[pos] == "]":
            return items, pos + 1
        while True:
            items.lines.append(self.line(pos))
            value, pos = self.value(pos, depth + 1)
            items.append(value)
            pos = self.skip(pos)
            if pos < len(text) and text[pos] == ",":
                pos = self.skip(pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                return items, pos + 1
            raise self.fail(pos, "expected ',' or ']'")
