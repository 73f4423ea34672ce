"""LXD containers, by name, through the daemon's REST API on its unix socket.

One GET, ``/1.0/instances/NAME/state``, answers the instance's status and its init
pid; no ``lxc`` (LXD's client) subprocess. Incus, LXD's fork, speaks the same API
on its own socket: ``guests.incus`` is this code with Incus's socket and words.

The daemon's answer is checked, not trusted (a broken or hostile process may listen
on the socket): one overall deadline and byte budget (``unixhttp``), JSON of
bounded nesting (``jsonlite``), a pid in range, and the pid must be a process of
the container it is said to be: LXD's containers are LXC containers, in the
payload cgroup ``lxc.payload.NAME``, so a pid outside it (the host's init, a
virtual machine's qemu, which lives in the host's network namespace) is refused.
The same cgroup is checked again after the namespace is pinned.

The socket is ``$LXD_SOCKET``, else ``$LXD_DIR/unix.socket``, else the snap's or
the Debian package's, as LXD's own client looks. ``lxd:NAME`` (and a bare name)
is an instance of the default project; ``lxd:PROJECT/NAME`` one of another
project, whose LXC container is ``PROJECT_NAME`` (cgroup ``lxc.payload.PROJECT_NAME``).
"""

from __future__ import annotations

import os
import time

from ..errors import HostStateError
from ..names import PID_MAX
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar

    from .._lowlevel.unixhttp import HTTPResponse
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
    url = f"/1.0/instances/{instance}/state"
    where = ""
    if project == "default":
        name = instance  # the default project's instances are named without it
    elif project:
        url += f"?project={_query_value(project)}"
        where = f" in project {project}"
    path, named = socket_path(runtime)
    if not named and not os.path.exists(path):
        where = " or ".join(runtime.sockets)
        finding.saw.append(f"daemon not running (no socket at {where})")
        return finding
    daemon = _Daemon(runtime, path, name)
    try:
        resp = daemon.get(url)
    except _Unreachable as exc:
        finding.saw.append(f"daemon not reachable at {path} ({exc})")
        return finding
    if resp.status == 404:
        finding.saw.append(f"no instance {instance}{where}")
        return finding
    if resp.status != 200:
        finding.saw.append(f"daemon answered HTTP {resp.status}: {_message(resp.body)}")
        return finding
    state = daemon.state(resp.body)
    pid = state.get("pid")
    if type(pid) is not int or not 0 <= pid <= PID_MAX:
        raise daemon.fail(f"the answer has no valid pid ({_brief(pid)})")
    status = _status(state.get("status"))
    if state.get("status_code") != _RUNNING or status != "Running":
        finding.saw.append(f"instance {name} is not running (status: {status})")
        return finding
    if pid == 0:
        finding.saw.append(f"instance {name} is running but has no process yet (starting?)")
        return finding
    # LXC's name for the container: another project's instances are PROJECT_NAME
    # (a project's name may not contain "_", so the two cannot be confused).
    lxc_name = f"{project}_{instance}" if where else instance
    if not in_container(pid, lxc_name):
        # A virtual machine's pid is its qemu, in the host's namespace; a pid
        # outside the container's cgroup is never the container's, whoever says so.
        finding.saw.append(
            f"instance {name}: the daemon's pid {pid} is not in the container's cgroup "
            f"lxc.payload.{lxc_name} (a virtual machine? pipework plumbs containers)"
        )
        return finding
    finding.candidates.append(
        Candidate(
            runtime.name,
            name,
            pid,
            f"/proc/{pid}/ns/net",
            f"{runtime.product} API at {path}: instance {name} Running, init pid {pid}",
            check=lxc_name,
        )
    )
    finding.saw.append(f"instance {name} running, pid {pid}")
    return finding


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


class _Unreachable(Exception):
    """Nothing accepts connections on the socket: as if the daemon were not there."""


class _Daemon:
    """One look-up's conversation with the daemon: one overall deadline, and every
    answer that is not a well-formed one an error naming the step."""

    __slots__ = ("deadline", "name", "path", "runtime")

    def __init__(self, runtime: LxdResolver, path: str, name: str) -> None:
        self.runtime = runtime
        self.path = path
        self.name = name
        self.deadline = time.monotonic() + TIMEOUT_S

    def fail(self, why: str) -> HostStateError:
        return HostStateError(
            f"ask the {self.runtime.product} daemon at {self.path} for instance {self.name}: {why}",
            hint=f"nothing was changed; check the daemon ({self.runtime.check_daemon}), "
            f"or point {self.runtime.env_socket}=PATH at the right socket",
        )

    def get(self, url: str) -> HTTPResponse:
        from .._lowlevel import unixhttp

        try:
            return unixhttp.get(self.path, url, timeout=TIMEOUT_S, deadline=self.deadline)
        except unixhttp.ResponseError as exc:  # it took the connection, then failed us
            raise self.fail(str(exc)) from None
        except OSError as exc:  # connect() failed
            raise _Unreachable(exc.strerror or str(exc)) from None

    def state(self, body: bytes) -> dict[str, object]:
        """The ``metadata`` of a synchronous answer: the instance's state."""
        try:
            answer = _parse_json(body)
        except ValueError as exc:
            raise self.fail(f"the answer is not valid JSON ({exc})") from None
        if not isinstance(answer, dict) or answer.get("type") != "sync":
            raise self.fail("the answer is not a synchronous API response")
        metadata = answer.get("metadata")
        if not isinstance(metadata, dict):
            raise self.fail("the answer has no instance state (metadata)")
        return metadata


def _status(value: object) -> str:
    # Shown in messages: only a short word of letters, as the daemon's are.
    if isinstance(value, str) and 0 < len(value) <= 20 and value.isascii() and value.isalpha():
        return value
    return "unknown"


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_json(body: bytes) -> object:
    from .._lowlevel.jsonlite import loads

    return loads(body)


def _message(body: bytes) -> str:
    """The daemon's own words for a refusal (its ``error``), else the body's start."""
    try:
        value = _parse_json(body)
    except ValueError:
        value = None
    msg = value.get("error") if isinstance(value, dict) else None
    text = str(msg) if msg else body[:200].decode("utf-8", "replace").strip()
    return text[:200]
