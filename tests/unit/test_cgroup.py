"""Finding LXC containers on cgroupfs: every LXC layout on v1, v2 and hybrid hosts.

The cgroup trees are plain directories under ``tmp_path`` with ``cgroup.procs`` (and,
on v1, ``tasks``) files, described to the code by a mountinfo text naming them, so
nothing here needs root or touches a real cgroup.
"""

from __future__ import annotations

import locale
import os
from pathlib import Path

import pytest

from pipework.guests import cgroup, lxc
from pipework.guests.base import Candidate, Finding
from pipework.guests.cgroup import CgroupMatch, CgroupMount

NAME = "devenv"

# ---------------------------------------------------------------- mountinfo texts

# Ubuntu 18.04 style, cgroup v1 only; {root} is /sys/fs/cgroup on a real host
_OPTS = "rw,nosuid,nodev,noexec,relatime"
V1_MOUNTINFO = (
    "27 0 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
    f"22 27 0:20 / /sys {_OPTS} shared:7 - sysfs sysfs rw\n"
    f"23 27 0:21 / /proc {_OPTS} shared:14 - proc proc rw\n"
    "30 22 0:25 / {root} ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    f"35 30 0:30 / {{root}}/cpu,cpuacct {_OPTS} shared:15 - cgroup cgroup rw,cpu,cpuacct\n"
    f"36 30 0:31 / {{root}}/memory {_OPTS} shared:16 - cgroup cgroup rw,memory\n"
    f"32 30 0:27 / {{root}}/systemd {_OPTS} shared:11 - cgroup cgroup"
    " rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    f"37 30 0:32 / {{root}}/pids {_OPTS} shared:17 - cgroup cgroup rw,pids\n"
    f"38 30 0:33 / {{root}}/cpuset {_OPTS} shared:18 - cgroup cgroup rw,cpuset,clone_children\n"
    "39 27 0:34 / /run rw,nosuid,noexec,relatime shared:5 - tmpfs tmpfs rw,size=403848k\n"
)

# Debian 11 style: the unified hierarchy alone
V2_MOUNTINFO = (
    "27 0 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
    f"22 27 0:20 / /sys {_OPTS} shared:2 - sysfs sysfs rw\n"
    f"26 22 0:24 / {{root}} {_OPTS} shared:4 - cgroup2 cgroup2"
    " rw,nsdelegate,memory_recursiveprot\n"
    "40 27 0:40 / /var/lib/docker/overlay2/abc/merged rw,relatime shared:20 master:1"
    " - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n"
)

# Ubuntu 20.04 style hybrid: v1 controllers, systemd, and cgroup2 at unified/
HYBRID_MOUNTINFO = (
    V1_MOUNTINFO
    + f"31 30 0:26 / {{root}}/unified {_OPTS} shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
)

V1_DIRS = ("cpu,cpuacct", "memory", "systemd", "pids", "cpuset")


@pytest.fixture(autouse=True)
def fixture_proc(tmp_path, monkeypatch):
    """Start times come from a fixture /proc, never from the host's real processes."""
    from pipework._lowlevel import procfs

    proc = tmp_path / "fixture-proc"
    proc.mkdir()
    monkeypatch.setattr(procfs, "PROC_ROOT", str(proc))
    return proc


def test_procs_returns_the_oldest_process_first(tmp_path, fixture_proc):
    """After pid numbers wrap, the container's init may have a higher pid than its children."""
    mount = CgroupMount(str(tmp_path / "cg"), 2, ())
    payload = tmp_path / "cg" / "lxc.payload.wrapped"
    payload.mkdir(parents=True)
    (payload / "cgroup.procs").write_text("120\n4000\n77\n")
    for pid, start in ((120, 900), (4000, 100), (77, 500)):
        (fixture_proc / str(pid)).mkdir()
        (fixture_proc / str(pid) / "stat").write_text(
            f"{pid} (init (x)) S " + " ".join(["0"] * 18) + f" {start} 0 0\n"
        )
    match = CgroupMatch("lxc.payload.wrapped", "LXC >= 4.0", mount)
    assert cgroup.procs(match) == [4000, 77, 120]


def test_parse_mountinfo_v1() -> None:
    mounts = cgroup.parse_mountinfo(V1_MOUNTINFO.format(root="/sys/fs/cgroup"))
    assert mounts[0].path == "/sys/fs/cgroup/systemd"  # name=systemd first
    assert {m.path for m in mounts} == {f"/sys/fs/cgroup/{d}" for d in V1_DIRS}
    assert all(m.version == 1 for m in mounts)
    by_path = {m.path: m for m in mounts}
    assert "name=systemd" in by_path["/sys/fs/cgroup/systemd"].controllers
    assert by_path["/sys/fs/cgroup/cpu,cpuacct"].controllers == ("cpu", "cpuacct")
    assert by_path["/sys/fs/cgroup/memory"].controllers == ("memory",)
    # options with a value (release_agent=) are not controllers, nor is rw
    for mount in mounts:
        assert "rw" not in mount.controllers
        assert not any(c.startswith("release_agent") for c in mount.controllers)


def test_parse_mountinfo_v1_keeps_the_order_of_the_other_hierarchies() -> None:
    mounts = cgroup.parse_mountinfo(V1_MOUNTINFO.format(root="/sys/fs/cgroup"))
    assert [m.path.rsplit("/", 1)[1] for m in mounts] == [
        "systemd",
        "cpu,cpuacct",
        "memory",
        "pids",
        "cpuset",
    ]


def test_parse_mountinfo_pure_v2() -> None:
    mounts = cgroup.parse_mountinfo(V2_MOUNTINFO.format(root="/sys/fs/cgroup"))
    assert mounts == [CgroupMount("/sys/fs/cgroup", 2, ())]


def test_parse_mountinfo_hybrid_puts_v2_first_then_systemd() -> None:
    mounts = cgroup.parse_mountinfo(HYBRID_MOUNTINFO.format(root="/sys/fs/cgroup"))
    assert mounts[0] == CgroupMount("/sys/fs/cgroup/unified", 2, ())
    assert mounts[1].path == "/sys/fs/cgroup/systemd"
    assert mounts[1].version == 1
    assert len(mounts) == 1 + len(V1_DIRS)
    assert [m.version for m in mounts] == [2] + [1] * len(V1_DIRS)


def test_parse_mountinfo_unescapes_mount_points() -> None:
    text = (
        "30 22 0:25 / /sys/fs/cgroup/my\\040cgroup rw - cgroup2 cgroup2 rw\n"
        "31 22 0:26 / /mnt/tab\\011and\\134backslash rw - cgroup cgroup rw,name=x\n"
        "32 22 0:27 / /mnt/new\\012line rw - cgroup cgroup rw,memory\n"
    )
    mounts = cgroup.parse_mountinfo(text)
    assert [m.path for m in mounts] == [
        "/sys/fs/cgroup/my cgroup",
        "/mnt/tab\tand\\backslash",
        "/mnt/new\nline",
    ]
    assert mounts[1].controllers == ("name=x",)


def test_parse_mountinfo_skips_junk_and_other_filesystems() -> None:
    text = (
        "\n"
        "garbage\n"
        "1 2 3 4 5 -\n"  # a separator with nothing after it
        "30 22 0:25 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "31 22 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    assert cgroup.parse_mountinfo(text) == [CgroupMount("/sys/fs/cgroup/unified", 2, ())]
    assert cgroup.parse_mountinfo("") == []


def test_read_mounts_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert cgroup.read_mounts(str(tmp_path / "nope")) == []


def test_read_mounts_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text(V2_MOUNTINFO.format(root="/sys/fs/cgroup"))
    assert cgroup.read_mounts(str(path)) == [CgroupMount("/sys/fs/cgroup", 2, ())]


UTF8_LOCALE = pytest.mark.skipif(
    locale.getpreferredencoding(False).lower().replace("-", "") != "utf8",
    reason="the failure needs open() to decode with UTF-8, the usual locale",
)


@UTF8_LOCALE
def test_read_mounts_survives_a_non_utf8_mount_point(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_bytes(
        b"27 0 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        b"50 27 8:17 / /media/\xe9t\xe9 rw,relatime shared:30 - vfat /dev/sdb1 rw\n"
        b"26 22 0:24 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw\n"
    )
    assert cgroup.read_mounts(str(path)) == [CgroupMount("/sys/fs/cgroup", 2, ())]


# ---------------------------------------------------------------- fixture hosts


def _escape(path: Path) -> str:
    return str(path).replace("\\", "\\134").replace(" ", "\\040")


class Host:
    """A fake cgroupfs under ``tmp_path``: one directory per mounted hierarchy."""

    def __init__(self, base: Path, kind: str) -> None:
        self.kind = kind
        self.root = base / "cgroup"
        self.root.mkdir()
        if kind == "v2":
            self.text = V2_MOUNTINFO.format(root=_escape(self.root))
            self.hierarchies = {self.root: 2}
        else:
            template = V1_MOUNTINFO if kind == "v1" else HYBRID_MOUNTINFO
            self.text = template.format(root=_escape(self.root))
            self.hierarchies = {self.root / d: 1 for d in V1_DIRS}
            if kind == "hybrid":
                self.hierarchies[self.root / "unified"] = 2
        for path in self.hierarchies:
            path.mkdir(exist_ok=True)
        self.mountinfo = base / "mountinfo"
        self.mountinfo.write_text(self.text)

    @property
    def mounts(self) -> list[CgroupMount]:
        return cgroup.parse_mountinfo(self.text)

    @property
    def first(self) -> CgroupMount:
        return self.mounts[0]

    def cgroup(
        self,
        relpath: str,
        pids: tuple[int, ...] = (),
        *,
        versions: tuple[int, ...] = (1, 2),
    ) -> None:
        """A cgroup at ``relpath`` in every hierarchy (they mirror each other)."""
        text = "".join(f"{pid}\n" for pid in pids)
        for path, version in self.hierarchies.items():
            if version not in versions:
                continue
            directory = path / relpath
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "cgroup.procs").write_text(text)
            if version == 1:
                (directory / "tasks").write_text(text)


HOSTS = ("v1", "v2", "hybrid")
# (payload template, monitor template or None, the layout name pipework reports)
LAYOUTS = (
    ("lxc/{}", None, "LXC <= 3.0"),
    ("lxc.payload/{}", "lxc.monitor/{}", "LXC 3.1"),
    ("lxc.payload.{}", "lxc.monitor.{}", "LXC >= 4.0"),
)
LAYOUT_IDS = ("lxc-3.0", "lxc-3.1", "lxc-4.0")


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Host:
    return Host(tmp_path, request.param)


@pytest.fixture(params=LAYOUTS, ids=LAYOUT_IDS)
def layout(request: pytest.FixtureRequest) -> tuple[str, str | None, str]:
    value: tuple[str, str | None, str] = request.param
    return value


def start_container(
    host: Host,
    layout: tuple[str, str | None, str],
    name: str,
    pids: tuple[int, ...],
    monitor_pids: tuple[int, ...] = (),
    prefix: str = "",
) -> str:
    payload, monitor, _label = layout
    relpath = prefix + payload.format(name)
    host.cgroup(relpath, pids)
    if monitor is not None:
        host.cgroup(prefix + monitor.format(name), monitor_pids)
    return relpath


# ---------------------------------------------------------------- find_direct and procs


def test_find_direct_finds_the_payload_never_the_monitor(
    host: Host, layout: tuple[str, str | None, str]
) -> None:
    # the monitor has the lowest pid: picking it would plumb the host's namespace
    relpath = start_container(host, layout, NAME, (305, 301), monitor_pids=(100,))
    matches = cgroup.find_direct(host.mounts, NAME)
    assert matches == [CgroupMatch(relpath, layout[2], host.first)]
    assert matches[0].path == f"{host.first.path}/{relpath}"
    assert cgroup.procs(matches[0]) == [301, 305]


def test_find_direct_ignores_a_container_whose_name_extends_ours(
    host: Host, layout: tuple[str, str | None, str]
) -> None:
    start_container(host, layout, "devenv2", (50,), monitor_pids=(49,))
    assert cgroup.find_direct(host.mounts, NAME) == []
    assert cgroup.find_nested(host.mounts, NAME) == []
    relpath = start_container(host, layout, NAME, (301,), monitor_pids=(300,))
    matches = cgroup.find_direct(host.mounts, NAME)
    assert [m.relpath for m in matches] == [relpath]
    assert cgroup.procs(matches[0]) == [301]
    # and the shorter name is not found through the longer one either
    assert cgroup.find_direct(host.mounts, "dev") == []


def test_find_direct_nothing_there(host: Host) -> None:
    assert cgroup.find_direct(host.mounts, NAME) == []
    assert cgroup.find_direct([], NAME) == []


def test_find_direct_does_not_see_nested_cgroups(
    host: Host, layout: tuple[str, str | None, str]
) -> None:
    start_container(host, layout, NAME, (301,), prefix="user.slice/user-1000.slice/")
    assert cgroup.find_direct(host.mounts, NAME) == []


def test_find_direct_two_layouts_for_one_name(host: Host) -> None:
    host.cgroup("lxc.payload.devenv", (400,))
    host.cgroup("lxc.monitor.devenv", (399,))
    host.cgroup("lxc/devenv", (200,))
    matches = cgroup.find_direct(host.mounts, NAME)
    assert [(m.relpath, m.layout) for m in matches] == [
        ("lxc.payload.devenv", "LXC >= 4.0"),
        ("lxc/devenv", "LXC <= 3.0"),
    ]
    assert [cgroup.procs(m) for m in matches] == [[400], [200]]


def test_find_direct_on_hybrid_falls_back_to_v1_hierarchies(tmp_path: Path) -> None:
    # an old LXC on a hybrid host creates its cgroups in the v1 hierarchies only
    host = Host(tmp_path, "hybrid")
    host.cgroup("lxc/devenv", (301,), versions=(1,))
    matches = cgroup.find_direct(host.mounts, NAME)
    assert len(matches) == 1
    assert matches[0].mount.path == str(host.root / "systemd")
    assert matches[0].mount.version == 1
    assert cgroup.procs(matches[0]) == [301]


def test_procs_lowest_pid_first(host: Host) -> None:
    host.cgroup("lxc.payload.devenv", (9000, 12, 777, 13))
    [match] = cgroup.find_direct(host.mounts, NAME)
    assert cgroup.procs(match) == [12, 13, 777, 9000]


@pytest.mark.parametrize("kind", ["v2", "hybrid"])
def test_procs_descends_to_a_populated_child_on_v2(
    tmp_path: Path, kind: str, layout: tuple[str, str | None, str]
) -> None:
    # a systemd guest moves its init into init.scope: the payload itself is empty
    host = Host(tmp_path, kind)
    relpath = start_container(host, layout, NAME, (), monitor_pids=(100,))
    host.cgroup(f"{relpath}/init.scope", (412,))
    host.cgroup(f"{relpath}/system.slice", ())
    host.cgroup(f"{relpath}/system.slice/cron.service", (530, 529))
    [match] = cgroup.find_direct(host.mounts, NAME)
    assert match.mount.version == 2
    assert cgroup.procs(match) == [412]


def test_procs_goes_deeper_when_the_first_level_is_empty(tmp_path: Path) -> None:
    host = Host(tmp_path, "v2")
    host.cgroup("lxc.payload.devenv/system.slice", ())
    host.cgroup("lxc.payload.devenv/system.slice/sshd.service", (640, 620))
    [match] = cgroup.find_direct(host.mounts, NAME)
    assert cgroup.procs(match) == [620, 640]


def test_procs_of_a_stopped_container_is_empty(host: Host) -> None:
    host.cgroup("lxc.payload.devenv", ())
    host.cgroup("lxc.payload.devenv/init.scope", ())
    [match] = cgroup.find_direct(host.mounts, NAME)
    assert cgroup.procs(match) == []


def test_procs_of_a_vanished_cgroup_is_empty(tmp_path: Path) -> None:
    mount = CgroupMount(str(tmp_path), 2, ())
    assert cgroup.procs(CgroupMatch("lxc.payload.gone", "LXC >= 4.0", mount)) == []


def test_procs_reads_tasks_when_there_is_no_cgroup_procs(tmp_path: Path) -> None:
    directory = tmp_path / "lxc" / NAME
    directory.mkdir(parents=True)
    (directory / "tasks").write_text("88\n77\n")
    mount = CgroupMount(str(tmp_path), 1, ("memory",))
    assert cgroup.procs(CgroupMatch(f"lxc/{NAME}", "LXC <= 3.0", mount)) == [77, 88]


def test_procs_ignores_junk_in_cgroup_procs(tmp_path: Path) -> None:
    directory = tmp_path / "lxc.payload.devenv"
    directory.mkdir()
    (directory / "cgroup.procs").write_text("12\n\nnot-a-pid\n-3\n11\n")
    mount = CgroupMount(str(tmp_path), 2, ())
    assert cgroup.procs(CgroupMatch("lxc.payload.devenv", "LXC >= 4.0", mount)) == [11, 12]


def test_procs_prefers_the_guest_init_over_a_nested_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd guest (init in init.scope) running a nested LXC container "inner": from
    # the host, the nested payload sits next to init.scope, one level below ours
    host = Host(tmp_path, "v2")
    host.cgroup("lxc.payload.devenv", ())
    host.cgroup("lxc.payload.devenv/init.scope", (7001,))
    host.cgroup("lxc.payload.devenv/lxc.monitor.inner", (7050,))
    host.cgroup("lxc.payload.devenv/lxc.payload.inner", (7100,))
    [match] = cgroup.find_direct(host.mounts, NAME)

    real_scandir = os.scandir
    # kernfs lists children in hash order: whichever comes first, the guest's init wins
    first_pids = []
    for reverse in (False, True):

        def ordered_scandir(path: str, reverse: bool = reverse) -> list[os.DirEntry[str]]:
            with real_scandir(path) as it:
                return sorted(it, key=lambda e: e.name, reverse=reverse)

        monkeypatch.setattr(cgroup.os, "scandir", ordered_scandir)
        first_pids.append(cgroup.procs(match)[0])
        monkeypatch.undo()
    assert first_pids == [7001, 7001]


# ---------------------------------------------------------------- find_nested

NESTED_V2 = "user.slice/user-1000.slice/user@1000.service/app.slice/"
NESTED_V1 = "user/1000.user/c2.session/"


@pytest.mark.parametrize("kind", HOSTS)
def test_find_nested_delegated_lxc4(tmp_path: Path, kind: str) -> None:
    host = Host(tmp_path, kind)
    host.cgroup("init.scope", (1,))
    host.cgroup("system.slice/cron.service", (400,))
    relpath = start_container(
        host, LAYOUTS[2], NAME, (2301, 2300), monitor_pids=(2299,), prefix=NESTED_V2
    )
    assert relpath == NESTED_V2 + "lxc.payload.devenv"
    assert cgroup.find_direct(host.mounts, NAME) == []
    matches = cgroup.find_nested(host.mounts, NAME)
    # found once, in the first hierarchy, though every hierarchy mirrors it
    assert matches == [CgroupMatch(relpath, "LXC >= 4.0", host.first)]
    assert cgroup.procs(matches[0]) == [2300, 2301]


@pytest.mark.parametrize("kind", ["v1", "hybrid"])
def test_find_nested_delegated_v1_session(tmp_path: Path, kind: str) -> None:
    host = Host(tmp_path, kind)
    host.cgroup(NESTED_V1 + "lxc/devenv", (3001,), versions=(1,))
    assert cgroup.find_direct(host.mounts, NAME) == []
    [match] = cgroup.find_nested(host.mounts, NAME)
    assert match.relpath == NESTED_V1 + "lxc/devenv"
    assert match.layout == "LXC <= 3.0"
    assert match.mount.path == str(host.root / "systemd")
    assert cgroup.procs(match) == [3001]


def test_find_nested_lxc31_layout(host: Host) -> None:
    relpath = start_container(
        host, LAYOUTS[1], NAME, (3101,), monitor_pids=(3100,), prefix=NESTED_V2
    )
    matches = cgroup.find_nested(host.mounts, NAME)
    assert [(m.relpath, m.layout) for m in matches] == [(relpath, "LXC 3.1")]
    assert cgroup.procs(matches[0]) == [3101]


def test_find_nested_also_finds_root_level_containers(
    host: Host, layout: tuple[str, str | None, str]
) -> None:
    relpath = start_container(host, layout, NAME, (301,), monitor_pids=(300,))
    assert [(m.relpath, m.layout) for m in cgroup.find_nested(host.mounts, NAME)] == [
        (relpath, layout[2])
    ]


def test_find_nested_two_layouts_for_one_name(host: Host) -> None:
    host.cgroup("lxc.payload.devenv", (400,))
    host.cgroup(NESTED_V2 + "lxc/devenv", (200,))
    found = {(m.relpath, m.layout) for m in cgroup.find_nested(host.mounts, NAME)}
    assert found == {
        ("lxc.payload.devenv", "LXC >= 4.0"),
        (NESTED_V2 + "lxc/devenv", "LXC <= 3.0"),
    }


def test_find_nested_does_not_enter_other_containers(host: Host) -> None:
    # devenv nested inside other containers is theirs, not the host's devenv
    host.cgroup("lxc.payload.other/lxc.payload.devenv", (1,))
    host.cgroup("lxc.payload.other/init.scope/lxc.payload.devenv", (2,))
    host.cgroup("lxc.monitor.other/lxc.payload.devenv", (3,))
    host.cgroup("lxc.payload/other/lxc.payload.devenv", (4,))
    host.cgroup("lxc.monitor/other/lxc.payload.devenv", (5,))
    host.cgroup("lxc/other/lxc.payload.devenv", (6,))
    host.cgroup(NESTED_V2 + "lxc.payload.other/lxc.payload.devenv", (7,))
    host.cgroup(NESTED_V2 + "lxc.payload.devenv2", (8,))
    host.cgroup(NESTED_V2 + "lxc.monitor.devenv", (9,))
    assert cgroup.find_nested(host.mounts, NAME) == []
    # the real one, once it exists, is the only match
    host.cgroup(NESTED_V2 + "lxc.payload.devenv", (10,))
    [match] = cgroup.find_nested(host.mounts, NAME)
    assert match.relpath == NESTED_V2 + "lxc.payload.devenv"
    assert cgroup.procs(match) == [10]


def test_find_nested_prefix_names_do_not_match(host: Host) -> None:
    host.cgroup(NESTED_V2 + "lxc.payload.devenv2", (8,))
    host.cgroup(NESTED_V2 + "lxc/devenv2", (9,))
    host.cgroup(NESTED_V2 + "lxc.payload/devenv2", (10,))
    assert cgroup.find_nested(host.mounts, NAME) == []


def test_find_nested_depth_is_bounded(tmp_path: Path) -> None:
    host = Host(tmp_path, "v2")
    depth = cgroup._WALK_MAX_DEPTH
    # directories at depth 1 .. MAX-1 are listed, so a payload directly below a chain
    # of MAX-1 parents is seen, and one below MAX parents is not
    reachable = "".join(f"r{i}/" for i in range(depth - 1))
    too_deep = "".join(f"d{i}/" for i in range(depth))
    host.cgroup(too_deep + "lxc.payload.devenv", (2,))
    assert cgroup.find_nested(host.mounts, NAME) == []
    host.cgroup(reachable + "lxc.payload.devenv", (1,))
    assert [m.relpath for m in cgroup.find_nested(host.mounts, NAME)] == [
        reachable + "lxc.payload.devenv"
    ]


def test_find_nested_visits_a_bounded_number_of_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host(tmp_path, "v2")
    host.cgroup("a/b/lxc.payload.devenv", (1,))
    assert len(cgroup.find_nested(host.mounts, NAME)) == 1
    monkeypatch.setattr(cgroup, "_WALK_MAX_DIRS", 2)  # the root and "a", never "a/b"
    assert cgroup.find_nested(host.mounts, NAME) == []


def test_find_nested_does_not_follow_symlinks(tmp_path: Path) -> None:
    host = Host(tmp_path, "v2")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "lxc.payload.devenv").mkdir(parents=True)
    (host.root / "link").symlink_to(elsewhere)
    (host.root / "loop").symlink_to(host.root)
    assert cgroup.find_nested(host.mounts, NAME) == []


def test_find_nested_missing_mount_is_skipped(tmp_path: Path) -> None:
    host = Host(tmp_path, "v2")
    host.cgroup(NESTED_V2 + "lxc.payload.devenv", (1,))
    gone = CgroupMount(str(tmp_path / "not-mounted"), 2, ())
    [match] = cgroup.find_nested([gone, *host.mounts], NAME)
    assert match.mount == host.first


# ---------------------------------------------------------------- pid_in_cgroup

V1_PROC_CGROUP = """\
12:pids:/lxc/devenv
11:cpuset:/lxc/devenv
10:memory:/lxc/devenv
4:cpu,cpuacct:/lxc/devenv
1:name=systemd:/lxc/devenv/init.scope
"""
V2_PROC_CGROUP = "0::/lxc.payload.devenv/init.scope\n"
HYBRID_PROC_CGROUP = """\
12:pids:/lxc.payload.devenv
10:memory:/lxc.payload.devenv
1:name=systemd:/lxc.payload.devenv/init.scope
0::/lxc.payload.devenv/init.scope
"""
NESTED_PROC_CGROUP = f"0::/{NESTED_V2}lxc.payload.devenv/system.slice/sshd.service\n"
MONITOR_PROC_CGROUP = "0::/lxc.monitor.devenv\n"
HOST_PROC_CGROUP = "0::/user.slice/user-1000.slice/session-2.scope\n"
V1_SESSION_PROC_CGROUP = f"""\
10:memory:/user/1000.user/c2.session
1:name=systemd:/{NESTED_V1}lxc/devenv
"""


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    for pid, text in {
        101: V1_PROC_CGROUP,
        102: V2_PROC_CGROUP,
        103: HYBRID_PROC_CGROUP,
        104: NESTED_PROC_CGROUP,
        105: MONITOR_PROC_CGROUP,
        106: HOST_PROC_CGROUP,
        107: V1_SESSION_PROC_CGROUP,
        108: "",
    }.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cgroup").write_text(text)
    return root


@pytest.mark.parametrize(
    ("pid", "relpath", "expected"),
    [
        (101, "lxc/devenv", True),
        (101, "lxc/devenv/init.scope", True),
        (101, "lxc/dev", False),  # a prefix of the name is not the cgroup
        (101, "lxc/devenv2", False),
        (101, "lxc.payload.devenv", False),
        (102, "lxc.payload.devenv", True),  # a process in a child cgroup is inside
        (102, "lxc.payload.devenv/init.scope", True),
        (102, "lxc.payload.dev", False),
        (102, "lxc.payload.devenv/system.slice", False),
        (102, "lxc.monitor.devenv", False),
        (103, "lxc.payload.devenv", True),
        (103, "lxc.payload.devenv2", False),
        (104, NESTED_V2 + "lxc.payload.devenv", True),
        (104, NESTED_V2 + "lxc.payload.devenv/system.slice", True),
        (104, "lxc.payload.devenv", False),  # the same name at the root is another one
        (105, "lxc.payload.devenv", False),  # the monitor is not the container
        (105, "lxc.monitor.devenv", True),
        (106, "lxc.payload.devenv", False),
        (107, NESTED_V1 + "lxc/devenv", True),  # one hierarchy is enough
        (107, "lxc/devenv", False),
        (108, "lxc.payload.devenv", False),  # empty file
    ],
)
def test_pid_in_cgroup(proc: Path, pid: int, relpath: str, expected: bool) -> None:
    assert cgroup.pid_in_cgroup(pid, relpath, proc=str(proc)) is expected


def test_pid_in_cgroup_process_gone(proc: Path) -> None:
    assert cgroup.pid_in_cgroup(999, "lxc.payload.devenv", proc=str(proc)) is False
    assert cgroup.pid_in_cgroup(102, "lxc.payload.devenv", proc=str(proc / "nope")) is False


def test_pid_in_cgroup_path_with_colons(tmp_path: Path) -> None:
    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "cgroup").write_text("0::/lxc.payload.a:b/init.scope\n")
    assert cgroup.pid_in_cgroup(5, "lxc.payload.a:b", proc=str(tmp_path))


@UTF8_LOCALE
def test_pid_in_cgroup_non_utf8_cgroup_name(tmp_path: Path) -> None:
    (tmp_path / "9").mkdir()
    (tmp_path / "9" / "cgroup").write_bytes(b"0::/user.slice/caf\xe9.scope\n")
    assert cgroup.pid_in_cgroup(9, "lxc.payload.devenv", proc=str(tmp_path)) is False


# ---------------------------------------------------------------- lxc.lxcpaths


def test_lxcpaths_from_lxc_conf(tmp_path: Path) -> None:
    conf = tmp_path / "lxc.conf"
    conf.write_text(
        "# lxc.lxcpath = /commented/out\n"
        "lxc.default_config = /etc/lxc/default.conf\n"
        "lxc.lxcpath = /srv/lxc\n"
        "lxc.bdev.lvm.vg = lxc\n"
    )
    assert lxc.lxcpaths(str(conf)) == ["/srv/lxc"]


def test_lxcpaths_without_spaces(tmp_path: Path) -> None:
    conf = tmp_path / "lxc.conf"
    conf.write_text("lxc.lxcpath=/srv/lxc\n")
    assert lxc.lxcpaths(str(conf)) == ["/srv/lxc"]


def test_lxcpaths_default_when_absent(tmp_path: Path) -> None:
    assert lxc.lxcpaths(str(tmp_path / "missing.conf")) == ["/var/lib/lxc"]
    conf = tmp_path / "lxc.conf"
    conf.write_text("# nothing here\nlxc.lxcpath =\nlxc.lxcpathx = /nope\n")
    assert lxc.lxcpaths(str(conf)) == ["/var/lib/lxc"]
    assert lxc.DEFAULT_LXCPATH == "/var/lib/lxc"


# ---------------------------------------------------------------- lxc.find (cgroupfs)


@pytest.fixture
def no_lxc_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No lxc-info on PATH, and an lxcpath of our own (empty unless a test fills it)."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    lxcpath = tmp_path / "lxcpath"
    lxcpath.mkdir()
    monkeypatch.setattr(lxc, "lxcpaths", lambda conf=lxc.LXC_CONF: [str(lxcpath)])
    return lxcpath


def test_lxc_find_through_cgroupfs(
    host: Host, layout: tuple[str, str | None, str], no_lxc_info: Path
) -> None:
    relpath = start_container(host, layout, NAME, (4242, 4243), monitor_pids=(4200,))
    finding = lxc.find(NAME, mountinfo=str(host.mountinfo))
    assert isinstance(finding, Finding)
    assert finding.resolver == "lxc"
    [cand] = finding.candidates
    assert isinstance(cand, Candidate)
    assert cand.runtime == "lxc"
    assert cand.name == NAME
    assert cand.pid == 4242
    assert cand.ns_path == "/proc/4242/ns/net"
    assert cand.check == relpath
    assert relpath in cand.detail
    assert layout[2] in cand.detail
    assert host.first.path in cand.detail
    assert any(relpath in line for line in finding.saw)


def test_lxc_find_nothing_explains_what_it_saw(host: Host, no_lxc_info: Path) -> None:
    start_container(host, LAYOUTS[2], "devenv2", (50,), monitor_pids=(49,))
    finding = lxc.find(NAME, mountinfo=str(host.mountinfo))
    assert finding.candidates == []
    text = finding.summary()
    assert "lxc.payload.devenv" in text
    assert "lxc.payload/devenv" in text
    assert "lxc/devenv" in text
    assert host.first.path in text


def test_lxc_find_without_any_cgroup_mount(tmp_path: Path, no_lxc_info: Path) -> None:
    mountinfo = tmp_path / "mi"
    mountinfo.write_text("27 0 253:1 / / rw - ext4 /dev/vda1 rw\n")
    finding = lxc.find(NAME, mountinfo=str(mountinfo))
    assert finding.candidates == []
    assert finding.saw == ["no cgroup hierarchy is mounted"]


def test_lxc_find_stopped_container(host: Host, no_lxc_info: Path) -> None:
    host.cgroup("lxc.payload.devenv", ())
    finding = lxc.find(NAME, mountinfo=str(host.mountinfo))
    assert finding.candidates == []
    assert any("lxc.payload.devenv has no process" in line for line in finding.saw)


def test_lxc_find_configured_but_no_lxc_info(host: Host, no_lxc_info: Path) -> None:
    (no_lxc_info / NAME).mkdir()
    (no_lxc_info / NAME / "config").write_text("lxc.uts.name = devenv\n")
    host.cgroup("lxc.payload.devenv", (777,))
    finding = lxc.find(NAME, mountinfo=str(host.mountinfo))
    assert any("lxc-info is not installed" in line for line in finding.saw)
    assert [c.pid for c in finding.candidates] == [777]


def test_lxc_find_two_layouts_gives_two_candidates(host: Host, no_lxc_info: Path) -> None:
    host.cgroup("lxc.payload.devenv", (400,))
    host.cgroup("lxc/devenv", (200,))
    finding = lxc.find(NAME, mountinfo=str(host.mountinfo))
    assert [(c.pid, c.check) for c in finding.candidates] == [
        (400, "lxc.payload.devenv"),
        (200, "lxc/devenv"),
    ]


def test_lxc_find_nested(host: Host, no_lxc_info: Path) -> None:
    relpath = start_container(
        host, LAYOUTS[2], NAME, (5001,), monitor_pids=(5000,), prefix=NESTED_V2
    )
    assert lxc.find(NAME, mountinfo=str(host.mountinfo)).candidates == []
    finding = lxc.find_nested(NAME, mountinfo=str(host.mountinfo))
    [cand] = finding.candidates
    assert (cand.pid, cand.ns_path, cand.check) == (5001, "/proc/5001/ns/net", relpath)
    empty = lxc.find_nested("absent", mountinfo=str(host.mountinfo))
    assert empty.candidates == []
    assert "absent" in empty.summary()


# ---------------------------------------------------------------- lxc.find (lxc-info)


def _fake_lxc_info(directory: Path, script: str) -> None:
    path = directory / "lxc-info"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_lxc_find_asks_lxc_info_when_configured(
    host: Host, tmp_path: Path, no_lxc_info: Path
) -> None:
    (no_lxc_info / NAME).mkdir()
    (no_lxc_info / NAME / "config").write_text("")
    _fake_lxc_info(tmp_path / "bin", 'printf "State:          RUNNING\\nPID:            4321\\n"\n')
    host.cgroup("lxc.payload.devenv", (777,))  # not consulted: lxc-info is the authority
    finding = lxc.find(NAME, mountinfo=str(host.mountinfo))
    [cand] = finding.candidates
    assert (cand.pid, cand.ns_path, cand.check) == (4321, "/proc/4321/ns/net", "lxc:devenv")


def test_lxc_find_lxc_info_says_stopped(tmp_path: Path, no_lxc_info: Path) -> None:
    (no_lxc_info / NAME).mkdir()
    (no_lxc_info / NAME / "config").write_text("")
    _fake_lxc_info(tmp_path / "bin", 'echo "State:          STOPPED"\n')
    finding = lxc.find(NAME)
    assert finding.candidates == []
    assert any("STOPPED" in line for line in finding.saw)


def test_lxc_find_lxc_info_fails(tmp_path: Path, no_lxc_info: Path) -> None:
    (no_lxc_info / NAME).mkdir()
    (no_lxc_info / NAME / "config").write_text("")
    _fake_lxc_info(tmp_path / "bin", 'echo "devenv doesn\'t exist" >&2\nexit 1\n')
    finding = lxc.find(NAME)
    assert finding.candidates == []
    assert any("lxc-info failed" in line and "exist" in line for line in finding.saw)


# ---------------------------------------------------------------- still_in_container


def _own_cgroup_mentions_lxc() -> bool:
    with open(f"/proc/{os.getpid()}/cgroup") as f:
        lines = f.read().splitlines()
    return any(
        part.startswith("lxc") for line in lines for part in line.split(":", 2)[-1].split("/")
    )


def test_still_in_container_cgroup_check_that_cannot_match() -> None:
    check = "lxc.payload.pipework-unit-test-no-such-container"
    assert lxc.still_in_container(os.getpid(), check) is False


def test_still_in_container_refuses_a_process_outside_every_lxc_cgroup() -> None:
    # a reused pid now held by a host process must never pass for the container's
    assert lxc.still_in_container(os.getpid(), "lxc:pipework-unit-test-no-such") is False
