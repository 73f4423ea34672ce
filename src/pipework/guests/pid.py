"""A guest named by the pid of any process inside it."""

from __future__ import annotations

import os

from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef


class PidResolver(Resolver):
    name = "pid"

    def find(self, ref: GuestRef) -> Finding:
        finding = Finding("pid")
        pid = int(ref.value)
        if os.path.exists(f"/proc/{pid}/ns/net"):
            finding.candidates.append(
                Candidate("pid", ref.value, pid, f"/proc/{pid}/ns/net", f"process {pid}")
            )
            finding.saw.append(f"process {pid} exists")
        else:
            finding.saw.append(f"no process {pid}")
        return finding


RESOLVER = PidResolver()
