"""containerd tasks (``ctr run``, nerdctl, Docker's own containerd, Kubernetes), by
``containerd:NAMESPACE/ID``, ``containerd:ID`` or a bare ID.

No ``ctr`` subprocess and no gRPC: the runtime v2 shim keeps each running task's
bundle at ``<state>/io.containerd.runtime.v2.task/<namespace>/<id>/``, whose
``init.pid`` names the task's first process. One stat per namespace finds an ID,
however many other tasks the host runs. The state roots read are containerd's own
(Debian's package), Docker's private containerd (namespace ``moby``: a Docker
container is found here too, and ``guests.choose`` merges the two views, as they
share one netns) and k3s's.

A task that stopped keeps its bundle, and its ``init.pid`` then names a pid the
kernel may have given to anyone since. So the process is taken as the task's only
while its cgroup names the task's ID (``/NAMESPACE/ID`` as ``ctr`` places it,
``/docker/ID``, ``cri-containerd-ID.scope``; read from the host, that path is the
runtime's, not the container's, to choose) and its parent is a containerd shim run
by root. The same check runs again after pinning.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ..names import PID_MAX, check_guest_name
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..names import GuestRef

_V2 = "io.containerd.runtime.v2.task"
#: the runtime v2 state directories looked in, in this order (tests point it elsewhere)
TASK_ROOTS: tuple[str, ...] = (
    f"/run/containerd/{_V2}",  # containerd's default state directory
    f"/run/docker/containerd/daemon/{_V2}",  # Docker's own containerd (namespace moby)
    f"/run/k3s/containerd/{_V2}",  # k3s and rke2
)
#: where a Docker container lives in Docker's containerd
DOCKER_NAMESPACE = "moby"
_PID_BYTES = 32  # init.pid holds a decimal pid; anything longer is not one
_CGROUP_BYTES = 64 * 1024


class ContainerdResolver(Resolver):
    name = "containerd"

    def find(self, ref: GuestRef) -> Finding:
        namespace, ident = split(ref.value)
        finding = Finding("containerd")
        tasks = list(task_dirs(namespace, ident))
        if not tasks:
            where = f"namespace {namespace}" if namespace else "any namespace"
            finding.saw.append(f"no running task {ident} in {where}")
        for ns, bundle in tasks:
            add_task(finding, "containerd", f"{ns}/{ident}", bundle, ident)
        return finding

    def still_in_container(self, pid: int, check: str) -> bool:
        return is_task_process(pid, check)


RESOLVER = ContainerdResolver()


def split(value: str) -> tuple[str | None, str]:
    """``NAMESPACE/NAME`` or ``NAME`` -> (namespace or None, name), both checked: each
    becomes one component of a path."""
    namespace, slash, name = value.rpartition("/")
    if slash:
        check_guest_name(namespace, "namespace")
    return (namespace if slash else None), check_guest_name(name)


def namespaces(root: str) -> list[str]:
    """The namespaces under a state root that could be path components (sorted)."""
    try:
        listed = os.listdir(root)
    except OSError:
        return []
    return sorted(ns for ns in listed if _is_component(ns))


def _is_component(name: str) -> bool:
    try:
        check_guest_name(name)
    except UsageError:
        return False
    return True


def task_dirs(namespace: str | None, ident: str) -> Iterator[tuple[str, str]]:
    """(namespace, bundle directory) of every task ``ident`` in ``namespace`` (or in
    any namespace), over every state root. ``ident`` and ``namespace`` are checked."""
    for root in TASK_ROOTS:
        for ns in [namespace] if namespace else namespaces(root):
            bundle = f"{root}/{ns}/{ident}"
            if os.path.isdir(bundle):
                yield ns, bundle


def add_task(finding: Finding, runtime: str, name: str, bundle: str, ident: str) -> None:
    """The task in ``bundle`` as a candidate of ``finding`` if it runs, else why not."""
    pid = read_init_pid(bundle)
    if pid is None:
        finding.saw.append(f"task {name} has no valid {bundle}/init.pid (not started?)")
        return
    if not is_task_process(pid, ident):
        finding.saw.append(
            f"task {name} is not running (its init pid {pid} has exited, or is not the task's)"
        )
        return
    finding.candidates.append(
        Candidate(
            runtime, name, pid, f"/proc/{pid}/ns/net", f"task {bundle}, pid {pid}", check=ident
        )
    )
    finding.saw.append(f"task {name} running, pid {pid}")


def read_init_pid(bundle: str) -> int | None:
    """The pid in ``bundle/init.pid``, if the file holds one in range."""
    try:
        fd = os.open(f"{bundle}/init.pid", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        raw = os.read(fd, _PID_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = raw.strip()
    if not text or len(raw) > _PID_BYTES or not text.isdigit():
        return None
    pid = int(text)
    return pid if 1 <= pid <= PID_MAX else None


def is_task_process(pid: int, ident: str) -> bool:
    """Whether ``pid`` is task ``ident``'s process: in the task's cgroup, and a child
    of a containerd shim that root runs. (A user may create cgroups of any name in a
    subtree systemd delegated to them, and wait for a stopped task's pid to be theirs:
    the parent, a process only root can start there, is what they cannot fake.)"""
    return in_task_cgroup(pid, ident) and parent_is_shim(pid)


def parent_is_shim(pid: int) -> bool:
    """Whether ``pid``'s parent is a containerd shim of root's (containerd-shim-runc-v2
    and its kind reap the task's first process; its comm is cut to 15 bytes)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read(4096)
        fields = stat[stat.rfind(b")") + 2 :].split()
        ppid = int(fields[1])  # field 4 of proc(5): the second after the name
        if ppid <= 1 or os.stat(f"/proc/{ppid}").st_uid != 0:
            return False
        with open(f"/proc/{ppid}/comm", "rb") as f:
            return f.read(64).rstrip(b"\n").startswith(b"containerd-shim")
    except (OSError, IndexError, ValueError):
        return False


def in_task_cgroup(pid: int, ident: str) -> bool:
    """Whether ``pid``'s cgroup names the task ``ident``: a path component equal to it
    (cgroupfs: /NAMESPACE/ID, /docker/ID, /kubepods/.../ID) or a systemd scope ending
    in it (docker-ID.scope, cri-containerd-ID.scope)."""
    try:
        fd = os.open(f"/proc/{pid}/cgroup", os.O_RDONLY)
    except OSError:
        return False
    try:
        raw = os.read(fd, _CGROUP_BYTES)
    except OSError:
        return False
    finally:
        os.close(fd)
    return cgroup_names_task(raw.decode("utf-8", "surrogateescape"), ident)


def cgroup_names_task(text: str, ident: str) -> bool:
    """Whether a /proc/PID/cgroup text places the process in task ``ident``'s cgroup."""
    scope = f"-{ident}.scope"
    for line in text.splitlines():
        # HIERARCHY:CONTROLLERS:PATH, v1 and v2 ("0::PATH") alike
        for part in line.split(":", 2)[-1].split("/"):
            if part == ident or part.endswith(scope):
                return True
    return False
