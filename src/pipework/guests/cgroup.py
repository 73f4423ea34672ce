"""Find an LXC container's cgroup on any cgroup layout, and a process inside it.

LXC has named its cgroups three ways, and pipework must read all of them:

    lxc/NAME                              LXC <= 3.0
    lxc.payload/NAME + lxc.monitor/NAME   LXC 3.1 (the layout that broke `find -name`)
    lxc.payload.NAME + lxc.monitor.NAME   LXC >= 4.0

each on cgroup v1, v2 or hybrid hosts, at the root of a hierarchy (privileged
containers) or nested under a delegated cgroup (unprivileged ones). Only payload
cgroups hold the container's processes; the monitor lives in the host's network
namespace, so taking its pid would plumb the host instead of the container.

No `find`: the three layouts are checked by direct stat at each hierarchy's root;
a bounded walk looks for nested ones only when nothing else knows the name.
"""

from __future__ import annotations

import os

from .._lowlevel.record import Record

#: (path template relative to a cgroup root, the LXC versions that use it)
LXC_LAYOUTS = (
    ("lxc.payload.{}", "LXC >= 4.0"),
    ("lxc.payload/{}", "LXC 3.1"),
    ("lxc/{}", "LXC <= 3.0"),
)
_OLD_PARENTS = {"lxc.payload": "LXC 3.1", "lxc": "LXC <= 3.0"}
_WALK_MAX_DIRS = 20000
_WALK_MAX_DEPTH = 10
_PROCS_MAX_DIRS = 256
_OLDEST_SCAN = 512  # processes whose start time is read to find the oldest


class CgroupMount(Record):
    """One mounted cgroup hierarchy: where, which version, which controllers."""

    path: str
    version: int
    controllers: tuple[str, ...]


class CgroupMatch(Record):
    """A container cgroup found under one hierarchy."""

    relpath: str  # e.g. "lxc.payload.devenv" or "user.slice/…/lxc.payload.devenv"
    layout: str
    mount: CgroupMount

    @property
    def path(self) -> str:
        return f"{self.mount.path}/{self.relpath}"


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 1 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup hierarchies in a /proc/self/mountinfo text, cgroup v2 first.

    v2 comes first because it is the one hierarchy every modern host has; among
    v1 hierarchies the named systemd one is where delegated cgroups live.
    """
    mounts: list[CgroupMount] = []
    for line in text.splitlines():
        if "cgroup" not in line:  # cheap: a host with many netns has thousands of mounts
            continue
        fields = line.split()
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        if len(fields) < sep + 3 or len(fields) < 5:
            continue
        fstype = fields[sep + 1]
        if fstype == "cgroup2":
            mounts.append(CgroupMount(_unescape(fields[4]), 2, ()))
        elif fstype == "cgroup":
            opts = fields[sep + 3].split(",")
            controllers = tuple(o for o in opts if o not in ("rw", "ro") and "=" not in o)
            named = tuple(o for o in opts if o.startswith("name="))
            mounts.append(CgroupMount(_unescape(fields[4]), 1, controllers + named))
    mounts.sort(key=lambda m: (m.version != 2, "name=systemd" not in m.controllers))
    return mounts


CGROUP_ROOT = "/sys/fs/cgroup"


def standard_mounts(root: str = CGROUP_ROOT) -> list[CgroupMount]:
    """The hierarchies where every distribution mounts them, found without mountinfo.

    /proc/self/mountinfo lists every mount of the host, and each named network
    namespace is one: with a thousand of them, reading and parsing it costs more
    than the whole attach. A cgroup root is recognised by its ``cgroup.procs``;
    ``cgroup.controllers`` exists only on v2. Anything unusual falls back to
    mountinfo (``read_mounts``).
    """
    if os.path.exists(f"{root}/cgroup.controllers"):
        return [CgroupMount(root, 2, ())]  # a pure cgroup v2 host
    mounts = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        path = entry.path
        if not entry.is_dir(follow_symlinks=False) or not os.path.exists(f"{path}/cgroup.procs"):
            continue
        version = 2 if os.path.exists(f"{path}/cgroup.controllers") else 1
        named = ("name=systemd",) if entry.name == "systemd" else ()
        controllers = tuple(entry.name.split(",")) if version == 1 else ()
        mounts.append(CgroupMount(path, version, controllers + named))
    mounts.sort(key=lambda m: (m.version != 2, "name=systemd" not in m.controllers))
    return mounts


def read_mounts(mountinfo: str = "/proc/self/mountinfo") -> list[CgroupMount]:
    try:
        # surrogateescape: a mount point that is not UTF-8 must not break lookups
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            return parse_mountinfo(f.read())
    except OSError:
        return []


def find_direct(mounts: list[CgroupMount], name: str) -> list[CgroupMatch]:
    """Payload cgroups of ``name`` at the root of the hierarchies (privileged LXC).

    All hierarchies mirror each other, so the first one that knows the name
    answers for all of them.
    """
    for mount in mounts:
        found = [
            CgroupMatch(template.format(name), layout, mount)
            for template, layout in LXC_LAYOUTS
            if os.path.isdir(f"{mount.path}/{template.format(name)}")
        ]
        if found:
            return found
    return []


def find_nested(mounts: list[CgroupMount], name: str) -> list[CgroupMatch]:
    """Payload cgroups of ``name`` anywhere below the roots (unprivileged LXC).

    A bounded breadth-first walk over directories only. It never descends into
    another container's cgroups (``lxc.payload.*``, ``lxc.monitor.*``) nor into
    the ``lxc``/``lxc.payload`` parents, whose child ``name`` is checked directly.
    """
    flat = f"lxc.payload.{name}"
    results: dict[str, CgroupMatch] = {}
    for mount in mounts:
        queue: list[tuple[str, int]] = [("", 0)]
        visited = 0
        while queue and visited < _WALK_MAX_DIRS:
            rel, depth = queue.pop(0)
            visited += 1
            base = f"{mount.path}/{rel}" if rel else mount.path
            try:
                children = [e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            for child_name in children:
                child = f"{rel}/{child_name}" if rel else child_name
                if child_name == flat:
                    results.setdefault(child, CgroupMatch(child, "LXC >= 4.0", mount))
                elif child_name in _OLD_PARENTS:
                    if os.path.isdir(f"{base}/{child_name}/{name}"):
                        relpath = f"{child}/{name}"
                        results.setdefault(
                            relpath, CgroupMatch(relpath, _OLD_PARENTS[child_name], mount)
                        )
                elif child_name.startswith(("lxc.payload.", "lxc.monitor")):
                    continue
                elif depth + 1 < _WALK_MAX_DEPTH:
                    queue.append((child, depth + 1))
        if results:
            break
    return list(results.values())


def procs(match: CgroupMatch) -> list[int]:
    """Processes of the container: its payload cgroup, else the shallowest populated level.

    On cgroup v2 the payload may hold no process of its own (an init that moves
    itself into ``init.scope``, the no-internal-process rule), so the subtree is
    searched level by level, lowest pid of a level first so the container's init
    wins. Containers nested inside this one (their own ``lxc.payload.*``) are
    never entered: their processes live in other network namespaces.
    """
    level = [match.path]
    seen = 0
    while level and seen < _PROCS_MAX_DIRS:
        found: list[int] = []
        children: list[str] = []
        for path in level:
            seen += 1
            found.extend(_read_pids(path))
            try:
                children.extend(
                    entry.path
                    for entry in os.scandir(path)
                    if entry.is_dir(follow_symlinks=False) and not _is_lxc_dir(entry.name)
                )
            except OSError:
                continue
        if found:
            return _oldest_first(found)
        level = children
    return []


def _oldest_first(pids: list[int]) -> list[int]:
    """Pids by start time: the container's init first, even after pid numbers wrapped."""
    from .._lowlevel.procfs import process_starttime

    bounded = sorted(pids)[:_OLDEST_SCAN]
    started = {pid: process_starttime(pid) for pid in bounded}
    return sorted(bounded, key=lambda pid: (started[pid] is None, started[pid] or 0, pid))


def _is_lxc_dir(name: str) -> bool:
    return name == "lxc" or name.startswith(("lxc.payload", "lxc.monitor"))


def _read_pids(path: str) -> list[int]:
    for fname in ("cgroup.procs", "tasks"):
        try:
            with open(f"{path}/{fname}") as f:
                return [int(tok) for tok in f.read().split() if tok.isdigit()]
        except OSError:
            continue
    return []


def pid_in_cgroup(pid: int, relpath: str, proc: str = "/proc") -> bool:
    """Whether ``pid`` still lives in (or below) the cgroup ``relpath`` of any hierarchy."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    want = "/" + relpath
    for line in lines:
        path = line.split(":", 2)[-1]
        if path == want or path.startswith(want + "/"):
            return True
    return False
