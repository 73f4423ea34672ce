"""Where DHCP leaves host-side state, and how an interface is keyed in it: cheap to
import, for the verbs that only need to know whether there is anything to stop
(a CNI DEL, a detach of a guest that never had DHCP)."""

from __future__ import annotations

import os

from .._lowlevel.runstate import ROOT

#: renewal processes' records, pid files and logs, by KEY
STATE_DIR = ROOT + "/dhcp"
#: an empty file per KEY whose external client pipework started (the sandboxes
#: themselves are mounts in the clients' private mount namespaces, not seen here)
SANDBOX_DIR = "/run/pipework/dhcp-sandbox"


def key(netns_inode: int, ifname: str) -> str:
    return f"{netns_inode}-{ifname}"


def renewing(netns_inode: int, ifname: str) -> bool:
    """Whether a renewal process (``dhcp-f``) was started for the interface."""
    return os.path.exists(f"{STATE_DIR}/{key(netns_inode, ifname)}.pid")


def clients_started(netns_inode: int, ifname: str) -> bool:
    """Whether pipework started an external client for the interface that may run."""
    return os.path.exists(f"{SANDBOX_DIR}/{key(netns_inode, ifname)}")
