"""The LXC source: payload cgroups appearing are containers starting.

A directory tree under ``tmp_path`` stands in for the cgroup mount: mkdir there is
what LXC's mkdir on cgroupfs is to inotify. Hierarchies are recognised as on a
real host (``cgroup.controllers`` at the root: one unified hierarchy; directories
holding ``cgroup.procs``: v1 hierarchies), or the bare directory is one hierarchy.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from pipework.errors import UsageError
from pipework.names import GuestRef
from pipework.watch.lxc import LxcSource, lxc_hook_line, payload_name
from pipework.watch.source import SourceLost


def lxc(*names: str) -> list[GuestRef]:
    return [GuestRef("lxc", name) for name in names]


def read_started(source: LxcSource, timeout: float = 2.0) -> list[GuestRef] | None:
    """What the source reports once its fd is readable ([] when nothing came)."""
    fd = source.fileno()
    assert fd is not None
    if not select.select([fd], [], [], timeout)[0]:
        return []
    return source.read()


@pytest.fixture
def unified(tmp_path: Path) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.procs").write_text("")
    return root


@pytest.fixture
def watching(unified: Path):
    source = LxcSource(str(unified))
    assert source.reconnect()
    yield source
    source.close()


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("entry", "parent", "name"),
    [
        ("lxc.payload.web", None, "web"),
        ("web", "lxc.payload", "web"),
        ("web", "lxc", "web"),
        ("lxc.monitor.web", None, None),
        ("web", "lxc.monitor", None),
        ("lxc.payload", None, None),
        ("user.slice", None, None),
        ("lxc.payload.", None, None),
        ("lxc.payload.-rf", None, None),
        ("lxc.payload.a b", None, None),
    ],
)
def test_payload_name(entry: str, parent: str | None, name: str | None) -> None:
    assert payload_name(entry, parent) == name


# ---------------------------------------------------------------- inotify on a tree


def test_a_payload_cgroup_appearing_is_a_started_container(
    unified: Path, watching: LxcSource
) -> None:
    (unified / "lxc.monitor.web").mkdir()
    (unified / "lxc.payload.web").mkdir()
    assert read_started(watching) == lxc("web")


def test_a_monitor_cgroup_alone_is_no_start(unified: Path, watching: LxcSource) -> None:
    (unified / "lxc.monitor.web").mkdir()
    assert read_started(watching) == []


def test_a_file_is_no_container(unified: Path, watching: LxcSource) -> None:
    (unified / "lxc.payload.web").write_text("")
    assert read_started(watching) == []


def test_the_lxc_31_layout_is_followed_into_its_new_parent(
    unified: Path, watching: LxcSource
) -> None:
    # LXC 3.1 makes the parent and the container's cgroup one after the other: the
    # child may exist before the parent is watched, and is still reported
    (unified / "lxc.payload" / "web").mkdir(parents=True)
    assert read_started(watching) == lxc("web")
    (unified / "lxc.payload" / "db").mkdir()
    assert read_started(watching) == lxc("db")


def test_the_lxc_30_layout_existing_parent_is_watched(unified: Path) -> None:
    (unified / "lxc").mkdir()
    source = LxcSource(str(unified))
    source.reconnect()
    try:
        (unified / "lxc" / "old").mkdir()
        assert read_started(source) == lxc("old")
    finally:
        source.close()


def test_containers_running_before_the_watch_are_not_starts(unified: Path) -> None:
    (unified / "lxc.payload.web").mkdir()
    source = LxcSource(str(unified))
    source.reconnect()
    try:
        (unified / "lxc.payload.db").mkdir()
        assert read_started(source) == lxc("db")
    finally:
        source.close()


def test_a_restart_is_reported_again(unified: Path, watching: LxcSource) -> None:
    payload = unified / "lxc.payload.web"
    payload.mkdir()
    assert read_started(watching) == lxc("web")
    payload.rmdir()
    assert read_started(watching) == []
    payload.mkdir()
    assert read_started(watching) == lxc("web")


def test_a_restart_in_the_old_layout_after_its_parent_went_is_reported_again(
    unified: Path, watching: LxcSource
) -> None:
    (unified / "lxc.payload" / "web").mkdir(parents=True)
    assert read_started(watching) == lxc("web")
    (unified / "lxc.payload" / "web").rmdir()
    (unified / "lxc.payload").rmdir()  # LXC removes the emptied parent
    assert read_started(watching) == []
    (unified / "lxc.payload" / "web").mkdir(parents=True)
    assert read_started(watching) == lxc("web")


def test_one_start_in_several_hierarchies_is_reported_once(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    for hierarchy in ("cpu", "memory", "unified"):
        (root / hierarchy).mkdir(parents=True)
        (root / hierarchy / "cgroup.procs").write_text("")
    source = LxcSource(str(root))
    source.reconnect()
    try:
        (root / "cpu" / "lxc.payload.web").mkdir()
        assert read_started(source) == lxc("web")
        # LXC makes the others a little later: each read on its own sees one mkdir
        (root / "memory" / "lxc.payload.web").mkdir()
        assert read_started(source) == []
        (root / "unified" / "lxc.payload.web").mkdir()
        assert read_started(source) == []
        for hierarchy in ("cpu", "memory", "unified"):
            (root / hierarchy / "lxc.payload.web").rmdir()
        assert read_started(source) == []
        for hierarchy in ("cpu", "memory"):
            (root / hierarchy / "lxc.payload.web").mkdir()
        assert read_started(source) == lxc("web"), "stopped in all, started again"
    finally:
        source.close()


def test_several_starts_at_once_are_all_reported(unified: Path, watching: LxcSource) -> None:
    names = [f"ct{i}" for i in range(50)]
    for name in names:
        (unified / f"lxc.payload.{name}").mkdir()
    started: list[GuestRef] = []
    deadline = time.monotonic() + 5
    while len(started) < len(names) and time.monotonic() < deadline:
        started += read_started(watching) or []
    assert sorted(started, key=lambda g: int(g.value[2:])) == lxc(*names)


def test_no_hierarchy_is_a_lost_source(tmp_path: Path) -> None:
    with pytest.raises(SourceLost, match="no cgroup hierarchy"):
        LxcSource(str(tmp_path / "absent")).reconnect()


def test_lxc_declares_nothing_itself(watching: LxcSource) -> None:
    assert watching.running() == []
    assert watching.declarations_for(lxc("web")) == []


def test_the_real_cgroup_mount_can_be_watched() -> None:
    source = LxcSource()
    try:
        assert source.reconnect()
        assert source.fileno() is not None
    finally:
        source.close()
    assert source.fileno() is None


# ---------------------------------------------------------------- the start-host hook


def test_the_hook_line_refuses_a_name_that_is_not_a_container_name() -> None:
    with pytest.raises(UsageError):
        lxc_hook_line("web; reboot")


def test_the_hook_line_is_an_lxc_start_host_hook() -> None:
    line = lxc_hook_line("web", program=["/usr/local/bin/pipework"])
    key, _, value = line.partition(" = ")
    assert key == "lxc.hook.start-host"
    assert value.startswith("/bin/sh -c ")
    assert "/usr/local/bin/pipework apply --guest lxc:web" in value


@pytest.mark.parametrize("hook_version", [0, 1])
def test_the_hook_runs_apply_for_the_container_and_returns_at_once(
    tmp_path: Path, hook_version: int
) -> None:
    """Run the line as LXC does (``sh -c "exec HOOK [NAME lxc start-host]"``): the
    hook must return while apply still runs (LXC's monitor answers nobody until
    it has), and apply must get exactly its own arguments."""
    record = tmp_path / "argv"
    fake = tmp_path / "pipework"
    fake.write_text(f'#!/bin/sh\nsleep 1\necho "$@" > {record}\n')
    fake.chmod(0o755)
    line = lxc_hook_line("web", program=[str(fake)], directory="/srv/decl.d")
    hook = line.partition(" = ")[2]
    buffer = f"exec {hook} web lxc start-host" if hook_version == 0 else f"exec {hook}"
    started = time.monotonic()
    # LXC reads the hook's output until it closes: a pipe that stays open would hang it
    done = subprocess.run(["/bin/sh", "-c", buffer], check=False, capture_output=True, timeout=10)
    assert done.returncode == 0
    assert time.monotonic() - started < 0.9, "the hook waited for apply"
    deadline = time.monotonic() + 10
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record.read_text().split() == ["apply", "--guest", "lxc:web", "--dir", "/srv/decl.d"]


def test_the_hook_line_names_this_pipework_by_an_absolute_path() -> None:
    line = lxc_hook_line("web")
    program = line.split("-c ", 1)[1].lstrip("'(").split()[0]
    assert os.path.isabs(program)
