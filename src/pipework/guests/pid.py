"""A guest named by the pid of any process inside it."""

from __future__ import annotations

import os
from errno import errorcode

from ..errors import HostStateError
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef


class PidResolver(Resolver):
    name = "pid"

    def find(self, ref: GuestRef) -> Finding:
        finding = Finding("pid")
        pid = int(ref.value)
        path = f"/proc/{pid}/ns/net"
        try:
            os.stat(path)
        except FileNotFoundError:
            finding.saw.append(f"no process {pid}")
            return finding
        except OSError as exc:
            # it exists, but is not ours to see: saying "no process" would send the
            # user looking for the wrong thing
            raise HostStateError(
                f"process {pid} exists, but its network namespace {path} cannot be read: "
                f"{exc.strerror} ({errorcode.get(exc.errno or 0, exc.errno)})",
                hint="run pipework as root (it needs CAP_SYS_ADMIN and CAP_SYS_PTRACE)",
            ) from None
        finding.candidates.append(Candidate("pid", ref.value, pid, path, f"process {pid}"))
        finding.saw.append(f"process {pid} exists")
        return finding


RESOLVER = PidResolver()
