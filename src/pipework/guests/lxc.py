"""LXC containers, by name: ask ``lxc-info`` where LXC knows the container, else cgroupfs.

``lxc-info`` is the authority (it asks the container's monitor for the init pid,
whatever the cgroup layout), so it is used when installed and the container has a
config in an lxcpath. Otherwise the payload cgroup is found on cgroupfs directly
(see ``cgroup``), which also covers containers whose config lives elsewhere.
"""

from __future__ import annotations

import os

from . import cgroup
from .base import Candidate, Finding, Resolver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

LXC_CONF = "/etc/lxc/lxc.conf"
DEFAULT_LXCPATH = "/var/lib/lxc"


class LxcResolver(Resolver):
    name = "lxc"

    def find(self, ref: GuestRef) -> Finding:
        return find(ref.value)

    def find_more(self, ref: GuestRef) -> Finding:
        return find_nested(ref.value)

    def still_in_container(self, pid: int, check: str) -> bool:
        return still_in_container(pid, check)


RESOLVER = LxcResolver()


def lxcpaths(conf: str = LXC_CONF) -> list[str]:
    """The system lxcpath: ``lxc.lxcpath`` from lxc.conf, else the compiled-in default."""
    try:
        with open(conf) as f:
            for line in f:
                key, eq, value = line.partition("=")
                if eq and key.strip() == "lxc.lxcpath" and value.strip():
                    return [value.strip()]
    except OSError:
        pass
    return [DEFAULT_LXCPATH]


def find(name: str, mountinfo: str | None = None) -> Finding:
    finding = Finding("lxc")
    configured = [p for p in lxcpaths() if os.path.exists(f"{p}/{name}/config")]
    lxc_info = None
    if configured:
        from .._lowlevel.programs import which

        lxc_info = which("lxc-info")
    if configured and lxc_info:
        for lxcpath in configured:
            _ask_lxc_info(finding, lxc_info, name, lxcpath)
        return finding
    if configured:
        finding.saw.append(f"config in {configured[0]}/{name} but lxc-info is not installed")
    if mountinfo is None:
        # Where distributions mount them; the mount table only on hosts that do not
        # (reading it costs milliseconds where many netns are mounted).
        mounts = cgroup.standard_mounts() or cgroup.read_mounts()
        matches = cgroup.find_direct(mounts, name)
    else:
        mounts = cgroup.read_mounts(mountinfo)
        matches = cgroup.find_direct(mounts, name)
    if not mounts:
        finding.saw.append("no cgroup hierarchy is mounted")
        return finding
    if not matches:
        finding.saw.append(
            f"no cgroup lxc.payload.{name}, lxc.payload/{name} or lxc/{name} under {mounts[0].path}"
        )
    add_cgroup_candidates(finding, name, matches)
    return finding


def find_nested(name: str, mountinfo: str = "/proc/self/mountinfo") -> Finding:
    """The slow path: payload cgroups nested under delegated cgroups (unprivileged LXC)."""
    finding = Finding("lxc (nested cgroups)")
    mounts = cgroup.read_mounts(mountinfo)
    matches = cgroup.find_nested(mounts, name)
    if not matches:
        finding.saw.append(
            f"no payload cgroup for {name} below {', '.join(m.path for m in mounts[:1])}"
        )
    add_cgroup_candidates(finding, name, matches)
    return finding


def add_cgroup_candidates(finding: Finding, name: str, matches: list[cgroup.CgroupMatch]) -> None:
    for match in matches:
        pids = cgroup.procs(match)
        if not pids:
            finding.saw.append(f"cgroup {match.relpath} has no process (is the container stopped?)")
            continue
        finding.candidates.append(
            Candidate(
                "lxc",
                name,
                pids[0],
                f"/proc/{pids[0]}/ns/net",
                f"cgroup {match.relpath} ({match.layout}) on {match.mount.path}",
                check=match.relpath,
            )
        )
        finding.saw.append(f"found in cgroup {match.relpath} ({match.layout})")


def _ask_lxc_info(finding: Finding, lxc_info: str, name: str, lxcpath: str) -> None:
    from .._lowlevel.programs import capture

    status, out, err = capture(
        [lxc_info, "-n", name, "-P", lxcpath, "-s", "-p"], what=f"lxc-info -n {name}"
    )
    state = pid = None
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "State":
            state = value.strip()
        elif key.strip() == "PID" and value.strip().isdigit():
            pid = int(value.strip())
    if status != 0:
        finding.saw.append(f"lxc-info failed: {err.strip() or f'exit {status}'}")
    elif pid is None:
        finding.saw.append(f"lxc-info: {name} is {state or 'not running'}, not running")
    else:
        finding.candidates.append(
            Candidate(
                "lxc",
                name,
                pid,
                f"/proc/{pid}/ns/net",
                f"lxc-info -P {lxcpath}: {state}, init pid {pid}",
                check=f"lxc:{name}",
            )
        )
        finding.saw.append(f"lxc-info: {state}, pid {pid}")


def still_in_container(pid: int, check: str) -> bool:
    """After pinning: is ``pid`` still a process of the container?

    ``check`` is the payload cgroup path the pid was read from, or ``lxc:NAME``
    when lxc-info gave the pid; then any LXC layout naming the container counts,
    at any depth (nested, delegated cgroups included).
    """
    if not check.startswith("lxc:"):
        return cgroup.pid_in_cgroup(pid, check)
    name = check[4:]
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return False  # the process is gone
    for line in lines:
        parts = line.split(":", 2)[-1].split("/")
        if f"lxc.payload.{name}" in parts:
            return True
        if any(a in ("lxc.payload", "lxc") and b == name for a, b in zip(parts, parts[1:])):
            return True
    return False
