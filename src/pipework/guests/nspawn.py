"""systemd-nspawn machines, by machine name (``nspawn:NAME``, ``machine:NAME``, or bare).

Two ways, the cheap one first. systemd-machined registers each machine it knows in
``/run/systemd/machines/NAME`` (``LEADER=`` the container's first process): one
small file, read for every look-up. A machine started with ``--register=no``, or on
a host where machined does not run (no systemd as PID 1), is known only to its
``systemd-nspawn`` process: then every process is looked at (a scan of /proc, one
small read each, milliseconds on a busy host), so that scan is the slow search,
asked only when no runtime found the name the fast way. A bare name that a Docker
container and an unregistered machine share is therefore the container's; the
prefix ``nspawn:`` asks for the machine.

Only processes of the host's root count: any user can name a process
``systemd-nspawn`` and give it the argv ``-M web``, so a process whose real or
effective uid is not 0 is ignored. Its command line is then read the way
systemd-nspawn's getopt reads it (options end at ``--`` or at the first word that is
not one; an option this parser does not know makes the process unreadable, never
guessed at): the machine is ``--machine``/``-M``, else the name of the ``--directory``
/``-D`` (or ``--image``/``-i``, less ``.raw``). The container is the child of that
process in another pid namespace (systemd-nspawn is the container's parent).
"""

from __future__ import annotations

import os

from .._lowlevel import procfs
from ..errors import UsageError
from ..names import PID_MAX, check_guest_name
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

#: where systemd-machined records each machine it knows (tests point it at a tree)
MACHINES_DIR = "/run/systemd/machines"
#: where ``machinectl`` keeps machine images: a stopped machine is said to be there
IMAGES_DIR = "/var/lib/machines"
PROGRAM = "systemd-nspawn"
_PROGRAM_COMM = PROGRAM.encode()  # as /proc/PID/stat names it (14 bytes: not truncated)

_STATE_MAX = 64 * 1024  # a machined record is a few hundred bytes
_STAT_MAX = 4096  # /proc/PID/stat: a 15-byte name and 52 numbers
_STATUS_MAX = 16 * 1024
_CMDLINE_MAX = 256 * 1024  # more than any real systemd-nspawn command line


class NspawnResolver(Resolver):
    name = "nspawn"

    def find(self, ref: GuestRef) -> Finding:
        return find_registered(ref.value)

    def find_more(self, ref: GuestRef) -> Finding:
        return find_running(ref.value)

    def still_in_container(self, pid: int, check: str) -> bool:
        return still_in_container(pid, check)


RESOLVER = NspawnResolver()


# ---------------------------------------------------------------- machined's registry


def find_registered(name: str) -> Finding:
    """The machine machined registered as ``name``: its record's LEADER."""
    finding = Finding("nspawn")
    check_guest_name(name, "machine name")  # it becomes a path below
    path = f"{MACHINES_DIR}/{name}"
    record = _read_record(path)
    if record is None:
        if os.path.isdir(MACHINES_DIR):
            finding.saw.append(f"machined has no machine {name} (no {path})")
        else:
            finding.saw.append(f"machined is not running (no {MACHINES_DIR})")
        return finding
    if isinstance(record, str):
        finding.saw.append(f"{path}: {record}")
        return finding
    if record.get("NAME", name) != name:
        finding.saw.append(f"{path} names another machine; ignored")
        return finding
    klass = record.get("CLASS", "container")
    if klass != "container":
        # a VM's leader is its hypervisor, a process of the host's own namespace
        finding.saw.append(f"machine {name} is a {_brief(klass)}, not a container")
        return finding
    leader = _pid(record.get("LEADER", ""))
    if leader is None:
        state = record.get("STATE", "")
        said = f" (state: {_brief(state)})" if state else ""
        finding.saw.append(f"machine {name} has no valid LEADER in {path}{said}")
        return finding
    finding.candidates.append(
        Candidate(
            "nspawn",
            name,
            leader,
            f"/proc/{leader}/ns/net",
            f"machined record {path}: leader pid {leader}",
            check=f"machined:{name}",
        )
    )
    finding.saw.append(f"machined: {name} runs, leader pid {leader}")
    return finding


def _read_record(path: str) -> dict[str, str] | str | None:
    """machined's KEY=VALUE record; None when absent, a reason when unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    try:
        st = os.fstat(fd)
        # machined's, so root's (or, in tests, the user's running pipework)
        if not (st.st_mode & 0o170000 == 0o100000 and st.st_uid in (0, os.geteuid())):
            return "not a regular file of root's; ignored"
        data = _read_fd(fd, _STATE_MAX)
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    finally:
        os.close(fd)
    if data is None:
        return f"larger than {_STATE_MAX} bytes; ignored"
    record: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, eq, value = line.partition("=")
        if eq and not key.startswith("#"):
            record[key.strip()] = value.strip()
    return record


# ---------------------------------------------------------------- the processes


def find_running(name: str) -> Finding:
    """The ``systemd-nspawn`` processes running machine ``name``, and their container."""
    finding = Finding("nspawn (processes)")
    check_guest_name(name, "machine name")
    procs = _scan()
    programs = {pid for pid, (comm, _ppid) in procs.items() if comm == _PROGRAM_COMM}
    machines: list[str] = []
    strangers: list[str] = []
    for pid in sorted(programs):
        if procs[pid][1] in programs:
            continue  # a fork of a systemd-nspawn (its container before exec, a stub init)
        if not _is_roots(pid):
            strangers.append(str(pid))
            continue
        argv = _cmdline(pid)
        try:
            running = machine_name(argv) if argv is not None else None
        except _Unreadable as exc:
            finding.saw.append(f"cannot read the command line of {PROGRAM} pid {pid}: {exc}")
            continue
        if running is None:
            continue
        machines.append(running)
        if running != name:
            continue
        leader = _container_of(pid, procs)
        if leader is None:
            finding.saw.append(
                f"{PROGRAM} pid {pid} runs machine {name} but has no container process "
                "(starting or stopping?)"
            )
            continue
        finding.candidates.append(
            Candidate(
                "nspawn",
                name,
                leader,
                f"/proc/{leader}/ns/net",
                f"{PROGRAM} pid {pid} (--register=no?): container pid {leader}",
                check=f"parent:{pid}",
            )
        )
        finding.saw.append(f"{PROGRAM} pid {pid} runs {name}, container pid {leader}")
    if strangers:
        shown = ", ".join(strangers[:8]) + (", ..." if len(strangers) > 8 else "")
        finding.saw.append(f"ignored {PROGRAM} pid {shown}: not run by root")
    if not finding.candidates:
        finding.saw.append(_not_running(name, machines, len(procs)))
    return finding


def _not_running(name: str, machines: list[str], scanned: int) -> str:
    if os.path.exists(f"{IMAGES_DIR}/{name}") or os.path.exists(f"{IMAGES_DIR}/{name}.raw"):
        said = f"machine {name} is in {IMAGES_DIR} but is not running"
    else:
        said = f"no {PROGRAM} process runs machine {name}"
    if machines:
        shown = ", ".join(machines[:8]) + (", ..." if len(machines) > 8 else "")
        return f"{said} (running: {shown})"
    return f"{said} (no {PROGRAM} of root's among {scanned} processes)"


def _scan() -> dict[int, tuple[bytes, int]]:
    """Every process's (command name, parent pid): one read of /proc/PID/stat each.
    Bounded: pids are below PID_MAX, and each read is at most a page."""
    root = procfs.PROC_ROOT
    procs: dict[int, tuple[bytes, int]] = {}
    try:
        entries = os.listdir(root)
    except OSError:
        return procs
    for entry in entries:
        if not (entry.isascii() and entry.isdigit()) or len(entry) > 7:
            continue
        stat = _read_small(f"{root}/{entry}/stat", _STAT_MAX)
        if stat is None:
            continue  # exited since the listing
        parsed = _parse_stat(stat)
        if parsed is not None:
            procs[int(entry)] = parsed
    return procs


def _parse_stat(stat: bytes) -> tuple[bytes, int] | None:
    # "PID (COMM) STATE PPID ...": the name may hold spaces and ')', so from the last ')'
    start, end = stat.find(b"("), stat.rfind(b")")
    if start < 0 or end < start:
        return None
    fields = stat[end + 2 :].split(maxsplit=2)
    if len(fields) < 2 or not fields[1].isdigit():
        return None
    return stat[start + 1 : end], int(fields[1])


def _is_roots(pid: int) -> bool:
    """Whether the process's real and effective uids are 0 (its /proc directory's owner
    would not do: a process that is not dumpable shows as root's)."""
    status = _read_small(f"{procfs.PROC_ROOT}/{pid}/status", _STATUS_MAX)
    for line in (status or b"").splitlines():
        if line.startswith(b"Uid:"):
            uids = line[4:].split()
            return len(uids) >= 2 and uids[0] == b"0" and uids[1] == b"0"
    return False


def _cmdline(pid: int) -> list[str] | None:
    raw = _read_small(f"{procfs.PROC_ROOT}/{pid}/cmdline", _CMDLINE_MAX)
    if not raw:
        return None
    return raw.rstrip(b"\0").decode("utf-8", "surrogateescape").split("\0")


def _container_of(nspawn: int, procs: dict[int, tuple[bytes, int]]) -> int | None:
    """The child of ``nspawn`` in a pid namespace of its own: the container's PID 1."""
    own = _pidns(nspawn)
    if own is None:
        return None
    for pid in sorted(p for p, (_comm, ppid) in procs.items() if ppid == nspawn):
        theirs = _pidns(pid)
        if theirs is not None and theirs != own:
            return pid
    return None


def _pidns(pid: int) -> str | None:
    try:
        return os.readlink(f"{procfs.PROC_ROOT}/{pid}/ns/pid")
    except OSError:
        return None


def still_in_container(pid: int, check: str) -> bool:
    """After pinning: does ``pid`` still belong to the machine? ``machined:NAME``: it is
    still the record's leader; ``parent:PID``: its parent is still that systemd-nspawn."""
    kind, _, what = check.partition(":")
    if kind == "machined":
        record = _read_record(f"{MACHINES_DIR}/{what}")
        return isinstance(record, dict) and _pid(record.get("LEADER", "")) == pid
    stat = _read_small(f"{procfs.PROC_ROOT}/{pid}/stat", _STAT_MAX)
    parsed = _parse_stat(stat) if stat is not None else None
    return parsed is not None and str(parsed[1]) == what


# ---------------------------------------------------------------- the command line

# systemd-nspawn 252's options, as its getopt_long reads them (checked against the
# program: "requires an argument" / "doesn't allow an argument").
_SHORT_WITH_VALUE = frozenset("DuLMSEipZ")
_SHORT_FLAGS = frozenset("habjnqxPU")
_REQUIRED, _OPTIONAL, _NONE = 1, 2, 0
_NO_VALUE = (
    "help version quiet no-pager ephemeral read-only as-pid2 boot keep-unit private-network "
    "network-veth pipe share-system"
)
_OPTIONAL_VALUE = "volatile private-users private-users-chown"
_REQUIRED_VALUE = (
    "directory template image oci-bundle root-hash root-hash-sig verity-data pivot-root "
    "chdir setenv user kill-signal notify-ready suppress-sync machine hostname uuid slice "
    "property register private-users-ownership network-interface network-macvlan "
    "network-ipvlan network-veth-extra network-bridge network-zone network-namespace-path "
    "port capability drop-capability ambient-capability no-new-privileges "
    "system-call-filter selinux-context selinux-apifs-context rlimit oom-score-adjust "
    "cpu-affinity personality resolv-conf timezone link-journal bind bind-ro inaccessible "
    "tmpfs overlay overlay-ro bind-user console set-credential load-credential settings"
)
_LONG: dict[str, int] = {}
for _words, _arity in (
    (_NO_VALUE, _NONE),
    (_OPTIONAL_VALUE, _OPTIONAL),
    (_REQUIRED_VALUE, _REQUIRED),
):
    _LONG.update(dict.fromkeys(_words.split(), _arity))
_NAMING = {"D": "directory", "M": "machine", "i": "image"}


class _Unreadable(Exception):
    """A command line this parser cannot read the way systemd-nspawn did."""


def machine_name(argv: list[str]) -> str | None:
    """The machine name a systemd-nspawn command line gives, or None if it gives none
    that could be a guest's name. Raises _Unreadable on what it does not know."""
    given: dict[str, str] = {}
    i = 1
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--" or not word.startswith("-") or word == "-":
            break  # "+" in nspawn's getopt string: options end at the first other word
        if word.startswith("--"):
            option, eq, value = word[2:].partition("=")
            option = _long_option(option)
            arity = _LONG[option]
            if arity == _REQUIRED and not eq:
                if i >= len(argv):
                    raise _Unreadable(f"--{option} without its value")
                value = argv[i]
                i += 1
            elif arity == _NONE and eq:
                raise _Unreadable(f"--{option} given a value")
            given[option] = value
            continue
        j = 1
        while j < len(word):
            letter = word[j]
            j += 1
            if letter in _SHORT_FLAGS:
                continue
            if letter not in _SHORT_WITH_VALUE:
                raise _Unreadable(f"unknown option -{_brief(letter)}")
            value = word[j:]
            if not value:
                if i >= len(argv):
                    raise _Unreadable(f"-{letter} without its value")
                value = argv[i]
                i += 1
            given[_NAMING.get(letter, letter)] = value
            break
    return _name_from(given)


def _long_option(option: str) -> str:
    """An option's full name: getopt_long takes any unambiguous abbreviation."""
    if option in _LONG:
        return option
    matches = [name for name in _LONG if name.startswith(option)] if option else []
    if len(matches) != 1:
        raise _Unreadable(f"unknown option --{_brief(option)}")
    return matches[0]


def _name_from(given: dict[str, str]) -> str | None:
    # nspawn: an empty --machine= means "not given"; else the name of the directory
    # or image (an image's without .raw); the last of each option wins, as here
    name = given.get("machine", "")
    if not name:
        path = given.get("directory") or given.get("image") or ""
        name = path.rstrip("/").rpartition("/")[2]
        if "directory" not in given and name.endswith(".raw"):
            name = name[: -len(".raw")]
    if not name:
        return None
    try:
        return check_guest_name(name, "machine name")
    except UsageError:
        return None  # no name a user could type: never this guest


# ---------------------------------------------------------------- small reads


def _read_small(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_fd(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_fd(fd: int, limit: int) -> bytes | None:
    """At most ``limit`` bytes; None if there are more."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


def _pid(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > 7:
        return None
    pid = int(text)
    return pid if 1 < pid <= PID_MAX else None


def _brief(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return repr(shown)[1:-1]
