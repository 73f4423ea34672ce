"""LXD containers, by name, through the daemon's REST API on its unix socket.

One GET, ``/1.0/instances/NAME``, says whether the daemon has that instance, that
it is a container (not a virtual machine) and that it runs; no ``lxc`` (LXD's
client) subprocess. Its init pid then comes from the kernel: LXD's containers are
LXC containers, whose processes live in the payload cgroup ``lxc.payload.NAME`` at
the top of each hierarchy, and the first one started is the init. The daemon's
``/1.0/instances/NAME/state`` has the pid too, but gathers every counter of the
container to answer (40 ms, against 2): it is asked only when this process does
not see that cgroup (another cgroup namespace). Incus, LXD's fork, speaks the same
API on its own socket: ``guests.incus`` is this code with Incus's socket and words.

The daemon's answer is checked, not trusted (a broken or hostile process may listen
on the socket): one overall deadline and byte budget (``unixhttp``), JSON of
bounded nesting (``jsonlite``), and a pid it gives must be in range and a process
of that payload cgroup (not the host's init, not a process of a cgroup so named
that a container's root made inside its own). The same cgroup is checked again
after the namespace is pinned.

The socket is ``$LXD_SOCKET``, else ``$LXD_DIR/unix.socket``, else the snap's or
the Debian package's, as LXD's own client looks. ``lxd:NAME`` (and a bare name)
is an instance of the default project; ``lxd:PROJECT/NAME`` one of another
project, whose LXC container is ``PROJECT_NAME`` (cgroup ``lxc.payload.PROJECT_NAME``).
"""

from __future__ import annotations

import os

from ..errors import HostStateError
from ..names import PID_MAX
from .base import Candidate, Finding, Resolver
from .daemon import DaemonClient, Unreachable, brief, message, parse_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar

    from ..names import GuestRef

#: one look-up's whole conversation with the daemon, however slowly it answers
TIMEOUT_S = 10.0
_RUNNING = 103  # LXD's status code for Running (api.Running)


class LxdResolver(Resolver):
    """LXD's instances; ``guests.incus`` subclasses it with Incus's socket and words."""

    name: ClassVar[str] = "lxd"
    #: the daemon's name in messages
    product: ClassVar[str] = "LXD"
    #: the environment variables its client reads: the socket, the daemon's directory
    env_socket: ClassVar[str] = "LXD_SOCKET"
    env_dir: ClassVar[str] = "LXD_DIR"
    #: where the socket is when neither is set, in the order its client looks
    sockets: ClassVar[tuple[str, ...]] = (
        "/var/snap/lxd/common/lxd/unix.socket",
        "/var/lib/lxd/unix.socket",
    )
    #: what to try when the daemon answers badly
    check_daemon: ClassVar[str] = "systemctl status lxd, or snap services lxd"

    def find(self, ref: GuestRef) -> Finding:
        return find(self, ref.value)

    def still_in_container(self, pid: int, check: str) -> bool:
        return in_container(pid, check)


RESOLVER = LxdResolver()


def socket_path(runtime: LxdResolver, environ: dict[str, str] | None = None) -> tuple[str, bool]:
    """(the socket to ask, whether it was named by the environment)."""
    env = os.environ if environ is None else environ
    named = env.get(runtime.env_socket, "")
    if named:
        return named, True
    directory = env.get(runtime.env_dir, "")
    if directory:
        return f"{directory}/unix.socket", True
    for path in runtime.sockets:
        if os.path.exists(path):
            return path, False
    return runtime.sockets[-1], False


def find(runtime: LxdResolver, name: str) -> Finding:
    finding = Finding(runtime.name)
    project, _, instance = name.rpartition("/")
    if not is_instance_name(instance):
        # A Docker-style name (web_1) or a number is never asked of the daemon.
        finding.saw.append(
            f"{instance} cannot be an instance name (a letter, then letters, digits, -)"
        )
        return finding
    if project and not is_project_name(project):
        finding.saw.append(f"{project} cannot be a project name")
        return finding
    query = in_project = ""
    if project == "default":
        name = instance  # the default project's instances are named without it
    elif project:
        query = f"?project={_query_value(project)}"
        in_project = f" in project {project}"
    # LXC's name for the container: another project's instances are PROJECT_NAME
    # (a project's name may not contain "_", so the two cannot be confused).
    lxc_name = f"{project}_{instance}" if in_project else instance
    path, named = socket_path(runtime)
    if not named and not os.path.exists(path):
        finding.saw.append(f"daemon not running (no socket at {' or '.join(runtime.sockets)})")
        return finding
    daemon = _Daemon(runtime, path, name)
    try:
        resp = daemon.get(f"/1.0/instances/{instance}{query}")
    except Unreachable as exc:
        finding.saw.append(f"daemon not reachable at {path} ({exc})")
        return finding
    if resp.status == 404:
        finding.saw.append(f"no instance {instance}{in_project}")
        return finding
    if resp.status != 200:
        finding.saw.append(f"daemon answered HTTP {resp.status}: {message(resp.body, 'error')}")
        return finding
    info = daemon.metadata(resp.body, "the instance")
    kind = _word(info.get("type"))
    status = _word(info.get("status"))
    if kind != "container":
        finding.saw.append(
            f"instance {name} is a {kind}, not a container: pipework plumbs containers"
        )
        return finding
    if info.get("status_code") != _RUNNING or status != "Running":
        finding.saw.append(f"instance {name} is not running (status: {status})")
        return finding
    # The init pid from the kernel: the process of the payload cgroup that started
    # first. The daemon's /state has it too, but gathers every counter of the
    # container to answer (about 40 ms, against 2 for the instance).
    pid = init_pid(lxc_name)
    how = f"cgroup lxc.payload.{lxc_name}"
    if pid is None:
        pid = _pid_from_state(daemon, f"/1.0/instances/{instance}/state{query}")
        how = "the daemon's state"
        if pid is None:
            finding.saw.append(f"instance {name} is running but has no process yet (starting?)")
            return finding
        if not in_container(pid, lxc_name):
            # A pid outside the container's cgroup is never the container's,
            # whoever says so (a lying daemon; the host's init).
            finding.saw.append(
                f"instance {name}: the daemon's pid {pid} is not in the container's cgroup "
                f"lxc.payload.{lxc_name}"
            )
            return finding
    finding.candidates.append(
        Candidate(
            runtime.name,
            name,
            pid,
            f"/proc/{pid}/ns/net",
            f"{runtime.product} API at {path}: container {name} Running; init pid {pid} from {how}",
            check=lxc_name,
        )
    )
    finding.saw.append(f"container {name} running, pid {pid}")
    return finding


def _pid_from_state(daemon: _Daemon, url: str) -> int | None:
    """The container's init pid as the daemon's state gives it (None: none yet), for
    hosts where its payload cgroup is not where this process sees cgroups."""
    resp = daemon.get(url)
    if resp.status != 200:
        raise daemon.fail(f"its state: HTTP {resp.status}: {message(resp.body, 'error')}")
    pid = daemon.metadata(resp.body, "the instance's state").get("pid")
    if type(pid) is not int or not 0 <= pid <= PID_MAX:
        raise daemon.fail(f"the answer has no valid pid ({brief(pid)})")
    return pid or None


def init_pid(lxc_name: str) -> int | None:
    """The first process of LXC's payload cgroup for ``lxc_name``, at the top of the
    hierarchies (LXC >= 4.0, or 3.1), or None when there is none."""
    from . import cgroup

    mounts = cgroup.standard_mounts() or cgroup.read_mounts()
    payloads = (f"lxc.payload.{lxc_name}", f"lxc.payload/{lxc_name}")
    for match in cgroup.find_direct(mounts, lxc_name):
        if match.relpath in payloads:
            pids = cgroup.procs(match)
            if pids:
                return pids[0]
    return None


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def is_instance_name(name: str) -> bool:
    """Whether LXD (or Incus) could have an instance so named: a host name's label,
    1-63 letters, digits and hyphens, beginning with a letter, not ending with a hyphen."""
    return (
        0 < len(name) <= 63
        and name[0].isascii()
        and name[0].isalpha()
        and name[-1] != "-"
        and _NAME_CHARS.issuperset(name)
    )


_PROJECT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.+@")


def is_project_name(name: str) -> bool:
    """A name a user could give a project (LXD refuses "_" in them: it joins a
    project's name to its instances' in LXC's names)."""
    return 0 < len(name) <= 63 and name[0] not in "-." and _PROJECT_CHARS.issuperset(name)


def _query_value(text: str) -> str:
    # percent-encoded: in a query, "+" would be read as a space
    return "".join(ch if ch.isalnum() or ch in "-._~" else f"%{ord(ch):02X}" for ch in text)


def in_container(pid: int, check: str) -> bool:
    """Is ``pid`` a process of the LXC container ``check`` (LXC's NAME for it) names?

    LXD and Incus run their containers with LXC, in the payload cgroup at the top
    of each hierarchy: ``/lxc.payload.NAME`` (``/lxc.payload/NAME`` with LXC 3.1),
    or below it. Only at the top: a container's root may make a cgroup of that
    name inside its own, and must not pass for the container the daemon runs.
    """
    from .cgroup import pid_in_cgroup

    return pid_in_cgroup(pid, f"lxc.payload.{check}") or pid_in_cgroup(pid, f"lxc.payload/{check}")


class _Daemon(DaemonClient):
    """One look-up's conversation with the LXD or Incus daemon (``daemon.DaemonClient``)."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: LxdResolver, path: str, name: str) -> None:
        super().__init__(path, name, TIMEOUT_S)
        self.runtime = runtime

    def fail(self, why: str) -> HostStateError:
        return HostStateError(
            f"ask the {self.runtime.product} daemon at {self.path} for instance {self.name}: {why}",
            hint=f"nothing was changed; check the daemon ({self.runtime.check_daemon}), "
            f"or point {self.runtime.env_socket}=PATH at the right socket",
        )

    def metadata(self, body: bytes, what: str) -> dict[str, object]:
        """The ``metadata`` of a synchronous answer (``what`` it describes)."""
        try:
            answer = parse_json(body)
        except ValueError as exc:
            raise self.fail(f"the answer is not valid JSON ({exc})") from None
        if not isinstance(answer, dict) or answer.get("type") != "sync":
            raise self.fail("the answer is not a synchronous API response")
        metadata = answer.get("metadata")
        if not isinstance(metadata, dict):
            raise self.fail(f"the answer has no metadata (describing {what})")
        return metadata


def _word(value: object) -> str:
    # A status or type, shown in messages: only a short word, as the daemon's are.
    if (
        isinstance(value, str)
        and 0 < len(value) <= 20
        and value.isascii()
        and value.replace("-", "").isalpha()
    ):
        return value
    return "unknown"
