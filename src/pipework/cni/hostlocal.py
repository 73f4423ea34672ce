"""The built-in IPAM (``"ipam": {"type": "pipework"}``), on host-local's on-disk store.

This room owns the address reservations of a CNI network: it reads and writes
them in exactly the layout of the reference ``host-local`` IPAM plugin
(containernetworking/plugins 1.1.x), so that plugin and pipework can hand out
addresses from one range at the same time without ever giving one twice:

    <dataDir>/<network>/lock                 flock(LOCK_EX) around every operation
    <dataDir>/<network>/<ip>                 "CONTAINERID\\r\\nIFNAME" (old form: "CONTAINERID")
    <dataDir>/<network>/last_reserved_ip.<N> the last address taken from range set N

The allocation order is host-local's too: from the last reserved address + 1
through the range set, wrapping, skipping the gateway and taken addresses.

Everything under the data dir is reached through directory fds and opened with
O_NOFOLLOW: whoever can write into the data dir cannot make pipework read,
write or delete a file elsewhere.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from _socket import AF_INET, AF_INET6, inet_ntop, inet_pton

from .._lowlevel.record import Record
from .errors import (
    ATTACH_FAILED,
    INVALID_CONFIG,
    INVALID_ENVIRONMENT,
    IO_FAILURE,
    TRY_AGAIN_LATER,
    CniError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence

    #: an address as (family 4 or 6, its value): ordered, hashable, and no import
    #: (``ipaddress`` costs several milliseconds of a plugin run that has about twenty)
    _IP = tuple[int, int]

__all__ = ["DEFAULT_DATA_DIR", "add", "delete", "gc", "held"]

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
_LOCK_NAME = "lock"
_LAST_RESERVED_PREFIX = "last_reserved_ip."
_LINE_BREAK = "\r\n"
#: the spec's rule for network names ([a-zA-Z0-9][a-zA-Z0-9_.-]*); host-local's skel
#: applies it to container IDs too
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")
_IFNAME_MAX = 15
#: host-local writes "ID\r\nIFNAME"; a bigger file is not one of its reservations
_MAX_RESERVATION_BYTES = 64 * 1024
_MAX_RESOLV_CONF_BYTES = 1024 * 1024
#: host-local waits for the lock forever; a stuck holder should fail a CNI call, not hang it
_LOCK_TIMEOUT = 30.0
#: Go's strings.TrimSpace on ASCII, which is all a valid reservation holds
_SPACES = " \t\n\r\v\f"
_BITS = {4: 32, 6: 128}

_IPAM_KEYS = (
    "type",
    "subnet",
    "rangeStart",
    "rangeEnd",
    "gateway",
    "ranges",
    "routes",
    "dataDir",
    "resolvConf",
)
_RANGE_KEYS = ("subnet", "rangeStart", "rangeEnd", "gateway")
_ROUTE_KEYS = ("dst", "gw")


# ---------------------------------------------------------------------------
# addresses


def _pton(text: str) -> _IP | None:
    """An address as written, IPv4-mapped IPv6 kept as IPv6; None for anything else.

    ``inet_pton`` takes what ``ipaddress`` takes once scope ids and non-ASCII text are
    refused: dotted quads without leading zeros, and RFC 4291 IPv6 text.
    """
    if "%" in text or not text.isascii():
        return None
    family, af = (6, AF_INET6) if ":" in text else (4, AF_INET)
    try:
        packed = inet_pton(af, text)
    except (OSError, ValueError):
        return None
    return family, int.from_bytes(packed, "big")


def _is_v4_mapped(ip: _IP) -> bool:
    return ip[0] == 6 and ip[1] >> 32 == 0xFFFF


def _text(ip: _IP) -> str:
    """The canonical text, which host-local (Go's net.IP.String) uses as the file name.

    IPv6 is written here rather than by ``inet_ntop``: glibc's writes the IPv4-compatible
    ``::102:304`` as ``::1.2.3.4``, which neither Go nor ``ipaddress`` does. The longest
    run of two or more zero groups (the first of equal runs) becomes ``::`` (RFC 5952).
    """
    family, value = ip
    if family == 4:
        return inet_ntop(AF_INET, value.to_bytes(4, "big"))
    groups = [(value >> shift) & 0xFFFF for shift in range(112, -16, -16)]
    best_at, best_len, run_at, run_len = -1, 1, -1, 0
    for i, group in enumerate(groups):
        if group:
            run_len = 0
            continue
        if not run_len:
            run_at = i
        run_len += 1
        if run_len > best_len:
            best_at, best_len = run_at, run_len
    words = [f"{group:x}" for group in groups]
    if best_at < 0:
        return ":".join(words)
    return ":".join(words[:best_at]) + "::" + ":".join(words[best_at + best_len :])


# ---------------------------------------------------------------------------
# configuration


class _Range(Record):
    """One range of a range set: its subnet (family, network value, prefix), its
    first and last allocatable values and its gateway's, all of the subnet's family."""

    family: int
    network: int
    prefixlen: int
    start: int
    end: int
    gateway: int

    def contains(self, ip: _IP) -> bool:
        # start and end lie in the subnet (parsing checks it): the range is within it
        return ip[0] == self.family and self.start <= ip[1] <= self.end

    def __str__(self) -> str:
        return f"{_text((self.family, self.start))}-{_text((self.family, self.end))}"


class _RangeSet(Record):
    ranges: tuple[_Range, ...]

    def range_for(self, ip: _IP) -> _Range | None:
        for r in self.ranges:
            if r.contains(ip):
                return r
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.ranges)


class _Config(Record):
    data_dir: str
    range_sets: tuple[_RangeSet, ...]
    routes: tuple[Mapping[str, str], ...]
    resolv_conf: str


def _invalid(message: str) -> CniError:
    return CniError(INVALID_CONFIG, message)


def _check_keys(obj: Mapping[str, object], where: str, known: Sequence[str]) -> None:
    """Refuse a key that differs from a known one only in case.

    host-local's JSON decoder matches keys case-insensitively, so it would obey
    ``"RangeStart"`` where a literal reader ignores it, and the two would carve
    different ranges out of one store.
    """
    folded = {k.casefold(): k for k in known}
    for key in obj:
        if not isinstance(key, str):
            raise _invalid(f"{where}: keys must be strings")
        canonical = folded.get(key.casefold())
        if canonical is not None and canonical != key:
            raise _invalid(f"{where}.{key}: spell it '{canonical}' (host-local reads it so)")


def _optional(obj: Mapping[str, object], key: str) -> object:
    """A field's value, JSON null counting as absent (as host-local's decoder does)."""
    return obj.get(key)


def _parse_ip_text(text: str) -> _IP | None:
    ip = _pton(text)
    # host-local keeps an IPv4-mapped IPv6 address as the IPv4 address (Go's To4)
    if ip is not None and _is_v4_mapped(ip):
        return 4, ip[1] & 0xFFFFFFFF
    return ip


def _ip_field(value: object, where: str) -> _IP:
    if not isinstance(value, str):
        raise _invalid(f"{where}: must be an IP address string, not {type(value).__name__}")
    ip = _parse_ip_text(value)
    if ip is None:
        raise _invalid(f"{where}: {value!r} is not an IP address")
    return ip


def _split_cidr(value: object, where: str) -> tuple[_IP, int]:
    if not isinstance(value, str):
        raise _invalid(f"{where}: must be a CIDR string, not {type(value).__name__}")
    addr_text, slash, prefix_text = value.partition("/")
    if not slash or not (prefix_text.isascii() and prefix_text.isdigit()) or len(prefix_text) > 3:
        raise _invalid(f"{where}: {value!r} is not ADDRESS/PREFIX")
    addr = _pton(addr_text)
    if addr is None:
        raise _invalid(f"{where}: {value!r} is not ADDRESS/PREFIX")
    if _is_v4_mapped(addr):
        # host-local: "IPNet IP and Mask version mismatch"
        raise _invalid(f"{where}: {value!r} is IPv4-mapped IPv6; write the IPv4 subnet")
    prefix = int(prefix_text)
    bits = _BITS[addr[0]]
    if prefix > bits:
        raise _invalid(f"{where}: prefix /{prefix} is longer than /{bits}")
    return addr, prefix


def _parse_range(obj: object, where: str) -> _Range:
    if not isinstance(obj, dict):
        raise _invalid(f"{where}: must be an object with a subnet")
    _check_keys(obj, where, _RANGE_KEYS)
    subnet_value = _optional(obj, "subnet")
    if subnet_value is None:
        raise _invalid(f"{where}.subnet: missing")
    (family, value), prefix = _split_cidr(subnet_value, f"{where}.subnet")
    bits = _BITS[family]
    host_mask = (1 << (bits - prefix)) - 1
    network = value & ~host_mask
    subnet = f"{_text((family, network))}/{prefix}"
    if network != value:
        raise _invalid(
            f"{where}.subnet: {subnet_value!r} has host bits set; the network is {subnet}"
        )
    if prefix > bits - 2:
        raise _invalid(f"{where}.subnet: network {subnet} too small to allocate from")

    broadcast = network | host_mask
    first = network + 1
    # host-local's default end: the broadcast address is left out for IPv4 only
    last = broadcast - 1 if family == 4 else broadcast

    def member(key: str) -> int | None:
        value = _optional(obj, key)
        if value is None:
            return None
        ip = _ip_field(value, f"{where}.{key}")
        if ip[0] != family:
            raise _invalid(f"{where}.{key}: {_text(ip)} is not of the family of subnet {subnet}")
        return ip[1]

    gateway = member("gateway")
    start = member("rangeStart")
    end = member("rangeEnd")
    # host-local accepts a gateway outside the subnet (an on-link route); so do we
    if start is not None and not network <= start <= broadcast:
        raise _invalid(f"{where}.rangeStart: {_text((family, start))} not in network {subnet}")
    if end is not None and not network <= end <= broadcast:
        raise _invalid(f"{where}.rangeEnd: {_text((family, end))} not in network {subnet}")
    start = start if start is not None else first
    end = end if end is not None else last
    if start > end:
        raise _invalid(
            f"{where}.rangeEnd: {_text((family, end))} is before rangeStart"
            f" {_text((family, start))}"
        )
    return _Range(family, network, prefix, start, end, gateway if gateway is not None else first)


def _overlaps(a: _Range, b: _Range) -> bool:
    if a.family != b.family:
        return False
    return a.start <= b.end and b.start <= a.end


def _parse_range_set(obj: object, where: str) -> _RangeSet:
    if not isinstance(obj, list):
        raise _invalid(f"{where}: must be a list of ranges")
    if not obj:
        raise _invalid(f"{where}: empty range set")
    ranges = tuple(_parse_range(item, f"{where}[{i}]") for i, item in enumerate(obj))
    for i, r in enumerate(ranges):
        if r.family != ranges[0].family:
            raise _invalid(f"{where}[{i}].subnet: mixed address families in one range set")
    for i, r1 in enumerate(ranges):
        for j in range(i + 1, len(ranges)):
            if _overlaps(r1, ranges[j]):
                raise _invalid(f"{where}[{j}]: range {ranges[j]} overlaps range {r1} ([{i}])")
    return _RangeSet(ranges)


def _parse_routes(value: object) -> tuple[Mapping[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("ipam.routes: must be a list of {dst, gw} objects")
    routes: list[Mapping[str, str]] = []
    for i, item in enumerate(value):
        where = f"ipam.routes[{i}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where}: must be an object with a dst")
        _check_keys(item, where, _ROUTE_KEYS)
        dst = _optional(item, "dst")
        if dst is None:
            raise _invalid(f"{where}.dst: missing")
        # host bits are kept, as host-local echoes them
        addr, prefix = _split_cidr(dst, f"{where}.dst")
        route = {"dst": f"{_text(addr)}/{prefix}"}
        gw = _optional(item, "gw")
        if gw is not None:
            gw_ip = _ip_field(gw, f"{where}.gw")
            if gw_ip[0] != addr[0]:
                raise _invalid(f"{where}.gw: {_text(gw_ip)} is not of the family of dst {dst}")
            route["gw"] = _text(gw_ip)
        routes.append(route)
    return tuple(routes)


def _parse_config(ipam: Mapping[str, object]) -> _Config:
    # the configuration comes from a JSON parser: an object is a dict
    if not isinstance(ipam, dict):
        raise _invalid("ipam: must be an object")
    _check_keys(ipam, "ipam", _IPAM_KEYS)
    kind = _optional(ipam, "type")
    if kind is not None and not isinstance(kind, str):
        raise _invalid("ipam.type: must be a string")

    data_dir = _optional(ipam, "dataDir")
    if data_dir is None or data_dir == "":
        data_dir = DEFAULT_DATA_DIR
    if not isinstance(data_dir, str):
        raise _invalid("ipam.dataDir: must be a string")
    if not data_dir.startswith("/") or "\0" in data_dir:
        raise _invalid(f"ipam.dataDir: {data_dir!r} must be an absolute path")

    resolv_conf = _optional(ipam, "resolvConf")
    if resolv_conf is None:
        resolv_conf = ""
    if not isinstance(resolv_conf, str) or "\0" in resolv_conf:
        raise _invalid("ipam.resolvConf: must be a path string")

    range_sets: list[_RangeSet] = []
    # the flat (pre-"ranges") form becomes range set 0, ahead of "ranges", as in host-local
    if _optional(ipam, "subnet") is not None:
        range_sets.append(_RangeSet((_parse_range(ipam, "ipam"),)))
    else:
        for key in ("rangeStart", "rangeEnd", "gateway"):
            if _optional(ipam, key) is not None:
                raise _invalid(f"ipam.{key}: given without ipam.subnet")
    ranges = _optional(ipam, "ranges")
    if ranges is not None:
        if not isinstance(ranges, list):
            raise _invalid("ipam.ranges: must be a list of range sets (lists of ranges)")
        range_sets.extend(
            _parse_range_set(item, f"ipam.ranges[{i}]") for i, item in enumerate(ranges)
        )
    if not range_sets:
        raise _invalid("ipam.ranges: no IP ranges specified (ranges or subnet)")
    for i, p1 in enumerate(range_sets):
        for j in range(i + 1, len(range_sets)):
            if any(_overlaps(a, b) for a in p1.ranges for b in range_sets[j].ranges):
                raise _invalid(f"ipam.ranges: range set {i} overlaps with {j}")

    return _Config(
        data_dir, tuple(range_sets), _parse_routes(_optional(ipam, "routes")), resolv_conf
    )


def _is_name(text: object) -> bool:
    return (
        isinstance(text, str)
        and text != ""
        and text[0] in _NAME_FIRST
        and all(c in _NAME_REST for c in text)
    )


def _check_network(network: str) -> None:
    if not _is_name(network):
        raise _invalid(
            f"name: {network!r} is not a valid network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
        )


def _check_attachment(container_id: str, ifname: str) -> None:
    if not _is_name(container_id):
        raise CniError(
            INVALID_ENVIRONMENT,
            f"CNI_CONTAINERID: {container_id!r} has characters outside [a-zA-Z0-9_.-]",
        )
    if (
        not isinstance(ifname, str)
        or not ifname
        or len(ifname.encode("utf-8", "surrogateescape")) > _IFNAME_MAX
        or ifname in (".", "..")
        or any(c in "/:" or c.isspace() for c in ifname)
    ):
        raise CniError(INVALID_ENVIRONMENT, f"CNI_IFNAME: {ifname!r} is not a valid interface name")


def _parse_requested(requested: Sequence[str]) -> list[_IP]:
    seen: list[_IP] = []
    for text in requested:
        if not isinstance(text, str):
            raise _invalid(f"requested IP {text!r}: must be a string")
        # runtimeConfig.ips may carry a prefix; host-local uses only the address
        addr_text = text.partition("/")[0] if "/" in text else text
        if "/" in text:
            _split_cidr(text, f"requested IP {text!r}")
        ip = _parse_ip_text(addr_text)
        if ip is None:
            raise _invalid(f"requested IP {text!r}: cannot understand ip")
        if ip not in seen:
            seen.append(ip)
    return seen


def _read_resolv_conf(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_RESOLV_CONF_BYTES + 1)
    except OSError as e:
        raise CniError(IO_FAILURE, f"ipam.resolvConf: cannot read {path}: {e.strerror}") from None
    if len(data) > _MAX_RESOLV_CONF_BYTES:
        raise CniError(IO_FAILURE, f"ipam.resolvConf: {path} is larger than 1 MiB")
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    domain = ""
    for raw in data.decode("utf-8", "replace").split("\n"):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            nameservers.append(fields[1])
        elif fields[0] == "domain":
            domain = fields[1]
        elif fields[0] == "search":
            search.extend(fields[1:])
        elif fields[0] == "options":
            options.extend(fields[1:])
    dns: dict[str, object] = {}
    if nameservers:
        dns["nameservers"] = nameservers
    if domain:
        dns["domain"] = domain
    if search:
        dns["search"] = search
    if options:
        dns["options"] = options
    return dns


# ---------------------------------------------------------------------------
# the store


def _io_error(what: str, e: OSError) -> CniError:
    return CniError(IO_FAILURE, f"{what}: {e.strerror or e}")


def _reservation_ip(name: str) -> _IP | None:
    """The address a file name reserves, if the name is one host-local would write."""
    ip = _parse_ip_text(name)
    if ip is None or _text(ip) != name:
        return None
    return ip


class _Store:
    """One network's directory, opened without following links and held under its lock."""

    def __init__(self, data_dir: str, network: str, *, create: bool) -> None:
        self.path = os.path.join(data_dir, network)
        self.data_dir = data_dir
        self.network = network
        self.create = create
        self.dir_fd = -1
        self.lock_fd = -1

    def __enter__(self) -> _Store:
        try:
            if self.create:
                os.makedirs(self.data_dir, 0o755, exist_ok=True)
            parent = os.open(self.data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if self.create:
                raise CniError(IO_FAILURE, f"data dir {self.data_dir} vanished") from None
            return self
        except OSError as e:
            raise _io_error(f"data dir {self.data_dir}", e) from None
        try:
            if self.create:
                try:
                    os.mkdir(self.network, 0o755, dir_fd=parent)
                except FileExistsError:
                    pass
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            self.dir_fd = os.open(self.network, flags, dir_fd=parent)
        except FileNotFoundError:
            if self.create:
                raise CniError(IO_FAILURE, f"network dir {self.path} vanished") from None
            return self
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise CniError(
                    IO_FAILURE,
                    f"network dir {self.path} is not a directory (a symlink?); refusing to use it",
                ) from None
            raise _io_error(f"network dir {self.path}", e) from None
        finally:
            os.close(parent)
        try:
            self._lock()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    @property
    def exists(self) -> bool:
        return self.dir_fd >= 0

    def _close(self) -> None:
        # closing the fd drops the flock
        for fd in (self.lock_fd, self.dir_fd):
            if fd >= 0:
                os.close(fd)
        self.lock_fd = self.dir_fd = -1

    def _lock(self) -> None:
        where = f"{self.path}/{_LOCK_NAME}"
        try:
            # host-local's lock file (go-filemutex) is created read-only with mode 0750;
            # O_NONBLOCK: a FIFO planted there must not hang the open
            self.lock_fd = os.open(
                _LOCK_NAME,
                os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                0o750,
                dir_fd=self.dir_fd,
            )
            if not stat.S_ISREG(os.fstat(self.lock_fd).st_mode):
                raise CniError(IO_FAILURE, f"{where} is not a regular file; refusing to use it")
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise CniError(IO_FAILURE, f"{where} is a symlink; refusing to use it") from None
            raise _io_error(where, e) from None
        deadline = time.monotonic() + _LOCK_TIMEOUT
        pause = 0.0005
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR):
                    raise _io_error(f"flock {where}", e) from None
            if time.monotonic() >= deadline:
                raise CniError(
                    TRY_AGAIN_LATER,
                    f"{where} still locked after {_LOCK_TIMEOUT:.0f} s by another IPAM call",
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def read(self, name: str, limit: int = _MAX_RESERVATION_BYTES) -> bytes | None:
        """A regular file's bytes, or None for anything missing, linked, special or too big."""
        try:
            fd = os.open(
                name,
                os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                dir_fd=self.dir_fd,
            )
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return None if size > limit else b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    def names(self) -> list[str]:
        try:
            # host-local walks the directory in lexical order; keep it for held()'s order
            return sorted(os.listdir(self.dir_fd))
        except OSError as e:
            raise _io_error(f"list {self.path}", e) from None

    def reservations(self) -> Iterator[tuple[str, _IP, str]]:
        """(file name, address, owner text trimmed as host-local trims it) of every reservation."""
        for name in self.names():
            ip = _reservation_ip(name)
            if ip is None:
                continue
            data = self.read(name)
            if data is None:
                continue
            yield name, ip, data.decode("utf-8", "surrogateescape").strip(_SPACES)

    def reserve(self, ip: _IP, container_id: str, ifname: str, range_index: int) -> bool:
        """Take an address by creating its file exclusively; False when it is taken already."""
        name = _text(ip)
        try:
            # O_EXCL: the file's existence is the reservation, and a planted symlink counts
            # as taken instead of being followed
            fd = os.open(
                name,
                os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=self.dir_fd,
            )
        except FileExistsError:
            return False
        except OSError as e:
            raise _io_error(f"reserve {self.path}/{name}", e) from None
        try:
            try:
                _write_all(fd, f"{container_id}{_LINE_BREAK}{ifname}".encode())
            finally:
                os.close(fd)
        except OSError as e:
            self.unlink(name)
            raise _io_error(f"write {self.path}/{name}", e) from None
        last = f"{_LAST_RESERVED_PREFIX}{range_index}"
        try:
            fd = os.open(
                last,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=self.dir_fd,
            )
            try:
                _write_all(fd, name.encode())
            finally:
                os.close(fd)
        except OSError as e:
            self.unlink(name)
            raise _io_error(f"write {self.path}/{last}", e) from None
        return True

    def last_reserved(self, range_index: int) -> _IP | None:
        data = self.read(f"{_LAST_RESERVED_PREFIX}{range_index}", 64)
        if data is None:
            return None
        # host-local parses the bytes as they are, without trimming
        return _parse_ip_text(data.decode("ascii", "replace"))

    def unlink(self, name: str) -> bool:
        try:
            os.unlink(name, dir_fd=self.dir_fd)
            return True
        except FileNotFoundError:
            return False
        except OSError as e:
            raise _io_error(f"release {self.path}/{name}", e) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _owner_matches(owner: str, container_id: str, ifname: str) -> bool:
    return owner in (f"{container_id}{_LINE_BREAK}{ifname}", container_id)


# ---------------------------------------------------------------------------
# allocation


def _candidates(range_set: _RangeSet, last: _IP | None) -> Iterator[tuple[_IP, _Range]]:
    """host-local's round-robin order: after the last reserved address, wrapping once.

    Without a usable last address it starts at the first range's start; with one, it
    starts right after it and ends on it. Gateways are never offered.
    """
    ranges = range_set.ranges
    family = ranges[0].family  # one range set holds one family
    index = 0
    cur: int | None = None
    start: int | None = ranges[0].start
    if last is not None and range_set.range_for(last) is not None:
        index = next(i for i, r in enumerate(ranges) if r.contains(last))
        cur, start = last[1], None
    # each pass moves one address forward; the set holds at most this many
    budget = sum(r.end - r.start + 1 for r in ranges) + 2
    while budget > 0:
        budget -= 1
        r = ranges[index]
        if cur is None:
            cur = start = r.start
        else:
            if cur == r.end:
                index = (index + 1) % len(ranges)
                r = ranges[index]
                cur = r.start
            else:
                cur = cur + 1
            if start is None:
                start = cur
            elif cur == start:
                return
        if cur != r.gateway:
            yield (family, cur), r


def _allocate(
    store: _Store,
    range_set: _RangeSet,
    index: int,
    container_id: str,
    ifname: str,
    requested: _IP | None,
) -> tuple[_IP, _Range]:
    prefix = f"failed to allocate for range {index}"
    if requested is not None:
        # host-local applies no duplicate rule to a requested address
        r = range_set.range_for(requested)
        assert r is not None  # the caller matched it to this range set
        if requested[1] == r.gateway:
            raise _invalid(f"{prefix}: requested ip {_text(requested)} is subnet's gateway")
        if not store.reserve(requested, container_id, ifname, index):
            raise CniError(
                TRY_AGAIN_LATER,
                f"{prefix}: requested IP address {_text(requested)} is not available"
                f" in range set {range_set}",
            )
        return requested, r

    taken = set()
    for name, ip, owner in store.reservations():
        taken.add(name)
        if _owner_matches(owner, container_id, ifname) and range_set.range_for(ip) is not None:
            raise CniError(
                ATTACH_FAILED,
                f"{prefix}: {_text(ip)} has been allocated to {container_id},"
                " duplicate allocation is not allowed",
            )
    for ip, r in _candidates(range_set, store.last_reserved(index)):
        # a name already listed is taken without asking the disk; this keeps a full
        # range's scan to one pass over the directory
        if _text(ip) in taken:
            continue
        if store.reserve(ip, container_id, ifname, index):
            return ip, r
    raise CniError(
        TRY_AGAIN_LATER, f"{prefix}: no IP addresses available in range set: {range_set}"
    )


def add(
    ipam: Mapping[str, object],
    network: str,
    container_id: str,
    ifname: str,
    requested: Sequence[str] = (),
) -> dict[str, object]:
    """Reserve one address per range set and return a CNI 1.0.0 IPAM result.

    ``requested`` holds the addresses asked for (CNI_ARGS IP=, runtimeConfig.ips,
    args.cni.ips), each to be given from the range set containing it. On failure
    nothing this call reserved stays reserved.
    """
    config = _parse_config(ipam)
    _check_network(network)
    _check_attachment(container_id, ifname)
    wanted = _parse_requested(requested)
    dns = _read_resolv_conf(config.resolv_conf) if config.resolv_conf else {}

    ips: list[dict[str, str]] = []
    with _Store(config.data_dir, network, create=True) as store:
        reserved: list[str] = []
        try:
            for index, range_set in enumerate(config.range_sets):
                ask = next((ip for ip in wanted if range_set.range_for(ip) is not None), None)
                if ask is not None:
                    wanted.remove(ask)
                ip, r = _allocate(store, range_set, index, container_id, ifname, ask)
                reserved.append(_text(ip))
                ips.append(
                    {
                        "address": f"{_text(ip)}/{r.prefixlen}",
                        "gateway": _text((r.family, r.gateway)),
                    }
                )
            if wanted:
                raise _invalid(
                    "failed to allocate all requested IPs: "
                    + " ".join(_text(ip) for ip in wanted)
                    + " (in no range set)"
                )
        except BaseException:
            for name in reserved:
                try:
                    store.unlink(name)
                except CniError:
                    pass  # the failure being reported matters more than this one
            raise

    result: dict[str, object] = {"cniVersion": "1.0.0", "ips": ips}
    if config.routes:
        result["routes"] = [dict(r) for r in config.routes]
    if dns:
        result["dns"] = dns
    return result


def delete(ipam: Mapping[str, object], network: str, container_id: str, ifname: str) -> None:
    """Release what ``container_id`` + ``ifname`` hold; releasing nothing is success."""
    config = _parse_config(ipam)
    _check_network(network)
    _check_attachment(container_id, ifname)
    with _Store(config.data_dir, network, create=False) as store:
        if not store.exists:
            return
        key = f"{container_id}{_LINE_BREAK}{ifname}"
        entries = list(store.reservations())
        found = False
        for name, _ip, owner in entries:
            if owner == key:
                found = store.unlink(name) or found
        # host-local's DEL releases per range set, falling back to old ID-only files
        # when a pass found none: one range set frees them only when no new-form
        # file matched, two or more always free them
        if not found or len(config.range_sets) > 1:
            for name, _ip, owner in entries:
                if owner == container_id:
                    store.unlink(name)


def held(ipam: Mapping[str, object], network: str, container_id: str, ifname: str) -> list[str]:
    """The addresses ``container_id`` + ``ifname`` hold (old ID-only files included)."""
    config = _parse_config(ipam)
    _check_network(network)
    _check_attachment(container_id, ifname)
    with _Store(config.data_dir, network, create=False) as store:
        if not store.exists:
            return []
        return [
            _text(ip)
            for _name, ip, owner in store.reservations()
            if _owner_matches(owner, container_id, ifname)
        ]


def gc(ipam: Mapping[str, object], network: str, valid: Collection[tuple[str, str]]) -> list[str]:
    """Release every reservation not held by a (container ID, ifname) in ``valid``.

    An old ID-only file stays while its container ID is valid on any interface:
    the file does not say which interface it was for.
    """
    config = _parse_config(ipam)
    _check_network(network)
    keys = {f"{cid.strip(_SPACES)}{_LINE_BREAK}{ifn}" for cid, ifn in valid}
    ids = {cid.strip(_SPACES) for cid, _ifn in valid}
    released: list[str] = []
    with _Store(config.data_dir, network, create=False) as store:
        if not store.exists:
            return []
        for name, _ip, owner in store.reservations():
            legacy = _LINE_BREAK not in owner
            if (owner in ids) if legacy else (owner in keys):
                continue
            if store.unlink(name):
                released.append(name)
    return released
