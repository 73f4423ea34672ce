"""LXD guests for real: Debian 12's LXD 5.0 daemon and busybox containers it runs.

scripts/test installs LXD and starts it (scripts/lib.sh, ensure_lxd): in a network
namespace with nothing but lo, since it reaches for image servers when it starts,
with one dir storage pool (``pwtpool``) and no network. This module imports a
busybox image built here (no image server is ever asked) and launches containers
with no profile, so with no NIC until pipework gives them one.

LXD's containers are LXC containers (cgroup ``lxc.payload.NAME``), so the lxc
resolver finds them too: a bare name must be one guest, not two. Debian 12 has no
Incus; the ``incus:`` prefix is asked through LXD's socket (``INCUS_SOCKET``), as
Incus answers the same API.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator

import pytest

from .conftest import (
    APPLETS,
    Cleanup,
    have,
    link,
    pings,
    pipework,
    require,
    sh,
    unique,
)

pytestmark = pytest.mark.integration

POOL = "pwtpool"
IMAGE = "pwt-busybox-lxd"
SOCKETS = ("/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket")


def _lxd_up() -> bool:
    return have("lxc") and sh("lxc", "query", "/1.0", check=False, timeout=20).returncode == 0


def _image_tarball() -> bytes:
    """A unified LXD image: metadata.yaml and a busybox rootfs whose init sleeps."""
    buf = io.BytesIO()
    meta = f"architecture: {os.uname().machine}\ncreation_date: {int(time.time())}\n"
    meta += "properties:\n  description: pipework test busybox\n  os: busybox\n"
    init = b"#!/bin/sh\nwhile :; do sleep 3600; done\n"

    def add(tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.mode = mode
        if data is None:
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
        else:
            info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data is not None else None)

    with tarfile.open(fileobj=buf, mode="w") as tar:
        add(tar, "metadata.yaml", meta.encode())
        for directory in ("", "bin", "sbin", "dev", "proc", "sys", "tmp", "etc"):
            add(tar, f"rootfs/{directory}".rstrip("/"))
        tar.add("/bin/busybox", arcname="rootfs/bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"rootfs/bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
        add(tar, "rootfs/sbin/init", init, 0o755)
    return buf.getvalue()


@pytest.fixture(scope="module")
def lxd_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The busybox image, imported offline; deleted after the module."""
    require(have("lxd") and have("lxc"), "LXD is not installed (scripts/test installs it)")
    require(_lxd_up(), "the LXD daemon is not running (scripts/test starts it)")
    require(
        sh("lxc", "storage", "show", POOL, check=False).returncode == 0,
        f"LXD has no storage pool {POOL} (scripts/lib.sh ensure_lxd makes it)",
    )
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")
    tarball = tmp_path_factory.mktemp("lxd") / "pwt-busybox.tar"
    tarball.write_bytes(_image_tarball())
    sh("lxc", "image", "delete", IMAGE, check=False)  # left by a killed run
    sh("lxc", "image", "import", str(tarball), "--alias", IMAGE, timeout=120)
    yield IMAGE
    sh("lxc", "image", "delete", IMAGE, check=False)


@pytest.fixture
def lxd_container(lxd_image: str, cleanup: Cleanup) -> Callable[..., str]:
    """Launch (or only create) a container with no profile, so no NIC; deleted after."""

    def make(start: bool = True) -> str:
        name = unique("pwt-lxd-")
        cleanup.add(f"lxd {name}", lambda: sh("lxc", "delete", "-f", name, check=False))
        verb = "launch" if start else "init"
        sh("lxc", verb, lxd_image, name, "--no-profiles", "-s", POOL, timeout=120)
        return name

    return make


def lxd_pid(name: str) -> int:
    state = json.loads(sh("lxc", "query", f"/1.0/instances/{name}/state").stdout)
    pid = state["pid"]
    assert isinstance(pid, int) and pid > 0, state
    return pid


def lxd_socket() -> str:
    return next(path for path in SOCKETS if os.path.exists(path))


def inside(pid: int, ifname: str = "eth1") -> str:
    res = sh("nsenter", "-t", str(pid), "-n", "ip", "-br", "addr", "show", ifname, check=False)
    return res.stdout if res.returncode == 0 else ""


def ls_lines() -> list[str]:
    res = pipework("ls")
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def test_lxd_container_attaches_by_prefix_pings_and_detaches(
    lxd_container, make_bridge, make_netns
):
    ct = lxd_container()
    pid = lxd_pid(ct)
    br = make_bridge()
    peer = make_netns()

    res = pipework(br, f"lxd:{ct}", "198.51.100.71/24")
    assert res.returncode == 0, res.stderr
    assert "198.51.100.71/24" in inside(pid)
    assert link(f"veth1pl{pid}")["master"] == br
    res = pipework(br, f"netns:{peer}", "198.51.100.72/24")
    assert res.returncode == 0, res.stderr
    assert pings(peer, "198.51.100.71")
    assert any(line.split()[:2] == [f"lxd:{ct}", "eth1"] for line in ls_lines()), ls_lines()

    res = pipework("detach", f"lxd:{ct}")
    assert res.returncode == 0, res.stderr
    assert inside(pid) == "", "eth1 is gone from the container"
    assert link(f"veth1pl{pid}") is None
    assert not any(line.startswith(f"lxd:{ct} ") for line in ls_lines())


def test_a_bare_name_is_one_guest_found_by_lxd_and_lxc(lxd_container, make_bridge):
    ct = lxd_container()
    pid = lxd_pid(ct)
    br = make_bridge()

    res = pipework("inspect", ct)
    assert res.returncode == 0, res.stderr
    # Two views of one container (the daemon's pid, the lxc.payload cgroup), one guest.
    assert f"candidate lxd:{ct}, pid {pid} (LXD API at" in res.stdout, res.stdout
    assert f"candidate lxc:{ct}, pid {pid} (cgroup" in res.stdout, res.stdout
    assert f"chosen: lxd:{ct}" in res.stdout, res.stdout

    res = pipework(br, ct, "198.51.100.73/24")
    assert res.returncode == 0, res.stderr
    assert "198.51.100.73/24" in inside(pid)
    assert any(line.startswith(f"lxd:{ct} ") for line in ls_lines())


def test_a_stopped_lxd_container_gives_a_clear_error(lxd_container, bridge_name):
    ct = lxd_container(start=False)
    br = bridge_name()
    res = pipework(br, f"lxd:{ct}", "198.51.100.74/24")
    assert res.returncode == 1
    assert f"cannot find guest '{ct}'" in res.stderr
    assert f"lxd: instance {ct} is not running (status: Stopped)" in res.stderr
    assert link(br) is None, "nothing was created"


def test_an_unknown_lxd_name_says_the_daemon_has_no_such_instance(lxd_image, bridge_name):
    br = bridge_name()
    res = pipework(br, "lxd:pwt-lxd-nosuch", "198.51.100.75/24")
    assert res.returncode == 1
    assert "lxd: no instance pwt-lxd-nosuch" in res.stderr
    assert link(br) is None


def test_the_incus_prefix_speaks_the_same_api(lxd_container, make_bridge):
    ct = lxd_container()
    pid = lxd_pid(ct)
    br = make_bridge()
    res = pipework(br, f"incus:{ct}", "198.51.100.76/24", env={"INCUS_SOCKET": lxd_socket()})
    assert res.returncode == 0, res.stderr
    assert "198.51.100.76/24" in inside(pid)
    assert any(line.startswith(f"incus:{ct} ") for line in ls_lines())


def test_another_projects_container_is_lxd_project_slash_name(lxd_image, cleanup, make_bridge):
    project, ct = unique("pwt-lxdp-"), unique("pwt-lxd-")
    cleanup.add(
        f"lxd project {project}", lambda: sh("lxc", "project", "delete", project, check=False)
    )
    # images and profiles shared with the default project: the image is imported once
    sh("lxc", "project", "create", project, "-c", "features.images=false",
       "-c", "features.profiles=false")  # fmt: skip
    cleanup.add(
        f"lxd {project}/{ct}",
        lambda: sh("lxc", "delete", "-f", ct, "--project", project, check=False),
    )
    sh("lxc", "launch", lxd_image, ct, "--project", project, "--no-profiles", "-s", POOL,
       timeout=120)  # fmt: skip
    state = sh("lxc", "query", f"/1.0/instances/{ct}/state?project={project}").stdout
    pid = json.loads(state)["pid"]
    br = make_bridge()

    res = pipework(br, f"lxd:{ct}", "198.51.100.77/24")
    assert res.returncode == 1, "not in the default project"
    assert f"lxd: no instance {ct}" in res.stderr
    res = pipework(br, f"lxd:{project}/{ct}", "198.51.100.77/24")
    assert res.returncode == 0, res.stderr
    assert "198.51.100.77/24" in inside(pid)
    assert any(line.startswith(f"lxd:{project}/{ct} ") for line in ls_lines())
    res = pipework("detach", f"lxd:{project}/{ct}")
    assert res.returncode == 0, res.stderr
    assert inside(pid) == ""


_NO_CGROUP = r"""
import sys
import pipework.guests.lxd as lxd
lxd.init_pid = lambda lxc_name: None  # as where the payload cgroup is not visible
from pipework.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_daemons_state_gives_the_pid_where_the_cgroup_is_not_seen(lxd_container):
    ct = lxd_container()
    pid = lxd_pid(ct)
    res = subprocess.run(
        [sys.executable, "-c", _NO_CGROUP, "inspect", f"lxd:{ct}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert f"init pid {pid} from the daemon's state" in res.stdout, res.stdout
