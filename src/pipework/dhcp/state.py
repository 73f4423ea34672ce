"""What a lease renewal process leaves on the host: /run/pipework/dhcp/KEY.{json,pid}.

KEY is ``<netns inode>-<ifname>``: one guest interface, whatever the guest's name.
The JSON holds the lease and how to reach the guest again (its process and start
time, or its namespace file, with the inode it must still have); the pid file
names the renewal process. Both are written atomically (a rename), and the
renewal process removes both when it ends, so a stale file means it was killed;
``pipework gc`` removes those.
"""

from __future__ import annotations

import os

from .._lowlevel import jsonlite
from .._lowlevel.runstate import write_atomically
from .client import Lease
from .packet import dns_name, dns_names
from .paths import STATE_DIR, key

__all__ = ["STATE_DIR", "key"]  # (and the functions below) where they always were

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


_LEASE_FIELDS = (
    "address",
    "prefixlen",
    "routers",
    "routes",
    "dns",
    "domain",
    "hostname",
    "mtu",
    "server",
    "lease_time",
    "obtained",
    "renew_at",
    "rebind_at",
    "expires",
)


def path(name: str, suffix: str) -> str:
    return f"{STATE_DIR}/{name}.{suffix}"


def lease_to_json(lease: Lease) -> dict[str, object]:
    out: dict[str, object] = {}
    for field in _LEASE_FIELDS:
        value = getattr(lease, field)
        if isinstance(value, bytes):
            value = _ip(value)
        elif field in ("routers", "dns"):
            value = [_ip(v) for v in value]
        elif field == "routes":
            value = [[_ip(dst), width, _ip(via)] for dst, width, via in value]
        elif isinstance(value, float) and value == float("inf"):
            value = None  # an infinite lease
        out[field] = value
    return out


def lease_from_json(data: Mapping[str, object]) -> Lease:
    """The lease ``lease_to_json`` wrote; ValueError when the record is not one."""

    def name(key: str, check: Callable[[str], str | None]) -> str | None:
        # written from a checked lease, but a name that is not one never goes further
        value = data[key]
        return check(value) if isinstance(value, str) else None

    def items(key: str) -> list[object]:
        value = data[key]
        if not isinstance(value, list):
            raise ValueError(f"{key}: not a list")
        return value

    def whole(value: object) -> int:
        if not isinstance(value, int):
            raise ValueError(f"not a whole number: {value!r}")
        return value

    def moment(key: str) -> float:
        value = data[key]
        if value is None:
            return float("inf")  # an infinite lease
        if not isinstance(value, (int, float)):
            raise ValueError(f"{key}: not a number")
        return float(value)

    mtu = data["mtu"]
    routes = []
    for entry in items("routes"):
        if not isinstance(entry, list) or len(entry) != 3:
            raise ValueError("routes: not [destination, width, router] entries")
        dst, width, via = entry
        routes.append((_packed(str(dst)), whole(width), _packed(str(via))))
    return Lease(
        address=_packed(str(data["address"])),
        prefixlen=whole(data["prefixlen"]),
        routers=tuple(_packed(str(v)) for v in items("routers")),
        routes=tuple(routes),
        dns=tuple(_packed(str(v)) for v in items("dns")),
        domain=name("domain", dns_names),
        hostname=name("hostname", dns_name),
        mtu=whole(mtu) if mtu is not None else None,
        server=_packed(str(data["server"])),
        lease_time=whole(data["lease_time"]),
        obtained=moment("obtained"),
        renew_at=moment("renew_at"),
        rebind_at=moment("rebind_at"),
        expires=moment("expires"),
    )


def save(name: str, record: Mapping[str, object]) -> None:
    write_atomically(path(name, "json"), jsonlite.dumps(record))


def load(name: str) -> dict[str, object] | None:
    try:
        with open(path(name, "json")) as f:
            data = jsonlite.loads(f.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def keeper_pid(name: str) -> int | None:
    """The pid of the renewal process of KEY, if it is still that process."""
    try:
        with open(path(name, "pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    # a recycled pid is some other process: its command line says so
    if b"pipework.dhcp.keeper" not in cmdline or name.encode() not in cmdline:
        return None
    return pid


def remove(name: str) -> None:
    for suffix in ("json", "pid", "log"):
        try:
            os.unlink(path(name, suffix))
        except FileNotFoundError:
            pass


def stale() -> list[str]:
    """KEYs whose renewal process is gone (killed, or the host rebooted /run away)."""
    try:
        names = os.listdir(STATE_DIR)
    except FileNotFoundError:
        return []
    keys = sorted({n.rsplit(".", 1)[0] for n in names if n.endswith((".json", ".pid"))})
    return [k for k in keys if keeper_pid(k) is None]


def _ip(packed: bytes) -> str:
    return ".".join(str(b) for b in packed)


def _packed(text: str) -> bytes:
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 4 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    return bytes(parts)
