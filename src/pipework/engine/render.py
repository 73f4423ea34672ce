"""How ``-v`` shows the steps: each one as the ``ip`` command that would do the same.

A step run inside a guest is shown the way a user would run it there: ``ip -n NAME``
for a named netns, ``nsenter -t PID -n`` for a process, ``nsenter --net=PATH`` for a
namespace file.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Guest


def in_guest(guest: Guest, command: str) -> str:
    """``command`` as run inside ``guest``."""
    if guest.runtime == "netns" and not guest.name.startswith("/"):
        if command.startswith("ip "):
            return command.replace("ip ", f"ip -n {guest.name} ", 1)
        return f"ip netns exec {guest.name} {command}"
    return f"{nsenter(guest)} {command}"


def nsenter(guest: Guest) -> str:
    """The ``nsenter`` words that enter the guest's network namespace."""
    if guest.pid is not None:
        return f"nsenter -t {guest.pid} -n"
    return f"nsenter --net={guest.netns.path}"


def ns_word(guest: Guest) -> str:
    """How ``ip link … netns WORD`` names the guest: its pid, or its netns name."""
    return str(guest.pid) if guest.pid is not None else guest.name
