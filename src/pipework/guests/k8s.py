"""Kubernetes pods on a containerd node, by ``k8s:NAMESPACE/POD`` (or ``k8s:POD`` when
one namespace has it), without a kubelet or the CRI API.

Every pod has a sandbox: a task in containerd's ``k8s.io`` namespace whose OCI spec
(the bundle's ``config.json``) carries the CRI plugin's annotations
``io.kubernetes.cri.container-type=sandbox``, ``…sandbox-name`` and
``…sandbox-namespace``. Its process holds the pod's network namespace, which every
container of the pod shares. The look-up reads the bundles of ``k8s.io`` (a pod's
name is no file name), each with a byte budget, and parses only those whose bytes
contain the pod's name. The task itself is then checked as any containerd task is.

A bare name is not looked up as a pod: pod names are unique only within their
namespace, and reading every sandbox's spec on each bare-name attach would make a
busy node pay for it.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ..names import check_guest_name
from . import containerd
from .base import Finding, Resolver

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
        return finding

    def still_in_container(self, pid: int, check: str) -> bool:
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
