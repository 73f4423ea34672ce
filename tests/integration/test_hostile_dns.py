"""Hostile DNS: nothing a container or a DHCP server controls makes pipework write
a resolver file of the host.

- ``--dns`` writes a container's /etc/resolv.conf beneath the container's root:
  an /etc or a resolv.conf that links out (absolutely, or climbing with ``..``)
  is refused, and the host directory it points to stays empty;
- a rogue DHCP server's domain name with a newline adds no line to it;
- the external clients (udhcpc, dhclient, dhcpcd) run with a private /run and
  /var/lib/dhcp*, and a private regular /etc/resolv.conf: on a host whose
  resolv.conf is a link into /run (systemd-resolved, resolvconf), built here in
  a private mount namespace, their scripts leave its target alone, and no lease
  file lands on the host.

The host's resolv.conf and hostname are in every test's snapshot (conftest).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import rogue_dhcp
from .conftest import (
    PIPEWORK,
    Cleanup,
    addresses,
    exe_is,
    have,
    in_ns,
    pipework,
    require,
    sh,
    unique,
    wait_until,
)

SERVER = "198.51.100.1"
OFFERED = "198.51.100.77"
ROGUE_NAMESERVER = "203.0.113.66"
BUSYBOX = shutil.which("busybox")


@pytest.fixture
def rogue(
    make_netns, make_bridge, spawn, cleanup: Cleanup, tmp_path: Path
) -> Callable[..., rogue_dhcp.RogueServer]:
    """A bridge with a rogue DHCP server on it, configured as the test says."""

    def make(**config: object) -> rogue_dhcp.RogueServer:
        bridge, ns = rogue_dhcp.network(make_netns, make_bridge, cleanup, f"{SERVER}/24")
        config.setdefault("address", OFFERED)
        config.setdefault("mask", "255.255.255.0")
        config.setdefault("routers", [SERVER])
        config.setdefault("dns", [SERVER])
        return rogue_dhcp.start(spawn, ns, tmp_path / f"{ns}.rogue.log", bridge, **config)

    return make


@pytest.fixture
def victim(cleanup: Cleanup) -> Path:
    """A directory of the host that a hostile container points its links at."""
    path = Path(tempfile.mkdtemp(prefix="pwt-victim-", dir="/tmp"))
    cleanup.add(f"directory {path}", lambda: shutil.rmtree(path, ignore_errors=True))
    return path


@pytest.fixture
def container(spawn, tmp_path: Path) -> Callable[[Callable[[Path], None]], int]:
    """A process with a root of its own (chroot into a busybox rootfs the test lays
    out) and a network namespace of its own: what pipework sees of a container."""
    require(BUSYBOX and have("unshare") and have("chroot"), "busybox, unshare and chroot")

    def make(lay_out: Callable[[Path], None]) -> int:
        root = tmp_path / unique("pwt-root")
        (root / "bin").mkdir(parents=True)
        assert BUSYBOX is not None
        shutil.copy(BUSYBOX, root / "bin" / "busybox")  # static: needs nothing else
        lay_out(root)
        proc = spawn("unshare", "-n", "chroot", str(root), "/bin/busybox", "sleep", "600")
        wait_until(lambda: exe_is(proc.pid, "busybox"), 10, "the container to start")
        return proc.pid

    return make


def dns_attach(bridge: str, guest: str) -> subprocess.CompletedProcess[str]:
    return pipework("attach", guest, "--to", bridge, "--dhcp", "--dns", "--json")


# --- item 1: --dns stays beneath the container's root -----------------------------------


@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_dns_never_writes_through_a_container_etc_that_links_to_the_host(
    rogue, container, victim: Path, link: str
):
    server = rogue()

    def lay_out(root: Path) -> None:
        # /etc -> /tmp/pwt-victim-…: from the host through /proc/PID/root, the link
        # resolves against the host's root; "../../…" climbs out of the container
        target = str(victim) if link == "absolute" else os.path.relpath(victim, root)
        (root / "etc").symlink_to(target)

    pid = container(lay_out)
    res = dns_attach(server.bridge, f"pid:{pid}")
    assert res.returncode == 1, res.stderr
    assert "symbolic link" in res.stderr and "--dns" in res.stderr, res.stderr
    assert list(victim.iterdir()) == []
    # the failed attach rolled back: no interface left in the container
    links = sh("nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-o", "link", "show").stdout
    assert "eth1" not in links


def test_dns_never_follows_a_resolv_conf_that_links_out(rogue, container, victim: Path):
    server = rogue()
    (victim / "resolv.conf").write_text("nameserver 192.0.2.53\n")

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        climb = os.path.relpath(victim / "resolv.conf", root / "etc")
        (root / "etc" / "resolv.conf").symlink_to(climb)

    pid = container(lay_out)
    res = dns_attach(server.bridge, f"pid:{pid}")
    assert res.returncode == 1, res.stderr
    assert "symbolic link" in res.stderr, res.stderr
    assert (victim / "resolv.conf").read_text() == "nameserver 192.0.2.53\n"
    assert sorted(p.name for p in victim.iterdir()) == ["resolv.conf"]


def test_dns_writes_the_containers_own_resolv_conf(rogue, container, victim: Path):
    server = rogue(domain="pipework.test")
    roots: list[Path] = []

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        (root / "etc" / "resolv.conf").write_text("nameserver 192.0.2.53\n")
        roots.append(root)

    pid = container(lay_out)
    res = dns_attach(server.bridge, f"pid:{pid}")
    assert res.returncode == 0, res.stderr
    written = (roots[0] / "etc" / "resolv.conf").read_text()
    assert written.splitlines()[1:] == ["search pipework.test", f"nameserver {SERVER}"]
    assert list(victim.iterdir()) == []


def test_dns_creates_a_missing_resolv_conf_inside_the_container(rogue, container):
    server = rogue()
    roots: list[Path] = []

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        roots.append(root)

    pid = container(lay_out)
    res = dns_attach(server.bridge, f"pid:{pid}")
    assert res.returncode == 0, res.stderr
    assert f"nameserver {SERVER}" in (roots[0] / "etc" / "resolv.conf").read_text()


# --- item 1: a rogue server's strings --------------------------------------------------


def test_a_rogue_domain_with_a_newline_adds_no_line(rogue, make_netns):
    server = rogue(domain=f"evil.example\nnameserver {ROGUE_NAMESERVER}")
    ns = make_netns()
    res = dns_attach(server.bridge, ns)
    assert res.returncode == 0, res.stderr
    lines = Path(f"/etc/netns/{ns}/resolv.conf").read_text().splitlines()
    assert lines == ["# written by pipework from a DHCP lease", f"nameserver {SERVER}"]
    assert ROGUE_NAMESERVER not in in_ns(ns, "cat", "/etc/resolv.conf").stdout


def test_a_rogue_search_line_in_a_container_adds_no_line(rogue, container):
    server = rogue(domain=f"evil.example\r\nnameserver {ROGUE_NAMESERVER}\n")
    roots: list[Path] = []

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        roots.append(root)

    pid = container(lay_out)
    res = dns_attach(server.bridge, f"pid:{pid}")
    assert res.returncode == 0, res.stderr
    text = (roots[0] / "etc" / "resolv.conf").read_text()
    assert ROGUE_NAMESERVER not in text and "\r" not in text and "evil" not in text


def test_the_renewal_record_holds_no_rogue_string(rogue, make_netns):
    server = rogue(
        domain=f"evil.example\nnameserver {ROGUE_NAMESERVER}", hostname="\u001b]0;owned\u0007"
    )
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcp-f")
    assert res.returncode == 0, res.stderr
    try:
        inode = os.stat(f"/run/netns/{ns}").st_ino
        record = json.loads(Path(f"/run/pipework/dhcp/{inode}-eth1.json").read_text())
        assert record["lease"]["domain"] is None
        assert record["lease"]["hostname"] is None
    finally:
        assert pipework("detach", ns).returncode == 0


# --- item 2: the external clients' sandbox ----------------------------------------------


def _client_files() -> dict[str, tuple[int, int]]:
    """The files DHCP clients keep on a host (lease databases, DUIDs, pid files,
    dhcpcd's run directory): each with its size and modification time."""
    found = {}
    for directory in ("/var/lib/dhcpcd", "/var/lib/dhcp", "/var/db/dhcpcd", "/run/dhcpcd", "/run"):
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            if directory == "/run" and not name.startswith(("dhclient", "udhcpc", "dhcpcd")):
                continue  # the rest of /run is other programs' (and other tests')
            info = os.lstat(os.path.join(directory, name))
            found[os.path.join(directory, name)] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def linked_resolv_conf(cleanup: Cleanup, tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A host whose /etc/resolv.conf is a link into /run, as with systemd-resolved:
    (the link's target, an argv prefix that runs a command on that host). The link
    exists only in a private mount namespace (an overlay on /etc); the target is a
    real file in the host's /run, so the test sees what a client wrote to it."""
    require(have("unshare"), "unshare (util-linux) is needed")
    run_dir = Path("/run") / unique("pwt-resolve-")
    cleanup.add(f"directory {run_dir}", lambda: shutil.rmtree(run_dir, ignore_errors=True))
    run_dir.mkdir(mode=0o755)
    target = run_dir / "stub-resolv.conf"
    target.write_text("nameserver 192.0.2.53\n")
    upper, work = tmp_path / "etc-upper", tmp_path / "etc-work"
    upper.mkdir()
    work.mkdir()
    script = (
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={shlex.quote(str(upper))},"
        f"workdir={shlex.quote(str(work))} /etc"
        f" && ln -sfn {shlex.quote(str(target))} /etc/resolv.conf"
        ' && test "$(readlink -f /etc/resolv.conf)" = ' + shlex.quote(str(target)) + ' && exec "$@"'
    )
    yield target, ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"]


@pytest.mark.parametrize(
    ("mode", "program"),
    [
        ("udhcpc", "udhcpc"),
        ("dhclient", "dhclient"),
        ("dhclient-f", "dhclient"),
        ("dhcpcd", "dhcpcd"),
    ],
)
def test_external_clients_leave_the_hosts_linked_resolver_alone(
    rogue, make_netns, linked_resolv_conf, mode: str, program: str
):
    require(have(program), f"{program} is not installed")
    target, on_host = linked_resolv_conf
    # a short lease: a kept client (dhclient-f, dhcpcd) renews within the test
    server = rogue(domain="pipework.test", lease_time=30, t1=2, t2=25)
    ns = make_netns()
    before = _client_files()
    res = subprocess.run(
        [*on_host, PIPEWORK, server.bridge, ns, mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        assert res.returncode == 0, res.stderr
        wait_until(lambda: f"{OFFERED}/24" in addresses("eth1", netns=ns), 15, "the lease")
        if mode in ("dhclient-f", "dhcpcd"):  # the kept client renews, its script runs again
            wait_until(
                lambda: [e for e in server.received("REQUEST") if e["ciaddr"] == OFFERED],
                20,
                "a renewal",
            )
        # the link's target as it was; no pid file, lease file, DUID or control
        # socket of a client on the host
        after = _client_files()
        changed = sorted(k for k, v in after.items() if before.get(k) != v)
        assert (target.read_text(), changed) == ("nameserver 192.0.2.53\n", [])
    finally:
        assert pipework("detach", ns).returncode == 0
    wait_until(lambda: not _sandboxed_clients(ns), 10, "the clients to stop")


def test_dhclient_is_stopped_once_it_has_its_lease(rogue, make_netns):
    """The original kills dhclient through its pid file; that file is in the
    sandbox's private /run now, and the client is found by its sandbox instead."""
    require(have("dhclient"), "dhclient is not installed")
    server = rogue()
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhclient", timeout=120)
    assert res.returncode == 0, res.stderr
    wait_until(lambda: not _sandboxed_clients(ns), 10, "dhclient to be stopped")
    assert f"{OFFERED}/24" in addresses("eth1", netns=ns)
    assert not Path(f"/var/run/dhclient.{ns}.pid").exists()


def test_a_kept_client_runs_in_its_sandbox_until_detach(rogue, make_netns):
    require(have("dhcpcd"), "dhcpcd is not installed")
    server = rogue()
    ns = make_netns()
    res = pipework(server.bridge, ns, "dhcpcd", timeout=120)
    assert res.returncode == 0, res.stderr
    clients = _sandboxed_clients(ns)
    assert clients, "dhcpcd is not running in its sandbox"
    for pid in clients:
        mounts = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        points = {line.split()[4] for line in mounts}
        assert {"/run", "/etc", "/var/lib/dhcpcd"} <= points
        # what the client sees as /etc/resolv.conf is a regular file of its own
        assert not os.path.islink(f"/proc/{pid}/root/etc/resolv.conf")
    assert pipework("detach", ns).returncode == 0
    wait_until(lambda: not _sandboxed_clients(ns), 10, "dhcpcd to stop")


def _sandboxed_clients(ns: str) -> list[int]:
    """pids of the processes in ``ns`` with pipework's DHCP sandbox among their mounts."""
    inode = os.stat(f"/run/netns/{ns}").st_ino
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != inode:
                continue
            with open(f"/proc/{entry}/mountinfo") as f:
                if " /run/pipework/dhcp-sandbox/" in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


# --- item 1: the undo goes through the same fds ------------------------------------------


class _Netns:
    def __init__(self, pid: int) -> None:
        self.inode = os.stat(f"/proc/{pid}/ns/net").st_ino


class _Guest:
    """What resolvconf needs of a resolved guest, for a container's process."""

    def __init__(self, pid: int) -> None:
        self.runtime, self.name, self.label = "pid", str(pid), f"pid:{pid}"
        self.pid = pid
        self.netns = _Netns(pid)

    def alive(self) -> bool:
        return True


def _write_dns(pid: int) -> Callable[[], object]:
    """Write the container's resolv.conf as --dns does; its undo."""
    from pipework.dhcp.resolvconf import write_guest_resolv_conf

    undos: list[Callable[[], object]] = []
    guest = _Guest(pid)
    write_guest_resolv_conf(guest, [SERVER], None, lambda _what, undo: undos.append(undo))  # type: ignore[arg-type]
    assert len(undos) == 1
    return undos[0]


def test_the_undo_restores_the_old_resolv_conf(container):
    roots: list[Path] = []

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        (root / "etc" / "resolv.conf").write_text("nameserver 192.0.2.53\n")
        roots.append(root)

    undo = _write_dns(container(lay_out))
    resolv = roots[0] / "etc" / "resolv.conf"
    assert f"nameserver {SERVER}" in resolv.read_text()
    undo()
    assert resolv.read_text() == "nameserver 192.0.2.53\n"


def test_the_undo_removes_the_resolv_conf_it_created(container):
    roots: list[Path] = []

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        roots.append(root)

    undo = _write_dns(container(lay_out))
    assert (roots[0] / "etc" / "resolv.conf").is_file()
    undo()
    assert list((roots[0] / "etc").iterdir()) == []


def test_a_link_swapped_in_after_the_write_is_not_followed_by_the_undo(container, victim: Path):
    roots: list[Path] = []
    (victim / "resolv.conf").write_text("nameserver 192.0.2.99\n")

    def lay_out(root: Path) -> None:
        (root / "etc").mkdir()
        (root / "etc" / "resolv.conf").write_text("nameserver 192.0.2.53\n")
        roots.append(root)

    undo = _write_dns(container(lay_out))
    # the container replaces its resolv.conf with a link to the host between the
    # write and a rollback: the undo puts the old content back into the file it
    # wrote (now unlinked), never through the new name
    resolv = roots[0] / "etc" / "resolv.conf"
    resolv.unlink()
    resolv.symlink_to(os.path.relpath(victim / "resolv.conf", resolv.parent))
    undo()
    assert (victim / "resolv.conf").read_text() == "nameserver 192.0.2.99\n"
    assert resolv.is_symlink()
