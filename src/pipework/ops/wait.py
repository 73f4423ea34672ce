"""``pipework --wait``: inside a container, wait until the interface exists and has carrier.

The original polled sysfs once a second; this listens to the kernel's link
notifications, so it returns the moment the host side comes up.
"""

from __future__ import annotations

import time
from select import select

from ..errors import PipeworkError
from ..netlink.socket import NetlinkSocket

RTMGRP_LINK = 1


def _ready(nl: NetlinkSocket, ifname: str) -> bool:
    link = nl.link(ifname)
    return link is not None and link.has_carrier


def wait_for_interface(ifname: str, timeout: float | None = None) -> None:
    """Return once ``ifname`` exists with carrier; raise after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with NetlinkSocket("events", groups=RTMGRP_LINK) as events, NetlinkSocket() as nl:
        while not _ready(nl, ifname):
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise PipeworkError(
                    f"timed out after {timeout:g} s waiting for {ifname} to exist and have carrier",
                    hint="check that `pipework <hostif> <this container> …` ran on the host",
                )
            readable, _, _ = select([events], [], [], min(remaining, 1.0))
            if readable:
                events.drain()  # any link event: look again
