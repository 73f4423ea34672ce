"""The CNI protocol's inputs: the ``CNI_*`` environment and the configuration on stdin.

Everything here is checked before the first change on the host, and every refusal
carries the spec's code: a missing variable is 4, JSON that does not parse is 6, a
configuration that is not valid is 7, a version this plugin does not speak is 1, a
field it does not support is 2.
"""

from __future__ import annotations

from .._lowlevel.record import Record
from . import errors as e
from .errors import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: the spec versions whose configuration and results this plugin reads and writes
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
#: the variables each command needs (spec, "Parameters"); CNI_NETNS is optional for DEL
REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "STATUS": ("CNI_PATH",),
    "GC": ("CNI_PATH",),
    "VERSION": (),
}
#: CHECK, STATUS and GC came with these versions; older configurations cannot ask them
SINCE = {"CHECK": (0, 4, 0), "STATUS": (1, 1, 0), "GC": (1, 1, 0)}
#: CNI_ARGS keys the plugin reads (the others need IgnoreUnknown)
KNOWN_ARGS = ("IgnoreUnknown", "IP", "MAC")


def version_tuple(text: str) -> tuple[int, int, int]:
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise CniError(e.INVALID_CONFIG, f"invalid cniVersion {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


class Environment(Record):
    """The ``CNI_*`` variables of one invocation."""

    command: str
    container_id: str
    netns: str
    ifname: str
    path: tuple[str, ...]
    args: tuple[tuple[str, str], ...]

    def arg(self, key: str) -> str | None:
        for name, value in self.args:
            if name == key:
                return value
        return None


def read_environment(env: Mapping[str, str]) -> Environment:
    """The invocation's variables, each checked as the spec says; code 4 when not."""
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(
            e.INVALID_ENVIRONMENT,
            f"unknown CNI_COMMAND {command!r}",
            f"one of {', '.join(COMMANDS)}",
        )
    if command == "VERSION":
        # Only CNI_COMMAND counts: libcni probes VERSION with CNI_NETNS=dummy and the like.
        return Environment(command, "", "", "", (), ())
    missing = [name for name in REQUIRED[command] if not env.get(name)]
    if missing:
        raise CniError(
            e.INVALID_ENVIRONMENT, f"required environment variables missing: {', '.join(missing)}"
        )
    container_id = env.get("CNI_CONTAINERID", "")
    if container_id:
        _check_container_id(container_id)
    ifname = env.get("CNI_IFNAME", "")
    if ifname:
        from ..errors import UsageError
        from ..names import check_ifname

        try:
            check_ifname(ifname, "CNI_IFNAME")
        except UsageError as exc:
            raise CniError(e.INVALID_ENVIRONMENT, exc.message) from None
    netns = env.get("CNI_NETNS", "")
    if netns and not netns.startswith("/"):
        raise CniError(e.INVALID_ENVIRONMENT, f"CNI_NETNS {netns!r} is not an absolute path")
    path = tuple(p for p in env.get("CNI_PATH", "").split(":") if p)
    return Environment(command, container_id, netns, ifname, path, _parse_args(env))


def _check_container_id(container_id: str) -> None:
    # The spec's rule; the ID also ends up in marks and file names, so nothing else passes.
    ok = container_id[0].isascii() and container_id[0].isalnum()
    if not ok or not all(c.isascii() and (c.isalnum() or c in "_.-") for c in container_id):
        raise CniError(
            e.INVALID_ENVIRONMENT,
            f"invalid CNI_CONTAINERID {container_id!r}",
            "letters, digits and _ . - only, starting with a letter or digit",
        )
    if len(container_id) > 128:
        raise CniError(e.INVALID_ENVIRONMENT, "CNI_CONTAINERID is longer than 128 characters")


def _parse_args(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``CNI_ARGS``: ``K=V;K=V``; keys the plugin does not know refused unless IgnoreUnknown."""
    text = env.get("CNI_ARGS", "")
    pairs = []
    for item in text.split(";"):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise CniError(e.INVALID_ENVIRONMENT, f"CNI_ARGS: {item!r} is not KEY=VALUE")
        pairs.append((key, value))
    ignore = any(k == "IgnoreUnknown" and v.lower() in ("1", "true") for k, v in pairs)
    unknown = [k for k, _ in pairs if k not in KNOWN_ARGS]
    if unknown and not ignore:
        raise CniError(
            e.INVALID_ENVIRONMENT,
            f"CNI_ARGS: unknown keys {', '.join(unknown)}",
            "add IgnoreUnknown=1 to pass keys meant for other plugins",
        )
    return tuple(pairs)


def parse_config(data: bytes) -> dict[str, object]:
    """The network configuration on stdin, as a JSON object; code 6 when it is not one."""
    from .._lowlevel import jsonlite

    try:
        value = jsonlite.loads(data)
    except ValueError as exc:
        raise CniError(
            e.DECODING_FAILURE, f"cannot decode the network configuration: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise CniError(e.DECODING_FAILURE, "the network configuration is not a JSON object")
    return value


def check_version(config: Mapping[str, object], command: str) -> str:
    """The configuration's ``cniVersion``, when this plugin speaks it (code 1 when not)."""
    version = config.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CniError(e.INVALID_CONFIG, "cniVersion is missing or not a string")
    if version not in SUPPORTED_VERSIONS:
        version_tuple(version)  # malformed is code 7; well formed but unknown is 1
        raise CniError(
            e.INCOMPATIBLE_VERSION,
            f"incompatible CNI versions: the configuration is {version}, "
            f"pipework speaks {', '.join(SUPPORTED_VERSIONS)}",
        )
    since = SINCE.get(command)
    if since is not None and version_tuple(version) < since:
        raise CniError(
            e.INCOMPATIBLE_VERSION,
            f"configuration version {version} does not support the {command} command",
        )
    return version


def field(
    config: Mapping[str, object], key: str, kind: type | tuple[type, ...], where: str = ""
) -> object:
    """``config[key]`` when present, checked to be of ``kind`` (code 7 when not)."""
    value = config.get(key)
    if value is None:
        return None
    # bool is an int in Python; a JSON true is never a number here
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CniError(
            e.INVALID_CONFIG, f"{where}{key} must be a {_json_type(names)}, not {value!r}"
        )
    return value


def _json_type(python: str) -> str:
    return {"str": "string", "int": "number", "bool": "boolean", "dict": "object"}.get(
        python, python
    )
