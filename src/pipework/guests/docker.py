"""Docker containers, by name, full ID or unique ID prefix, through the Engine API socket.

No ``docker`` subprocess: one HTTP GET on the daemon's unix socket (``DOCKER_HOST``
when it is ``unix://…``, else /var/run/docker.sock) answers in about a millisecond.
"""

from __future__ import annotations

import os
import time

from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

DEFAULT_SOCKET = "/var/run/docker.sock"
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
    from .._lowlevel import unixhttp

    deadline = time.monotonic() + _START_WAIT_S
    while True:
        try:
            resp = unixhttp.get(path, f"/containers/{name}/json")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            finding.saw.append(f"daemon not reachable at {path} ({reason})")
            return finding
        if resp.status == 404:
            finding.saw.append(f"no container {name}")
            return finding
        if resp.status != 200:
            message = _message(resp.body)
            if "multiple ids" in message.lower():
                _list_prefix_matches(finding, path, name)
            finding.saw.append(f"daemon answered HTTP {resp.status}: {message}")
            return finding
        info = _parse(resp.body)
        raw_state = info.get("State")
        state: dict[str, object] = raw_state if isinstance(raw_state, dict) else {}
        cid = str(info.get("Id", ""))
        cname = str(info.get("Name", "")).lstrip("/") or name
        pid = state.get("Pid") or 0
        if state.get("Running") and isinstance(pid, int) and pid > 0:
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
        if state.get("Running") and time.monotonic() < deadline:
            time.sleep(0.05)  # running but no pid yet: it is being started
            continue
        status = state.get("Status") or ("running" if state.get("Running") else "not running")
        finding.saw.append(f"container {cname} ({cid[:12]}) exists but is {status}, not running")
        return finding


def _list_prefix_matches(finding: Finding, path: str, prefix: str) -> None:
    """Name every container an ambiguous ID prefix matches (the API only says "multiple")."""
    from .._lowlevel import unixhttp

    try:
        listing = _parse_json(unixhttp.get(path, "/containers/json?all=1").body)
    except OSError:
        return
    for entry in listing if isinstance(listing, list) else []:
        if not isinstance(entry, dict) or not str(entry.get("Id", "")).startswith(prefix):
            continue
        names = entry.get("Names") or ["?"]
        first = str(names[0] if isinstance(names, list) else names).lstrip("/")
        finding.ambiguous.append(f"docker:{first} ({str(entry['Id'])[:12]}, {entry.get('State')})")


def _parse_json(body: bytes) -> object:
    from .._lowlevel.jsonlite import loads

    try:
        return loads(body)
    except ValueError:
        return None


def _parse(body: bytes) -> dict[str, object]:
    value = _parse_json(body)
    return value if isinstance(value, dict) else {}


def _message(body: bytes) -> str:
    msg = _parse(body).get("message")
    return str(msg) if msg else body[:200].decode("utf-8", "replace").strip()


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
