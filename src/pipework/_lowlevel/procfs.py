"""Facts about processes read from /proc: when a process started.

A pid alone does not name a process for long (it is reused once the process
exits); a pid with its start time does. Resolvers read the start time the moment
they learn a pid, and again after pinning the namespace, and the DHCP renewal
process reads it to tell its guest from a stranger that got the same pid.
"""

from __future__ import annotations

PROC_ROOT = "/proc"  # tests point this at a fixture tree


def process_starttime(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), or None if it is gone."""
    try:
        with open(f"{PROC_ROOT}/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: fields resume after the last ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of proc(5), the 20th after the name
    except (IndexError, ValueError):
        return None
