"""One finding of ``pipework doctor``: what is wrong, on what, and the fix."""

from __future__ import annotations

from .._lowlevel.record import Record


class Finding(Record):
    """``check``: the family (firewall, networkmanager, networkd, udev, sysctl, stp,
    dhcp); ``subjects``: the interfaces (or ``netns:INODE``) it concerns, which
    ``doctor GUEST|HOSTIF`` filters on; ``problem`` and ``fix``: one line each."""

    check: str
    subjects: tuple[str, ...]
    problem: str
    fix: str

    def line(self) -> str:
        return f"{self.check}: {self.problem}; fix: {self.fix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "subjects": list(self.subjects),
            "problem": self.problem,
            "fix": self.fix,
        }


def read_text(path: str, limit: int = 1 << 20) -> str | None:
    """A configuration file's text (None when it cannot be read); at most ``limit`` bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def running(*names: str) -> list[int]:
    """The pids of the processes whose command name (``/proc/PID/comm``) is one of ``names``."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        comm = read_text(f"/proc/{entry}/comm", 64)
        if comm is not None and comm.strip() in names:
            found.append(int(entry))
    return sorted(found)
