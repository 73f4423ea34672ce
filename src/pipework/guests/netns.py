"""Named network namespaces (``ip netns add NAME``) and namespace files given by path."""

from __future__ import annotations

import os

from ..netns import NETNS_RUN_DIRS, named_netns_path
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef


class NetnsResolver(Resolver):
    name = "netns"

    def find(self, ref: GuestRef) -> Finding:
        return find_path(ref.value) if ref.is_path else find(ref.value)


RESOLVER = NetnsResolver()


def find(name: str) -> Finding:
    finding = Finding("netns")
    path = named_netns_path(name)
    if path is None:
        finding.saw.append(f"no {NETNS_RUN_DIRS[0]}/{name}")
    else:
        finding.candidates.append(Candidate("netns", name, None, path, f"named netns {path}"))
        finding.saw.append(f"found {path}")
    return finding


def find_path(path: str) -> Finding:
    finding = Finding("netns")
    if os.path.exists(path):
        finding.candidates.append(Candidate("netns", path, None, path, f"netns file {path}"))
        finding.saw.append(f"found {path}")
    else:
        finding.saw.append(f"no such file {path}")
    return finding
