"""Podman guests for real: Debian's podman 4.3 with runc, --network none, an image imported
from the host's busybox-static (never pulled: --pull never).

pipework finds them from Podman's own state files (containers.json, conmon's pidfile),
with no podman subprocess: by name, full ID or unique ID prefix; a rootless container
as ``podman:NAME@USER``; the libpod API only when the files cannot be read.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from .conftest import (
    APPLETS,
    Cleanup,
    exe_is,
    link,
    pipework,
    require,
    sh,
    unique,
    wait_until,
)

IMAGE = "localhost/pwt-busybox:podman"
RUN = [
    "--pull",
    "never",
    "--network",
    "none",
    "--runtime",
    "runc",
    "--cap-add",
    "NET_RAW",  # podman drops it by default; busybox ping needs it
    # runc's defaults are above what this host's hybrid cgroups allow a container
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
]


def _busybox_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    return buf.getvalue()


@pytest.fixture(scope="module")
def podman_image() -> Iterator[str]:
    require(shutil.which("podman"), "podman is not installed (scripts/test installs it)")
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")
    subprocess.run(
        ["podman", "import", "-", IMAGE],
        input=_busybox_tar(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    yield IMAGE
    sh("podman", "rmi", "-f", IMAGE, check=False)


@pytest.fixture
def podman(podman_image: str, cleanup: Cleanup) -> Callable[..., str]:
    """Run (or only create) a podman container with no network; removed after the test."""

    def run(name: str | None = None, start: bool = True) -> str:
        name = name or unique("pwt-pm")
        cleanup.add(
            f"podman {name}", lambda: sh("podman", "rm", "-f", "-t", "0", name, check=False)
        )
        verb = ["run", "-d"] if start else ["create"]
        sh("podman", *verb, *RUN, "--name", name, podman_image, "/bin/sleep", "600", timeout=120)
        return name

    return run


def _inspect(name: str, template: str) -> str:
    return sh("podman", "inspect", "-f", template, name).stdout.strip()


def _in(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return sh("podman", "exec", name, *argv, check=False)


def test_two_podman_containers_by_name_ping_each_other(podman, bridge_name):
    a, b = podman(), podman()
    br = bridge_name()
    res = pipework(br, a, "198.51.100.21/24")
    assert res.returncode == 0, res.stderr
    assert pipework(br, f"podman:{b}", "198.51.100.22/24").returncode == 0
    assert "198.51.100.21/24" in _in(a, "ip", "-o", "addr", "show", "eth1").stdout
    assert _in(a, "ping", "-c", "1", "-W", "3", "198.51.100.22").returncode == 0
    pid = _inspect(a, "{{.State.Pid}}")
    assert link(f"veth1pl{pid}")["master"] == br


def test_podman_container_by_full_id_and_id_prefix(podman, bridge_name):
    a, b = podman(), podman()
    br = bridge_name()
    res = pipework(br, _inspect(a, "{{.Id}}"), "198.51.100.23/24")
    assert res.returncode == 0, res.stderr
    res = pipework(br, f"podman:{_inspect(b, '{{.Id}}')[:12]}", "198.51.100.24/24")
    assert res.returncode == 0, res.stderr
    assert _in(b, "ping", "-c", "1", "-W", "3", "198.51.100.23").returncode == 0


def test_no_podman_command_is_needed(podman, bridge_name, tmp_path):
    ct = podman()
    bindir = tmp_path / "bin"
    bindir.mkdir()  # no podman, no conmon, no runc on the PATH
    res = pipework(bridge_name(), ct, "198.51.100.25/24", env={"PATH": str(bindir)})
    assert res.returncode == 0, res.stderr
    assert "198.51.100.25/24" in _in(ct, "ip", "-o", "addr", "show", "eth1").stdout


def test_created_and_stopped_containers_give_a_clear_error(podman, bridge_name):
    created = podman(start=False)
    br = bridge_name()
    res = pipework(br, f"podman:{created}", "198.51.100.26/24")
    assert res.returncode == 1
    assert f"container {created}" in res.stderr and "is not running" in res.stderr
    stopped = podman()
    sh("podman", "stop", "-t", "0", stopped)
    res = pipework(br, stopped, "198.51.100.26/24")
    assert res.returncode == 1
    assert f"container {stopped}" in res.stderr and "is not running" in res.stderr
    assert link(br) is None


def test_an_ambiguous_id_prefix_lists_the_containers(podman, bridge_name):
    # Two of at most 17 containers share their first hex digit (pigeonhole).
    by_digit: dict[str, list[str]] = {}
    for _ in range(17):
        cid = _inspect(podman(start=False), "{{.Id}}")
        by_digit.setdefault(cid[0], []).append(cid[:12])
        if len(by_digit[cid[0]]) == 2:
            break
    digit, ids = next((d, i) for d, i in by_digit.items() if len(i) == 2)
    br = bridge_name()
    res = pipework(br, f"podman:{digit}", "198.51.100.27/24")
    assert res.returncode == 1
    # (other podman containers on this host may share the digit too)
    assert f"guest '{digit}' matches " in res.stderr and " guests in podman: " in res.stderr
    assert all(cid in res.stderr for cid in ids)
    assert link(br) is None


def test_ls_shows_podman_and_detach_leaves_nothing(podman, bridge_name):
    ct = podman()
    br = bridge_name()
    assert pipework(br, ct, "198.51.100.28/24").returncode == 0
    rows = [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"] == f"podman:{ct}"]
    assert [(r["bridge"], r["addresses"]) for r in rows] == [(br, ["198.51.100.28/24"])]
    assert f"podman:{ct}" in pipework("ls").stdout
    res = pipework("detach", f"podman:{ct}")
    assert res.returncode == 0, res.stderr
    assert "eth1" not in _in(ct, "ip", "-o", "link").stdout
    assert link(f"veth1pl{_inspect(ct, '{{.State.Pid}}')}") is None
    assert not [r for r in json.loads(pipework("ls", "--json").stdout) if r["guest"].endswith(ct)]


def test_a_name_podman_and_docker_both_know_is_ambiguous(podman, image, cleanup, bridge_name):
    name = unique("pwt-both")
    cleanup.add(f"container {name}", lambda: sh("docker", "rm", "-f", name, check=False))
    sh("docker", "run", "-d", "--pull", "never", "--network", "none", "--name", name, image,
       "/bin/sleep", "600", timeout=120)  # fmt: skip
    podman(name)
    br = bridge_name()
    res = pipework(br, name, "198.51.100.29/24")
    assert res.returncode == 1
    assert "matches 2 different guests" in res.stderr
    assert f"docker:{name}" in res.stderr and f"podman:{name}" in res.stderr
    assert link(br) is None
    res = pipework(br, f"podman:{name}", "198.51.100.29/24")
    assert res.returncode == 0, res.stderr
    assert "198.51.100.29/24" in _in(name, "ip", "-o", "addr", "show", "eth1").stdout


def test_the_libpod_api_is_asked_only_when_the_files_cannot_be_read(
    podman, bridge_name, spawn, tmp_path
):
    ct = podman()
    sock = f"/run/pwt-podman-{uuid.uuid4().hex[:8]}.sock"
    spawn("podman", "system", "service", "--time=0", f"unix://{sock}", stderr=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(sock), 20, "the podman API socket")
    empty = tmp_path / "graph"
    empty.mkdir()
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{empty}"\n')
    try:
        env = {"CONTAINERS_STORAGE_CONF": str(conf), "CONTAINER_HOST": f"unix://{sock}"}
        res = pipework("inspect", f"podman:{ct}", env=env)
        assert res.returncode == 0, res.stderr
        assert f"libpod API at {sock} (no containers.json under {empty})" in res.stdout
        res = pipework(bridge_name(), f"podman:{ct}", "198.51.100.30/24", env=env)
        assert res.returncode == 0, res.stderr
        assert "198.51.100.30/24" in _in(ct, "ip", "-o", "addr", "show", "eth1").stdout
        res = pipework("inspect", f"podman:{ct}")  # the files, as usual
        assert (
            "rootful podman: /var/lib/containers/storage/overlay-containers/containers.json, pid"
            in res.stdout
        )
    finally:
        if os.path.exists(sock):
            os.unlink(sock)


@pytest.fixture(scope="module")
def rootless_user() -> Iterator[tuple[str, dict[str, str]]]:
    """A user made for this module with a rootless podman and the image; removed after."""
    require(shutil.which("podman"), "podman is not installed (scripts/test installs it)")
    require(shutil.which("newuidmap"), "newuidmap (uidmap) is not installed")
    user = unique("pwtrl")[:16]
    sh("useradd", "-m", "-s", "/bin/sh", user)
    uid = int(sh("id", "-u", user).stdout)
    rundir = f"/run/user/{uid}"  # what pam_systemd would make at login
    env = {"HOME": f"/home/{user}", "XDG_RUNTIME_DIR": rundir, "PATH": os.environ["PATH"]}
    try:
        os.makedirs(rundir, mode=0o700)
        os.chown(rundir, uid, uid)
        tar = f"{rundir}/busybox.tar"
        with open(tar, "wb") as f:
            f.write(_busybox_tar())
        os.chown(tar, uid, uid)
        sh("runuser", "-u", user, "--", "podman", "import", tar, IMAGE, env=env, cwd="/",
           timeout=120)  # fmt: skip
        yield user, env
    finally:
        sh("runuser", "-u", user, "--", "podman", "rm", "-a", "-f", "-t", "0", env=env,
           cwd="/", check=False, timeout=120)  # fmt: skip
        # rootless podman leaves its pause process (which holds its user namespace)
        pause = f"{rundir}/libpod/tmp/pause.pid"
        if os.path.exists(pause):
            with open(pause) as f:
                sh("kill", "-KILL", f.read().strip(), check=False)
        sh("userdel", "-r", "-f", user, check=False)
        shutil.rmtree(rundir, ignore_errors=True)


def test_a_rootless_container_is_named_with_its_user(rootless_user, bridge_name, cleanup):
    user, env = rootless_user
    name = unique("pwt-rl")

    def as_user(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("runuser", "-u", user, "--", *argv, env=env, cwd="/", check=check, timeout=120)

    cleanup.add(
        f"podman {name}", lambda: as_user("podman", "rm", "-f", "-t", "0", name, check=False)
    )
    as_user("podman", "run", "-d", *RUN, "--name", name, IMAGE, "/bin/sleep", "600")
    br = bridge_name()
    # a bare name never reaches into a user's store: root's podman has no such container
    res = pipework(br, name, "198.51.100.31/24")
    assert res.returncode == 1 and "no container" in res.stderr
    res = pipework(br, f"podman:{name}@{user}", "198.51.100.31/24")
    assert res.returncode == 0, res.stderr
    shown = as_user("podman", "exec", name, "ip", "-o", "addr", "show", "eth1").stdout
    assert "198.51.100.31/24" in shown
    assert f"podman:{name}@{user}" in pipework("ls").stdout
    assert pipework("detach", f"podman:{name}@{user}").returncode == 0
    assert "eth1" not in as_user("podman", "exec", name, "ip", "-o", "link").stdout
    as_user("podman", "stop", "-t", "0", name)
    res = pipework(br, f"podman:{name}@{user}", "198.51.100.31/24")
    assert res.returncode == 1 and "is not running" in res.stderr


def test_one_shot_attach_time_podman_against_named_netns(podman, make_netns, make_bridge):
    """Measured, not asserted (shared CI hosts are noisy): the issue's target is 1.3x.
    The three are interleaved, so a change in the host's load hits them alike."""
    ct, ns, br = podman(), make_netns(), make_bridge()
    guests = {"netns": f"netns:{ns}", "podman:NAME": f"podman:{ct}", "bare NAME": ct}
    times: dict[str, list[float]] = {what: [] for what in guests}
    for i in range(20):
        for what, guest in guests.items():
            start = time.perf_counter()
            res = pipework(br, guest, f"203.0.113.{i + 10}/24")
            times[what].append(time.perf_counter() - start)
            assert res.returncode == 0, res.stderr
            assert pipework("detach", guest).returncode == 0
    ms = {what: statistics.median(t) * 1000 for what, t in times.items()}
    print(
        "\none-shot attach, median of 20: "
        + ", ".join(f"{what} {v:.1f} ms ({v / ms['netns']:.2f}x)" for what, v in ms.items())
    )


def test_a_rootless_pid_counts_only_in_a_netns_its_user_made(
    rootless_user, make_netns, spawn, cleanup
):
    """Whatever a user writes in its own store (a pidfile, a fake conmon) cannot lead
    root into a namespace that user could not have entered: the netns's user
    namespace must be one the user created."""
    from pipework.guests import podman as resolver

    user, _ = rootless_user
    uid = int(sh("id", "-u", user).stdout)
    roots = spawn("ip", "netns", "exec", make_netns(), "sleep", "60")
    users = spawn("runuser", "-u", user, "--", "unshare", "-r", "-n", "sleep", "60")
    wait_until(lambda: exe_is(roots.pid, "sleep") and _child(users.pid), 10, "both sleeps")
    theirs = _child(users.pid)
    cleanup.add(f"sleep {theirs}", lambda: sh("kill", "-KILL", str(theirs), check=False))
    assert resolver._netns_owner(roots.pid) == 0
    assert resolver._netns_owner(theirs) == uid
    cid = "a" * 64
    saved = resolver._child_of_conmon
    resolver._child_of_conmon = lambda pid, uid, cid: True  # as if the user had faked one
    try:
        assert resolver.still_in_container(roots.pid, f"{uid}:{cid}") is False
        assert resolver.still_in_container(theirs, f"{uid}:{cid}") is True
        # rootful: root's namespaces only (a user's process in a cgroup it named
        # libpod-ID is still not root's container)
        assert resolver.still_in_container(roots.pid, f"0:{cid}") is True
        assert resolver.still_in_container(theirs, f"0:{cid}") is False
    finally:
        resolver._child_of_conmon = saved


def _child(pid: int) -> int:
    """The sleep runuser started (runuser forks it), once it runs."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        return 0
    return next((k for k in kids if exe_is(k, "sleep")), 0)
