"""containerd guests for real: tasks run with Debian's ctr in Debian's containerd.

Each task runs from a busybox directory tree of its own (``ctr run --rootfs``: no
image is pulled or even imported) in a namespace of its own, and without
``--net-host`` it gets a network namespace of its own (no CNI). A Kubernetes pod's
sandbox is such a task in namespace ``k8s.io`` carrying the CRI plugin's
annotations (``ctr run --annotation`` writes them into the OCI spec, as the CRI
plugin does): no kubelet runs here. Docker's containers are tasks of Docker's own
containerd (namespace ``moby``) too, and must be one guest, not two.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time

import pytest

from .conftest import have, link, pipework, require, sh, unique, wait_until

SOCKET = "/run/containerd/containerd.sock"
STATE = "/run/containerd/io.containerd.runtime.v2.task"
APPLETS = ("sh", "ping", "ip", "sleep", "cat")
NAMESPACE = "pwtns"


def _containerd_up() -> bool:
    if not (have("ctr") and os.path.exists(SOCKET)):
        return False
    return sh("ctr", "version", check=False, timeout=20).returncode == 0


@pytest.fixture
def task(cleanup, tmp_path):
    """Run a task (``/bin/sleep``) in containerd; killed and removed after the test."""
    require(_containerd_up(), "no containerd (scripts/test starts one)")
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")

    def run(namespace: str | None = None, *extra: str) -> tuple[str, str, int]:
        # one namespace for all (containerd keeps each namespace's state directory)
        ns = namespace or NAMESPACE
        ident = unique("pwtc")
        rootfs = tmp_path / ident
        for sub in ("bin", "proc", "sys", "dev", "etc", "tmp"):
            (rootfs / sub).mkdir(parents=True)
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        ctr = ("ctr", "-n", ns)
        if namespace is None:  # (refused while another test's container is in it)
            cleanup.add(f"namespace {ns}", lambda: sh("ctr", "namespace", "rm", ns, check=False))
        cleanup.add(f"container {ns}/{ident}", lambda: sh(*ctr, "c", "rm", ident, check=False))
        cleanup.add(f"task {ns}/{ident}", lambda: sh(*ctr, "task", "rm", "-f", ident, check=False))
        sh(*ctr, "run", "-d", *extra, "--rootfs", str(rootfs), ident, "/bin/sleep", "600")
        pid_file = f"{STATE}/{ns}/{ident}/init.pid"
        wait_until(lambda: os.path.exists(pid_file), what=pid_file)
        with open(pid_file) as f:
            return ns, ident, int(f.read())

    return run


def _in_task(pid: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return sh("nsenter", "-t", str(pid), "-n", *argv, check=False)


def _task_addresses(pid: int, ifname: str = "eth1") -> list[str]:
    out = _in_task(pid, "ip", "-j", "addr", "show", "dev", ifname).stdout
    return [
        f"{a['local']}/{a['prefixlen']}"
        for entry in json.loads(out or "[]")
        for a in entry.get("addr_info", [])
        if a.get("scope") == "global"
    ]


def test_a_task_by_namespace_id_and_bare_id_pings_and_detaches(task, bridge_name):
    (ns_a, a, pid_a), (ns_b, b, pid_b) = task(), task()
    br = bridge_name()
    res = pipework(br, f"containerd:{ns_a}/{a}", "198.51.100.21/24")
    assert res.returncode == 0, res.stderr
    res = pipework(br, b, "198.51.100.22/24")  # a bare ID: every namespace is looked in
    assert res.returncode == 0, res.stderr
    assert _task_addresses(pid_a) == ["198.51.100.21/24"]
    assert _task_addresses(pid_b) == ["198.51.100.22/24"]
    assert _in_task(pid_a, "ping", "-c", "1", "-W", "3", "198.51.100.22").returncode == 0

    rows = {row["guest"]: row for row in json.loads(pipework("ls", "--json").stdout)}
    assert rows[f"containerd:{ns_a}/{a}"]["runtime"] == "containerd"
    assert rows[f"containerd:{ns_b}/{b}"]["addresses"] == ["198.51.100.22/24"]

    host = rows[f"containerd:{ns_a}/{a}"]["host_ifname"]
    res = pipework("detach", f"containerd:{ns_a}/{a}")
    assert res.returncode == 0, res.stderr
    assert link(host) is None and _in_task(pid_a, "ip", "link", "show", "eth1").returncode != 0
    res = pipework("detach", f"containerd:{b}")
    assert res.returncode == 0, res.stderr
    guests = {row["guest"] for row in json.loads(pipework("ls", "--json").stdout)}
    assert not guests & {f"containerd:{ns_a}/{a}", f"containerd:{ns_b}/{b}"}


def test_a_stopped_task_gives_a_clear_error(task, bridge_name):
    ns, ident, _pid = task()
    sh("ctr", "-n", ns, "task", "kill", "-s", "KILL", ident)
    wait_until(
        lambda: "STOPPED" in sh("ctr", "-n", ns, "task", "ls").stdout, what="the task to stop"
    )
    br = bridge_name()
    res = pipework(br, f"containerd:{ns}/{ident}", "198.51.100.23/24")
    assert res.returncode == 1
    assert f"task {ns}/{ident} is not running" in res.stderr
    assert link(br) is None


def test_an_unknown_namespace_or_a_path_is_refused(bridge_name):
    br = bridge_name()
    res = pipework(br, "containerd:pwt-nons/pwtc0", "198.51.100.24/24")
    assert res.returncode == 1 and "no running task pwtc0 in namespace pwt-nons" in res.stderr
    for bad in ("containerd:../../etc/x", "containerd:a/b/c", "k8s:/etc/passwd"):
        res = pipework(br, bad, "198.51.100.24/24")
        assert res.returncode == 2, (bad, res.stderr)
    assert link(br) is None


def test_a_docker_container_is_one_guest_through_docker_and_its_containerd(container, bridge_name):
    ct = container()
    cid = sh("docker", "inspect", "-f", "{{.Id}}", ct).stdout.strip()
    # Docker runs its tasks in its own containerd, or in the host's when one was running
    # as dockerd started: the containerd resolver reads both
    roots = ("/run/docker/containerd/daemon", "/run/containerd")
    require(
        any(os.path.exists(f"{r}/io.containerd.runtime.v2.task/moby/{cid}") for r in roots),
        "this Docker keeps no runtime v2 task state",
    )
    res = pipework("inspect", cid, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    found = {r["resolver"]: r["candidates"] for r in report["resolvers"]}
    assert found["docker"] and found["containerd"]  # two views of it...
    br = bridge_name()
    res = pipework(br, cid, "198.51.100.25/24")  # ...and one guest, not an ambiguity
    assert res.returncode == 0, res.stderr
    res = pipework(
        "attach",
        f"containerd:moby/{cid}",
        "--to",
        br,
        "--ip",
        "198.51.100.26/24",
        "--ifname",
        "eth2",
    )
    assert res.returncode == 0, res.stderr
    pid = int(sh("docker", "inspect", "-f", "{{.State.Pid}}", ct).stdout)
    assert _task_addresses(pid, "eth2") == ["198.51.100.26/24"]


def test_a_pod_sandbox_by_k8s_namespace_and_name(task, bridge_name):
    pod_ns, pod = unique("pwtpodns"), unique("pwtpod")
    annotations = {
        "io.kubernetes.cri.container-type": "sandbox",
        "io.kubernetes.cri.sandbox-name": pod,
        "io.kubernetes.cri.sandbox-namespace": pod_ns,
    }
    extra = [f"--annotation={key}={value}" for key, value in annotations.items()]
    _ns, sandbox, pid = task("k8s.io", *extra)
    # an app container of the same pod: same names, container-type container
    app = [*extra[1:], "--annotation=io.kubernetes.cri.container-type=container"]
    task("k8s.io", *app)
    br = bridge_name()
    res = pipework(br, f"k8s:{pod_ns}/{pod}", "198.51.100.27/24")
    assert res.returncode == 0, res.stderr
    assert _task_addresses(pid) == ["198.51.100.27/24"]
    rows = {row["guest"]: row for row in json.loads(pipework("ls", "--json").stdout)}
    assert rows[f"k8s:{pod_ns}/{pod}"]["runtime"] == "k8s"
    res = pipework("inspect", f"k8s:{pod}")
    assert res.returncode == 0 and sandbox in res.stdout
    assert pipework("detach", f"k8s:{pod_ns}/{pod}").returncode == 0
    assert _in_task(pid, "ip", "link", "show", "eth1").returncode != 0


def _attach_times(guests: dict[str, str], br: str, rounds: int = 20) -> dict[str, float]:
    """Median one-shot attach time of each guest (to its address), the guests taking
    turns so that the host's load falls on all of them alike."""
    times: dict[str, list[float]] = {guest: [] for guest in guests}
    for _ in range(rounds):
        for guest, address in guests.items():
            start = time.perf_counter()
            res = pipework(br, guest, address)
            times[guest].append(time.perf_counter() - start)
            assert res.returncode == 0, res.stderr
            assert pipework("detach", guest).returncode == 0
    return {guest: statistics.median(t) for guest, t in times.items()}


def test_one_shot_attach_time_against_a_named_netns(task, make_netns, bridge_name):
    """The target (<= 1.3x a named netns): printed, not asserted (shared, noisy host)."""
    ns, ident, _pid = task()
    netns = make_netns()
    br = bridge_name()
    assert pipework(br, netns, "198.51.100.28/24").returncode == 0  # the bridge exists
    assert pipework("detach", netns).returncode == 0
    # a prefix asks one runtime, a bare name every runtime on the host: compare like with like
    guests = {
        f"netns:{netns}": "198.51.100.28/24",
        f"containerd:{ns}/{ident}": "198.51.100.29/24",
        netns: "198.51.100.28/24",
        ident: "198.51.100.29/24",
    }
    named, by_prefix, named_bare, bare = _attach_times(guests, br).values()
    print(
        f"\none-shot attach, median of 20: netns:NAME {named * 1e3:.1f} ms, "
        f"containerd:NS/ID {by_prefix * 1e3:.1f} ms ({by_prefix / named:.2f}x); "
        f"bare netns name {named_bare * 1e3:.1f} ms, bare ID {bare * 1e3:.1f} ms "
        f"({bare / named_bare:.2f}x)"
    )
    assert link("eth1", netns) is None


def _cgroup2_root() -> str | None:
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    return None


def test_a_process_in_a_cgroup_named_like_the_task_is_not_the_task(cleanup, spawn, monkeypatch):
    """A stopped task's init.pid may name a pid the kernel has given to someone else, who
    may sit in a cgroup of the task's name (users get delegated subtrees): only a child
    of root's containerd shim counts."""
    from pipework.guests import containerd

    root = _cgroup2_root()
    require(root is not None, "no cgroup2 hierarchy mounted")
    ident = unique("pwtc")
    group = f"{root}/{ident}"
    cleanup.add(f"cgroup {group}", lambda: os.path.isdir(group) and os.rmdir(group))
    os.mkdir(group)
    impostor = spawn("unshare", "-n", "sleep", "60")
    wait_until(lambda: os.readlink(f"/proc/{impostor.pid}/exe").endswith("/sleep"))
    with open(f"{group}/cgroup.procs", "w") as f:
        f.write(str(impostor.pid))
    # (moved back to the root before the cgroup is removed: a cgroup with a process is busy)
    cleanup.add(f"{impostor.pid} out of {group}", lambda: _move_to_root(root, impostor.pid))
    assert containerd.in_task_cgroup(impostor.pid, ident)  # the name alone would pass
    assert not containerd.parent_is_shim(impostor.pid)
    assert not containerd.is_task_process(impostor.pid, ident)


def _move_to_root(root: str | None, pid: int) -> None:
    try:
        with open(f"{root}/cgroup.procs", "w") as f:
            f.write(str(pid))
    except OSError:
        pass  # it is gone already
