"""nerdctl containers by name: ``nerdctl:NAME`` or ``nerdctl:NAMESPACE/NAME``.

nerdctl keeps its names itself (containerd has none): under its data root
``/var/lib/nerdctl/<ADDRHASH>/names/<NAMESPACE>/<NAME>``, a file holding the
container's ID (ADDRHASH: the first 8 hex digits of the SHA-256 of containerd's
socket path; every data store is looked in, so none is computed). The ID then
names a containerd task, found and checked as ``containerd:NAMESPACE/ID`` is.
Without a namespace every namespace is asked; a name two of them hold is ambiguous.
Rootless nerdctl (``~/.local/share/nerdctl``) is not looked in.
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

#: nerdctl's data root (``nerdctl --data-root``); tests point it elsewhere
DATA_ROOT = "/var/lib/nerdctl"
_ID_BYTES = 128  # a container ID: at most 76 characters


class NerdctlResolver(Resolver):
    name = "nerdctl"

    def find(self, ref: GuestRef) -> Finding:
        namespace, name = containerd.split(ref.value)
        finding = Finding("nerdctl")
        for store in containerd.namespaces(DATA_ROOT):
            names = f"{DATA_ROOT}/{store}/names"
            for ns in [namespace] if namespace else containerd.namespaces(names):
                _find_name(finding, f"{names}/{ns}/{name}", ns, name)
        if not finding.saw:
            where = f"namespace {namespace}" if namespace else "any namespace"
            finding.saw.append(f"no name {name} in {where} under {DATA_ROOT}")
        return finding

    def still_in_container(self, pid: int, check: str) -> bool:
        return containerd.is_task_process(pid, check)


RESOLVER = NerdctlResolver()


def _find_name(finding: Finding, path: str, ns: str, name: str) -> None:
    ident = _read_id(path)
    if ident is None:
        return
    if not ident:
        finding.saw.append(f"{path} holds no container ID")
        return
    bundles = [bundle for task_ns, bundle in containerd.task_dirs(ns, ident) if task_ns == ns]
    if not bundles:
        finding.saw.append(f"container {ns}/{name} ({ident[:12]}) has no running task")
    for bundle in bundles:
        containerd.add_task(finding, "nerdctl", f"{ns}/{name}", bundle, ident)


def _read_id(path: str) -> str | None:
    """The ID in a name file: None if there is no such file, "" if it holds no ID."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        raw = os.read(fd, _ID_BYTES + 1)
    except OSError:
        return ""
    finally:
        os.close(fd)
    text = raw.decode("ascii", "replace").strip()
    try:
        # a path component next: never a '/', '..' or anything but an ID's characters
        return check_guest_name(text) if len(raw) <= _ID_BYTES else ""
    except UsageError:
        return ""
