"""Integration fixtures: real namespaces, bridges, processes and containers, always cleaned up.

Every object a test creates carries the ``pwt`` prefix, is registered for removal
before it is created, and is removed even when the test fails. An autouse fixture
snapshots the host's links, addresses, routes, Open vSwitch ports, resolv.conf and
hostname around every test and fails the
test if anything is left behind or changed.

Without root (or without LXC or Docker) tests are skipped, unless
PIPEWORK_REQUIRE_ALL=1 (as in CI), which turns every skip into a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("PIPEWORK_REQUIRE_ALL") == "1"
BIN = Path(sys.executable).parent
# PIPEWORK_COMMAND runs the tests against another build of the command (scripts/test
# runs a subset again against the single-file build/pipework.pyz).
PIPEWORK = os.environ.get("PIPEWORK_COMMAND") or str(BIN / "pipework")


def require(condition: object, reason: str) -> None:
    """Skip (or fail, under PIPEWORK_REQUIRE_ALL=1) when a test's prerequisite is missing."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required integration prerequisite missing: {reason}", pytrace=False)
    pytest.skip(reason)


def sh(
    *argv: str, check: bool = True, timeout: float = 60, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run a host command (an argv, never a shell) and capture its output."""
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        list(argv), capture_output=True, text=True, check=check, timeout=timeout, **kw
    )


def pipework(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``pipework`` command, as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [PIPEWORK, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def ip_json(*args: str, netns: str | None = None) -> list[dict[str, object]]:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    out = sh(*prefix, "-j", *args).stdout
    return json.loads(out) if out.strip() else []


def link(name: str, netns: str | None = None) -> dict[str, object] | None:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    res = sh(*prefix, "-j", "-d", "link", "show", "dev", name, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return json.loads(res.stdout)[0]  # type: ignore[no-any-return]


def addresses(name: str, netns: str | None = None) -> list[str]:
    """The global addresses on ``name`` as "ADDR/PREFIX" strings."""
    data = ip_json("addr", "show", "dev", name, netns=netns)
    return [
        f"{a['local']}/{a['prefixlen']}"
        for entry in data
        for a in entry.get("addr_info", [])  # type: ignore[attr-defined]
        if a.get("scope") == "global"
    ]


def unique(prefix: str = "pwt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def host_snapshot() -> dict[str, object]:
    """Links, addresses and routes of the host, minus what the kernel changes on its own.

    IPv6 link-local addresses and routes, operational states and route flags such as
    "linkdown" follow carrier changes asynchronously on pre-existing bridges; leaving
    them out keeps the check about what a test created or removed.
    """
    links = sorted(
        (str(entry["ifname"]), str(entry.get("master", ""))) for entry in ip_json("link", "show")
    )
    addrs = sorted(
        (str(entry["ifname"]), f"{a['local']}/{a['prefixlen']}")
        for entry in ip_json("addr", "show")
        for a in entry.get("addr_info", [])
        if not str(a["local"]).startswith("fe80:")
    )
    routes = sorted(
        json.dumps({k: v for k, v in r.items() if k != "flags"}, sort_keys=True)
        for r in ip_json("route", "show", "table", "all")
        if not str(r.get("dst", "")).startswith(("fe80:", "ff00:"))
    )
    return {
        "links": links,
        "addresses": addrs,
        "routes": routes,
        "ovs": _ovs_ports(),
        # what a DHCP client's script run naively in a netns overwrites on the host
        "resolv.conf": _read_bytes("/etc/resolv.conf"),
        "hostname": os.uname().nodename,
    }


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _ovs_ports() -> list[str]:
    """Open vSwitch's ports (bridges have one of their own), when OVS is running."""
    if not have("ovs-vsctl"):
        return []
    res = sh(
        "ovs-vsctl", "--timeout=5", "--format=csv", "--no-headings", "--columns=name", "list",
        "port", check=False,
    )  # fmt: skip
    return sorted(res.stdout.split()) if res.returncode == 0 else []


@pytest.fixture(autouse=True)
def root_and_host_unchanged() -> Iterator[None]:
    """Every integration test runs as root and leaves the host exactly as it found it."""
    require(os.geteuid() == 0, "integration tests need root")
    before = host_snapshot()
    yield
    after = None
    # Links die with their namespace asynchronously (the kernel's netns cleanup
    # work), which takes seconds when many namespaces go at once.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after = host_snapshot()
        if after == before:
            return
        time.sleep(0.1)
    assert after == before, "the test left the host changed"


class Cleanup:
    """Undo actions registered before each object is created, run newest first."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], object]]] = []

    def add(self, what: str, action: Callable[[], object]) -> None:
        self._actions.append((what, action))

    def run(self) -> None:
        errors = []
        while self._actions:
            what, action = self._actions.pop()
            try:
                action()
            except Exception as exc:
                errors.append(f"{what}: {exc}")
        if errors:
            raise RuntimeError("cleanup failed: " + "; ".join(errors))


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    c = Cleanup()
    yield c
    c.run()


def _del_link(name: str) -> None:
    sh("ip", "link", "del", name, check=False)


@pytest.fixture
def make_netns(cleanup: Cleanup) -> Callable[..., str]:
    """Create a named network namespace (``ip netns add``), removed after the test."""

    def make(name: str | None = None) -> str:
        ns = name or unique("pwt-ns")
        # --dns writes /etc/netns/NAME/resolv.conf, which `ip netns del` leaves
        cleanup.add(f"/etc/netns/{ns}", lambda: shutil.rmtree(f"/etc/netns/{ns}", True))
        cleanup.add(f"netns {ns}", lambda: sh("ip", "netns", "del", ns, check=False))
        # a daemon left in it (a DHCP client of a failed test) would keep it alive
        cleanup.add(f"processes in {ns}", lambda: kill_processes_in(ns))
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    return make


def kill_processes_in(ns: str) -> None:
    """SIGKILL every process in the named network namespace ``ns``."""
    try:
        inode = os.stat(f"/run/netns/{ns}").st_ino
    except FileNotFoundError:
        return
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                    os.kill(int(entry), signal.SIGKILL)


@pytest.fixture
def bridge_name(cleanup: Cleanup) -> Callable[..., str]:
    """A fresh bridge name (starting with 'br', so pipework may create it), deleted afterwards."""

    def make(prefix: str = "brpwt") -> str:
        name = unique(prefix)[:15]
        cleanup.add(f"bridge {name}", lambda: _del_link(name))
        return name

    return make


@pytest.fixture
def make_bridge(cleanup: Cleanup) -> Callable[..., str]:
    """Create a Linux bridge ourselves (pipework must not consider it its own)."""

    def make(name: str | None = None, mtu: int | None = None) -> str:
        br = name or unique("brpwt")[:15]
        cleanup.add(f"bridge {br}", lambda: _del_link(br))
        sh("ip", "link", "add", br, "type", "bridge")
        if mtu:
            sh("ip", "link", "set", br, "mtu", str(mtu))
        sh("ip", "link", "set", br, "up")
        return br

    return make


@pytest.fixture
def spawn(cleanup: Cleanup) -> Callable[..., subprocess.Popen[str]]:
    """Start a long-running process (killed after the test)."""

    def start(*argv: str, **kw: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(list(argv), text=True, **kw)  # type: ignore[call-overload]

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

        cleanup.add(f"process {argv[0]}", stop)
        return proc  # type: ignore[no-any-return]

    return start


def wait_until(
    predicate: Callable[[], object], timeout: float = 10, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def ns_pid(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def exe_is(pid: int, name: str) -> bool:
    """Whether ``pid`` runs ``name`` yet (unshare execs it after making the namespace)."""
    try:
        return os.readlink(f"/proc/{pid}/exe").endswith("/" + name)
    except OSError:
        return False


def have(program: str) -> bool:
    return shutil.which(program) is not None


def _cgroup_mounts() -> list[tuple[str, str]]:
    """(mount point, fstype) of every cgroup hierarchy of this host."""
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] in ("cgroup", "cgroup2"):
                mounts.append((fields[4], fields[sep + 1]))
    return mounts


@pytest.fixture
def fake_lxc(cleanup: Cleanup, spawn) -> Callable[..., dict[str, int]]:
    """Lay out a container's cgroups as a given LXC version does, on every hierarchy,
    with a payload process in its own netns and a monitor process in the host's."""
    require(have("unshare"), "unshare (util-linux) is needed")

    def make(name: str, payload: str, monitor: str | None) -> dict[str, int]:
        mounts = _cgroup_mounts()
        require(mounts, "no cgroup hierarchy mounted")
        procs = {}
        for role, relpath, argv in (
            ("payload", payload, ["unshare", "-n", "sleep", "600"]),
            ("monitor", monitor, ["sleep", "600"]),
        ):
            if relpath is None:
                continue
            for mount, _fstype in mounts:
                parts = relpath.split("/")
                for depth in range(1, len(parts) + 1):
                    path = os.path.join(mount, *parts[:depth])
                    if os.path.isdir(path):
                        continue
                    cleanup.add(f"cgroup {path}", lambda p=path: os.rmdir(p))
                    os.mkdir(path)
                    parent = os.path.dirname(path)
                    for knob in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset needs them set
                        src = os.path.join(parent, knob)
                        if os.path.exists(src) and os.path.exists(os.path.join(path, knob)):
                            with open(src) as fs, open(os.path.join(path, knob), "w") as fd:
                                fd.write(fs.read().strip() or "0")
            proc = spawn(*argv)
            wait_until(
                lambda p=proc: os.readlink(f"/proc/{p.pid}/exe").endswith("sleep"), 10, "exec"
            )
            for mount, _fstype in mounts:
                with open(os.path.join(mount, relpath, "cgroup.procs"), "w") as f:
                    f.write(str(proc.pid))
            procs[role] = proc.pid
        return procs

    return make


def in_ns(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("ip", "netns", "exec", ns, *argv, check=check)


def pings(ns: str, address: str) -> bool:
    return in_ns(ns, "ping", "-c", "1", "-W", "2", address, check=False).returncode == 0


def tcp_works(server_ns: str, client_ns: str, address: str, port: int) -> bool:
    """A line sent over TCP arrives (busybox nc): checksums and all, not just ICMP."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, "busybox", "nc", "-l", "-p", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                f":{port:04X}" in in_ns(server_ns, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout
            ),
            5,
            "the listener",
        )
        subprocess.run(
            ["ip", "netns", "exec", client_ns, "busybox", "nc", "-w", "3", address, str(port)],
            input="pipework-tcp\n",
            text=True,
            timeout=10,
            check=False,
        )
        out, _ = server.communicate(timeout=5)
        return "pipework-tcp" in out
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=5)


@pytest.fixture
def nic(cleanup: Cleanup) -> Callable[..., str]:
    """A veth end standing in for a physical NIC, itself down (as a NIC nobody uses);
    its peer, up, is the far end of the cable."""

    def make(mac: str | None = None, mtu: int | None = None) -> str:
        name = unique("pwtnic")[:12]
        cleanup.add(f"nic {name}", lambda: sh("ip", "link", "del", name, check=False))
        extra = ["address", mac] if mac else []
        sh("ip", "link", "add", name, *extra, "type", "veth", "peer", "name", name + "p")
        if mtu:
            sh("ip", "link", "set", name, "mtu", str(mtu))
        sh("ip", "link", "set", name + "p", "up")  # the cable is plugged in: carrier
        return name

    return make


def ovs_running() -> bool:
    return have("ovs-vsctl") and sh("ovs-vsctl", "--timeout=5", "show", check=False).returncode == 0


@pytest.fixture
def ovs_bridge(cleanup: Cleanup) -> Callable[[], str]:
    """A name for an OVS bridge (starting with ovs), deleted from OVS afterwards."""
    require(ovs_running(), "Open vSwitch is not running (scripts/test starts it)")

    def make() -> str:
        name = unique("ovspwt")[:15]
        cleanup.add(f"ovs bridge {name}", lambda: sh("ovs-vsctl", "--if-exists", "del-br", name))
        return name

    return make


def ovs_ports(bridge: str) -> list[str]:
    return sh("ovs-vsctl", "list-ports", bridge).stdout.split()


# --- real runtimes: LXC and Docker containers ------------------------------------


def _lxc_state(name: str) -> str:
    res = sh("lxc-info", "-n", name, "-s", check=False)
    return res.stdout.split(":", 1)[-1].strip() if res.returncode == 0 else ""


def _lxc_pid(name: str) -> int:
    out = sh("lxc-info", "-n", name, "-p").stdout
    return int(out.split(":", 1)[1])


@pytest.fixture
def lxc_container(cleanup: Cleanup) -> Callable[..., str]:
    """Create (and by default start) a busybox LXC container; destroyed after the test."""
    require(have("lxc-create") and have("lxc-start"), "LXC is not installed (apt-get install lxc)")
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")

    def make(name: str | None = None, start: bool = True) -> str:
        ct = name or unique("pwt-ct")
        require(_lxc_state(ct) == "", f"an LXC container {ct} already exists; not touching it")
        # lxc-start needs the bridge the default config names; create it if missing.
        if link("lxcbr0") is None:
            cleanup.add("bridge lxcbr0", lambda: sh("ip", "link", "del", "lxcbr0", check=False))
            sh("ip", "link", "add", "lxcbr0", "type", "bridge")
            sh("ip", "link", "set", "lxcbr0", "up")
        cleanup.add(f"lxc {ct}", lambda: sh("lxc-destroy", "-f", "-n", ct, check=False))
        sh("lxc-create", "-t", "busybox", "-n", ct, timeout=120)
        if start:
            cleanup.add(f"stop lxc {ct}", lambda: sh("lxc-stop", "-k", "-n", ct, check=False))
            sh("lxc-start", "-n", ct, "-d")
            wait_until(lambda: _lxc_state(ct) == "RUNNING", 30, f"{ct} to run")
        return ct

    return make


IMAGE = "pwt-busybox:test"
APPLETS = ("sh", "ping", "ip", "sleep", "cat", "ifconfig")


def _docker_up() -> bool:
    if not have("docker"):
        return False
    return subprocess.run(["docker", "version"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """A busybox image made with `docker import` from the host's busybox-static."""
    if not _docker_up():
        require(False, "no Docker daemon (scripts/test starts one)")
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    subprocess.run(
        ["docker", "import", "-", IMAGE],
        input=buf.getvalue(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    yield IMAGE
    subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)


@pytest.fixture
def container(image: str, cleanup: Cleanup) -> Callable[..., str]:
    """Run a container with no network of its own; removed after the test."""

    def run(*extra: str, start: bool = True) -> str:
        name = unique("pwt-dk")
        cleanup.add(f"container {name}", lambda: sh("docker", "rm", "-f", name, check=False))
        verb = "run" if start else "create"
        detach = ["-d"] if start else []
        sh(
            "docker",
            verb,
            *detach,
            "--pull",
            "never",
            "--network",
            "none",
            "--name",
            name,
            *extra,
            image,
            "/bin/sleep",
            "600",
            timeout=120,
        )
        return name

    return run
