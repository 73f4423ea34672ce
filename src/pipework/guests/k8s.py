"""Kubernetes pods on a containerd node, by ``k8s:NAMESPACE/POD`` (or ``k8s:POD`` when
one namespace has it), without a kubelet or the CRI API.

Every pod has a sandbox: a task in containerd's ``k8s.io`` namespace whose OCI spec
(the bundle's ``config.json``) carries the CRI plugin's annotations
``io.kubernetes.cri.container-type=sandbox``, ``…sandbox-name`` and
``…sandbox-namespace``. Its process holds the pod's network namespace, which every
container of the pod shares. The look-up reads the bundles of ``k8s.io`` (a pod's
name is no file name), each with a byte budget, and parses only those whose bytes
contain the pod's name. The task itself is then checked as any containerd task is.

On a CRI-O node the pods are in containers/storage, as Podman's containers are (its
``storage.conf`` places the roots): each sandbox's OCI spec is
``<graphroot>/DRIVER-containers/ID/userdata/config.json`` with CRI-O's annotations
``io.kubernetes.cri-o.ContainerType=sandbox``, ``…KubeName`` and ``…Namespace``, and
conmon's ``pidfile`` of its infra (pause) process is beside it under the run root.
That pid counts only while it is in a cgroup naming ``crio-ID`` and a child of a
conmon that root runs for that ID (Podman writes the same store and even the same
``ContainerType`` annotation, never a ``crio-`` cgroup). Without ``/run/crio`` (CRI-O's
socket directory) this costs one stat. A pod whose infra container CRI-O dropped
(``drop_infra_ctr``) has no process to enter and is not found.

A bare name is not looked up as a pod: pod names are unique only within their
namespace, and reading every sandbox's spec on each bare-name attach would make a
busy node pay for it.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ..names import check_guest_name
from . import containerd
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

#: the containerd namespace of the CRI plugin
NAMESPACE = "k8s.io"
TYPE = "io.kubernetes.cri.container-type"
POD_NAME = "io.kubernetes.cri.sandbox-name"
POD_NAMESPACE = "io.kubernetes.cri.sandbox-namespace"
#: an OCI spec is some kilobytes; a bundle's config.json past this is not read
SPEC_BYTES = 1 << 20
#: CRI-O's run directory (its socket's); without it no CRI-O state is read
CRIO_RUN = "/run/crio"
CRIO_TYPE = "io.kubernetes.cri-o.ContainerType"
CRIO_POD_NAME = "io.kubernetes.cri-o.KubeName"
CRIO_POD_NAMESPACE = "io.kubernetes.cri-o.Namespace"
#: sandboxes read at most, so a huge store cannot hold an attach up for long
CRIO_MAX_CONTAINERS = 100_000


class K8sResolver(Resolver):
    name = "k8s"

    def find(self, ref: GuestRef) -> Finding:
        finding = Finding("k8s")
        if ref.kind is None:
            finding.saw.append("pods are named k8s:NAMESPACE/POD")
            return finding
        namespace, pod = containerd.split(ref.value)
        for root in containerd.TASK_ROOTS:
            _find_in(finding, f"{root}/{NAMESPACE}", namespace, pod)
        if not finding.saw:
            finding.saw.append(f"no pod sandbox in containerd namespace {NAMESPACE}")
        if os.path.isdir(CRIO_RUN):
            _find_in_crio(finding, namespace, pod)
        return finding

    def still_in_container(self, pid: int, check: str) -> bool:
        kind, _, ident = check.partition(":")
        if kind == "crio":
            return _is_crio_sandbox(pid, ident)
        return containerd.is_task_process(pid, check)


RESOLVER = K8sResolver()


def _find_in(finding: Finding, directory: str, namespace: str | None, pod: str) -> None:
    for sandbox in containerd.namespaces(directory):
        bundle = f"{directory}/{sandbox}"
        annotations = _annotations(bundle, pod)
        if annotations is None or annotations.get(TYPE) != "sandbox":
            continue
        if annotations.get(POD_NAME) != pod:
            continue
        pod_ns = annotations.get(POD_NAMESPACE)
        if not isinstance(pod_ns, str) or (namespace is not None and pod_ns != namespace):
            continue
        try:
            check_guest_name(pod_ns)  # it becomes part of the guest's label
        except UsageError:
            finding.saw.append(f"sandbox {sandbox}: pod namespace {pod_ns[:40]!r} is not a name")
            continue
        containerd.add_task(finding, "k8s", f"{pod_ns}/{pod}", bundle, sandbox)


def _find_in_crio(finding: Finding, namespace: str | None, pod: str) -> None:
    from . import podman

    store = podman._rootful_store()
    try:
        kinds = sorted(n for n in os.listdir(store.graphroot) if n.endswith("-containers"))
    except OSError as exc:
        finding.saw.append(f"no CRI-O state ({store.graphroot}: {exc.strerror})")
        return
    found = False
    for kind in kinds[:8]:  # one per storage driver, as podman reads them
        try:
            idents = [i for i in os.listdir(f"{store.graphroot}/{kind}") if podman._is_id(i)]
        except OSError:
            continue
        for ident in idents[:CRIO_MAX_CONTAINERS]:
            spec = f"{store.graphroot}/{kind}/{ident}/userdata/config.json"
            annotations = _crio_annotations(spec, pod)
            if annotations is None or annotations.get(CRIO_TYPE) != "sandbox":
                continue
            pod_ns = annotations.get(CRIO_POD_NAMESPACE)
            if annotations.get(CRIO_POD_NAME) != pod or not isinstance(pod_ns, str):
                continue
            if namespace is not None and pod_ns != namespace:
                continue
            found = True
            try:
                check_guest_name(pod_ns)  # it becomes part of the guest's label
            except UsageError:
                finding.saw.append(f"CRI-O sandbox {ident[:12]}: pod namespace is not a name")
                continue
            _add_crio_sandbox(finding, f"{pod_ns}/{pod}", store.runroot, kind, ident)
    if not found:
        finding.saw.append(f"no CRI-O pod sandbox in {store.graphroot}")


def _add_crio_sandbox(finding: Finding, name: str, runroot: str, kind: str, ident: str) -> None:
    from ..names import PID_MAX
    from . import podman

    path = f"{runroot}/{kind}/{ident}/userdata/pidfile"
    raw = (podman._read_text(path, 64, 0) or "").strip()
    pid = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else 0
    if not 0 < pid <= PID_MAX:
        finding.saw.append(f"CRI-O pod {name} has no valid {path} (not started?)")
        return
    if not _is_crio_sandbox(pid, ident):
        finding.saw.append(
            f"CRI-O pod {name} is not running (its pid {pid} has exited, or is not the infra"
            " container's)"
        )
        return
    finding.candidates.append(
        Candidate(
            "k8s",
            name,
            pid,
            f"/proc/{pid}/ns/net",
            f"CRI-O sandbox {ident[:12]}, pid {pid} from {path}",
            check=f"crio:{ident}",
        )
    )
    finding.saw.append(f"CRI-O pod {name} running, pid {pid}")


def _is_crio_sandbox(pid: int, ident: str) -> bool:
    """Whether ``pid`` is CRI-O's infra process of ``ident``: in a cgroup naming
    ``crio-ID`` (``crio-ID.scope`` with systemd, ``…/crio-ID`` with cgroupfs) and a
    child of the conmon root runs for that ID (a user can name a delegated cgroup, not
    start root's conmon)."""
    from . import podman

    if not podman._is_id(ident):
        return False
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as f:
            if f"/crio-{ident}".encode() not in f.read(1 << 16):
                return False
        return podman._child_of_conmon(pid, 0, ident)
    except (OSError, ValueError, IndexError):
        return False


def _crio_annotations(path: str, pod: str) -> dict[str, object] | None:
    """The annotations of a containers/storage container's OCI spec (root's regular
    file, bounded), if it may be the pod's sandbox."""
    from . import podman

    text = podman._read_text(path, SPEC_BYTES, 0)
    if text is None or f'"{pod}"' not in text:  # as in _annotations: most never parsed
        return None
    from .._lowlevel.jsonlite import loads

    try:
        spec = loads(text)
    except ValueError:
        return None
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    return annotations if isinstance(annotations, dict) else None


def _annotations(bundle: str, pod: str) -> dict[str, object] | None:
    """The annotations of the bundle's OCI spec, if it may be the pod's sandbox."""
    try:
        fd = os.open(f"{bundle}/config.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        raw = _read_at_most(fd, SPEC_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    # JSON writes a name without escapes when it has none (pod names have none), so a
    # spec without these bytes cannot be the pod's: most bundles are never parsed
    if len(raw) > SPEC_BYTES or f'"{pod}"'.encode() not in raw:
        return None
    from .._lowlevel.jsonlite import loads

    try:
        spec = loads(raw)
    except ValueError:
        return None
    annotations = spec.get("annotations") if isinstance(spec, dict) else None
    return annotations if isinstance(annotations, dict) else None


def _read_at_most(fd: int, limit: int) -> bytes:
    # in pieces: one read of the whole budget would allocate a megabyte per bundle
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, min(1 << 16, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
