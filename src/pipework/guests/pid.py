"""A guest named by the pid of any process inside it."""

from __future__ import annotations

import os

from .candidate import Candidate, Finding


def find(value: str) -> Finding:
    finding = Finding("pid")
    pid = int(value)
    if os.path.exists(f"/proc/{pid}/ns/net"):
        finding.candidates.append(
            Candidate("pid", value, pid, f"/proc/{pid}/ns/net", f"process {pid}")
        )
        finding.saw.append(f"process {pid} exists")
    else:
        finding.saw.append(f"no process {pid}")
    return finding
