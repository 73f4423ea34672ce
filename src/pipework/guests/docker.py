"""Docker containers, by name, full ID or unique ID prefix, through the Engine API socket.

No ``docker`` subprocess: one HTTP GET on the daemon's unix socket (``DOCKER_HOST``
when it is ``unix://…``, else /var/run/docker.sock) answers in about a millisecond.

The daemon's answer is checked, not trusted (a broken or hostile process may listen
there): one overall deadline and byte budget for the look-up (``unixhttp``), JSON of
bounded nesting (``jsonlite``), an Id of hex digits and a pid in range. A daemon
that takes the connection and then fails is an error naming the step, never a
guest silently not found elsewhere; nothing listening is "not reachable", as if
Docker were not installed. A name the daemon gives is used only if a user could
have typed it (it goes into messages and marks).
"""

from __future__ import annotations

import os
import time

from ..errors import HostStateError, UsageError
from ..names import PID_MAX, check_guest_name
from .base import Candidate, Finding, Resolver
from .daemon import DaemonClient, Unreachable, brief, message, parse_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

DEFAULT_SOCKET = "/var/run/docker.sock"
#: one look-up's whole conversation with the daemon, however slowly it answers
TIMEOUT_S = 10.0
_START_WAIT_S = 3.0  # a container that is starting has Pid 0 for a moment


class DockerResolver(Resolver):
    name = "docker"

    def find(self, ref: GuestRef) -> Finding:
        return find(ref.value)

    def still_in_container(self, pid: int, check: str) -> bool:
        return still_in_container(pid, check)


RESOLVER = DockerResolver()


def socket_path(environ: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """(socket path, or None with the reason it cannot be used)."""
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET, None
    if host.startswith("unix://"):
        return host[len("unix://") :], None
    return None, f"DOCKER_HOST={host} is not a local unix socket"


def find(name: str) -> Finding:
    finding = Finding("docker")
    path, why_not = socket_path()
    if path is None:
        finding.saw.append(why_not or "no socket")
        return finding
    if not os.path.exists(path):
        finding.saw.append(f"daemon not running (no socket at {path})")
        return finding
    daemon = _Daemon(path, name, TIMEOUT_S)
    starting_until = time.monotonic() + _START_WAIT_S
    while True:
        try:
            resp = daemon.get(f"/containers/{name}/json")
        except Unreachable as exc:
            finding.saw.append(f"daemon not reachable at {path} ({exc})")
            return finding
        if resp.status == 404:
            finding.saw.append(f"no container {name}")
            return finding
        if resp.status != 200:
            said = message(resp.body, "message")
            if "multiple ids" in said.lower():
                _list_prefix_matches(finding, daemon, name)
            finding.saw.append(f"daemon answered HTTP {resp.status}: {said}")
            return finding
        info = daemon.json(resp.body)
        if not isinstance(info, dict):
            raise daemon.fail("the answer is JSON but not a container's description")
        cid = info.get("Id")
        if not _is_container_id(cid):
            raise daemon.fail(f"the answer has no valid container Id ({brief(cid)})")
        assert isinstance(cid, str)
        cname = _own_name(info.get("Name"), name)
        raw_state = info.get("State")
        state: dict[str, object] = raw_state if isinstance(raw_state, dict) else {}
        pid = state.get("Pid") or 0
        if type(pid) is not int or not 0 <= pid <= PID_MAX:
            raise daemon.fail(f"the answer has no valid Pid ({brief(pid)})")
        running = state.get("Running") is True
        if running and pid > 0:
            finding.candidates.append(
                Candidate(
                    "docker",
                    cname,
                    pid,
                    f"/proc/{pid}/ns/net",
                    f"Engine API at {path}: container {cid[:12]}, pid {pid}",
                    check=cid,
                )
            )
            finding.saw.append(f"container {cid[:12]} running, pid {pid}")
            return finding
        if running and time.monotonic() < starting_until:
            time.sleep(0.05)  # running but no pid yet: it is being started
            continue
        if running:
            finding.saw.append(
                f"container {cname} ({cid[:12]}) is starting: running, but with no process "
                f"after {_START_WAIT_S:g} s"
            )
        else:
            status = state.get("Status")
            said = status[:40] if isinstance(status, str) and status else "unknown"
            finding.saw.append(f"container {cname} ({cid[:12]}) is not running (state: {said})")
        return finding


class _Daemon(DaemonClient):
    """One look-up's conversation with the Docker daemon (``daemon.DaemonClient``)."""

    __slots__ = ()

    def fail(self, why: str) -> HostStateError:
        return HostStateError(
            f"ask the Docker daemon at {self.path} for container {self.name}: {why}",
            hint="nothing was changed; check the daemon (systemctl status docker), "
            "or point DOCKER_HOST=unix://PATH at the right socket",
        )

    def json(self, body: bytes) -> object:
        try:
            return parse_json(body)
        except ValueError as exc:
            raise self.fail(f"the answer is not valid JSON ({exc})") from None


def _is_container_id(value: object) -> bool:
    # Docker's IDs are 64 hex digits; a short one or a path ("/", which every cgroup
    # path contains) would make the pid check after pinning meaningless.
    return (
        isinstance(value, str)
        and 12 <= len(value) <= 64
        and value.isascii()
        and all(ch in "0123456789abcdef" for ch in value)
    )


def _own_name(value: object, asked: str) -> str:
    """The container's name as the daemon gives it, if it is one a user could have
    typed; else the name the user did type (it goes into messages and marks)."""
    if isinstance(value, str):
        try:
            return check_guest_name(value[1:] if value.startswith("/") else value)
        except UsageError:
            pass
    return asked


def _list_prefix_matches(finding: Finding, daemon: _Daemon, prefix: str) -> None:
    """Name every container an ambiguous ID prefix matches (the API only says "multiple")."""
    try:
        listing = daemon.json(daemon.get("/containers/json?all=1").body)
    except Unreachable:
        return
    for entry in listing if isinstance(listing, list) else []:
        if not isinstance(entry, dict) or not str(entry.get("Id", "")).startswith(prefix):
            continue
        names = entry.get("Names") or ["?"]
        first = str(names[0] if isinstance(names, list) else names).lstrip("/")
        finding.ambiguous.append(f"docker:{first} ({str(entry['Id'])[:12]}, {entry.get('State')})")


def still_in_container(pid: int, container_id: str) -> bool:
    """After pinning: is ``pid`` still a process of the container (not a reused pid)?"""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError:
        return False
    # Read from the host, the paths name the container (/docker/ID, docker-ID.scope),
    # private cgroup namespace or not.
    return bool(container_id) and container_id in text
