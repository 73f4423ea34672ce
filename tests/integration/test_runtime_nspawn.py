"""systemd-nspawn machines for real: a busybox directory tree booted with busybox's init.

No systemd runs as PID 1 here, so machined does not either: the machines run with
``--register=no --keep-unit`` and pipework finds them by their systemd-nspawn
process (machined's registry is tested against a recorded tree in
tests/unit/test_runtime_nspawn.py). Nothing reaps orphans on this host, so each
machine is stopped by killing its PID 1 (which ends its pid namespace) and waiting
for systemd-nspawn to exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import APPLETS, Cleanup, link, pipework, require, sh, unique, wait_until

NSPAWN = "/usr/bin/systemd-nspawn"


def _tree(path: Path) -> Path:
    """A bootable busybox tree: busybox's init, which keeps a sleep running."""
    for sub in ("bin", "sbin", "usr", "etc", "proc", "sys", "dev", "tmp", "run"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", path / "bin" / "busybox")
    for applet in {*APPLETS, "init", "mount"}:
        (path / "bin" / applet).symlink_to("busybox")
    (path / "sbin" / "init").symlink_to("../bin/busybox")
    (path / "etc" / "os-release").write_text('ID=busybox\nNAME="pipework test"\n')
    (path / "etc" / "inittab").write_text("::respawn:/bin/sleep 600\n")
    return path


def _leader(nspawn_pid: int) -> int | None:
    """systemd-nspawn's child running busybox in a pid namespace of its own."""
    try:
        with open(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children") as f:
            children = [int(p) for p in f.read().split()]
        own = os.readlink(f"/proc/{nspawn_pid}/ns/pid")
    except OSError:
        return None
    for child in children:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{child}/ns/pid") != own and os.readlink(
                f"/proc/{child}/exe"
            ).endswith("/busybox"):
                return child
    return None


class Machine:
    def __init__(self, name: str, proc: subprocess.Popen[bytes], leader: int) -> None:
        self.name, self.proc, self.leader = name, proc, leader

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A host program inside the machine's network namespace."""
        return sh("nsenter", "-t", str(self.leader), "-n", *argv, check=check)

    def stop(self) -> None:
        """Kill its PID 1 (the kernel ends the pid namespace), then wait for nspawn."""
        if self.proc.poll() is not None:
            return
        leader = _leader(self.proc.pid)
        if leader is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leader, signal.SIGKILL)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def machine(tmp_path: Path, cleanup: Cleanup) -> Callable[..., Machine]:
    """Boot a busybox machine with systemd-nspawn; stopped (and waited for) afterwards."""
    require(os.path.exists(NSPAWN), "systemd-nspawn is not installed (systemd-container)")
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")

    def boot(name: str | None = None, *, by_directory: bool = False) -> Machine:
        name = name or unique("pwtns")
        root = _tree(tmp_path / name)
        naming = [] if by_directory else ["-M", name]
        argv = [NSPAWN, "--register=no", "--keep-unit", "-q", "-b", "-D", str(root), *naming,
                "--private-network", "--kill-signal=SIGKILL", "--resolv-conf=off",
                "--timezone=off", "--link-journal=no"]  # fmt: skip
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 (closed by the cleanup)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        m = Machine(name, proc, 0)
        cleanup.add(f"machine {name}", lambda: (m.stop(), log.close()))
        try:
            wait_until(lambda: _leader(proc.pid) or proc.poll() is not None, 15, "the machine")
        except AssertionError:
            pass
        leader = _leader(proc.pid)
        if leader is None:
            log.flush()
            pytest.fail(f"systemd-nspawn did not boot: {(tmp_path / f'{name}.log').read_text()}")
        m.leader = leader
        return m

    return boot


def _eth(m: Machine, ifname: str = "eth1") -> str:
    return m.run("ip", "-o", "addr", "show", "dev", ifname, check=False).stdout


def test_a_machine_by_name_pings_its_peer(machine, make_netns, bridge_name):
    m, peer, br = machine(), make_netns(), bridge_name()
    res = pipework(br, m.name, "192.0.2.10/24")
    assert res.returncode == 0, res.stderr
    assert pipework(br, f"netns:{peer}", "192.0.2.11/24").returncode == 0
    assert "192.0.2.10/24" in _eth(m)
    m.run("ping", "-c", "1", "-W", "3", "192.0.2.11")
    assert link(f"veth1pl{m.leader}")["master"] == br


def test_nspawn_and_machine_prefixes_name_the_same_machine(machine, bridge_name):
    m, br = machine(), bridge_name()
    res = pipework(br, "-i", "eth1", f"nspawn:{m.name}", "192.0.2.12/24")
    assert res.returncode == 0, res.stderr
    res = pipework(br, "-i", "eth2", f"machine:{m.name}", "192.0.2.13/24")
    assert res.returncode == 0, res.stderr
    assert "192.0.2.12/24" in _eth(m, "eth1") and "192.0.2.13/24" in _eth(m, "eth2")


def test_a_machine_without_a_name_is_its_directory(machine, bridge_name):
    m = machine(by_directory=True)
    res = pipework(bridge_name(), m.name, "192.0.2.14/24")
    assert res.returncode == 0, res.stderr
    assert "192.0.2.14/24" in _eth(m)


def test_ls_shows_nspawn_and_detach_leaves_nothing(machine, bridge_name):
    m, br = machine(), bridge_name()
    assert pipework(br, m.name, "192.0.2.15/24").returncode == 0
    listed = json.loads(pipework("ls", "--json").stdout)
    rows = [r for r in listed if r["guest"] == f"nspawn:{m.name}"]
    assert [(r["bridge"], r["addresses"]) for r in rows] == [(br, ["192.0.2.15/24"])]
    assert f"nspawn:{m.name}" in pipework("ls").stdout
    res = pipework("detach", f"machine:{m.name}")
    assert res.returncode == 0, res.stderr
    assert "eth1" not in m.run("ip", "-o", "link").stdout
    assert link(f"veth1pl{m.leader}") is None
    assert not [r for r in json.loads(pipework("ls", "--json").stdout) if m.name in r["guest"]]


def test_inspect_says_which_process_runs_the_machine(machine):
    m = machine()
    res = pipework("inspect", f"machine:{m.name}")
    assert res.returncode == 0, res.stderr
    assert f"systemd-nspawn pid {m.proc.pid} runs {m.name}, container pid {m.leader}" in res.stdout
    assert f"chosen: nspawn:{m.name} (pid {m.leader}" in res.stdout


def test_a_stopped_machine_gives_a_clear_error(machine, bridge_name):
    m, br = machine(), bridge_name()
    m.stop()
    for guest in (m.name, f"machine:{m.name}"):
        res = pipework(br, guest, "192.0.2.16/24")
        assert res.returncode == 1
        assert f"no systemd-nspawn process runs machine {m.name}" in res.stderr
    assert link(br) is None


# An unprivileged user's process posing as systemd-nspawn: it names itself so
# (prctl), rewrites its own command line to "systemd-nspawn -M NAME" (through
# /proc/self/mem, its own to write) and forks a child into new user, pid and network
# namespaces, exactly the shape of a machine. It prints that child's pid.
_IMPOSTOR = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
with open("/proc/self/stat", "rb") as f:
    fields = f.read().rpartition(b")")[2].split()
arg_start, arg_end = int(fields[45]), int(fields[46])  # fields 48 and 49 of proc(5)
argv = b"systemd-nspawn\0-M\0" + sys.argv[1].encode() + b"\0"
with open("/proc/self/mem", "r+b", buffering=0) as mem:
    mem.seek(arg_start)
    mem.write(argv.ljust(arg_end - arg_start, b"\0"))
libc.prctl(15, b"systemd-nspawn", 0, 0, 0)  # PR_SET_NAME
if libc.unshare(0x10000000 | 0x20000000 | 0x40000000) != 0:  # CLONE_NEWUSER, NEWPID, NEWNET
    sys.exit(f"unshare: errno {ctypes.get_errno()}")
child = os.fork()
if child == 0:
    time.sleep(600)
    os._exit(0)
print(child, flush=True)
os.waitpid(child, 0)
"""


@pytest.fixture
def impostor(cleanup: Cleanup) -> Callable[[str], int]:
    """Start the impostor as nobody; returns its pid once its child runs."""

    def start(name: str) -> int:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "/usr/bin/python3", "-c", _IMPOSTOR, name]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

        def stop() -> None:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(child, signal.SIGKILL)  # PID 1 of its namespace: ends it
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

        child = 0
        cleanup.add(f"impostor {name}", stop)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        require(line.isdigit(), f"an unprivileged user namespace cannot be made here ({line})")
        child = int(line)
        wait_until(lambda: _comm(proc.pid) == "systemd-nspawn", 5, "the impostor's name")
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            assert f.read().rstrip(b"\0").split(b"\0") == [b"systemd-nspawn", b"-M", name.encode()]
        return proc.pid

    return start


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_a_process_of_another_user_posing_as_systemd_nspawn_is_ignored(
    machine, impostor, bridge_name
):
    m, br = machine(), bridge_name()
    other = unique("pwtns")
    pids = sorted([impostor(other), impostor(m.name)])
    res = pipework(br, f"nspawn:{m.name}", "192.0.2.17/24")  # not ambiguous: one machine
    assert res.returncode == 0, res.stderr
    assert "192.0.2.17/24" in _eth(m)
    res = pipework(br, f"machine:{other}", "192.0.2.18/24")
    assert res.returncode == 1
    assert f"ignored systemd-nspawn pid {pids[0]}, {pids[1]}: not run by root" in res.stderr
    assert f"no systemd-nspawn process runs machine {other}" in res.stderr


def test_one_shot_attach_time_nspawn_against_named_netns(machine, make_netns, make_bridge):
    """Measured, not asserted (shared hosts are noisy)."""
    m, ns, br = machine(), make_netns(), make_bridge()

    def median_ms(guest: str) -> float:
        times = []
        for i in range(20):
            start = time.perf_counter()
            res = pipework(br, guest, f"203.0.113.{i + 10}/24")
            times.append(time.perf_counter() - start)
            assert res.returncode == 0, res.stderr
            assert pipework("detach", guest).returncode == 0
        return statistics.median(times) * 1000

    netns_ms = median_ms(f"netns:{ns}")
    nspawn_ms = median_ms(f"nspawn:{m.name}")
    bare_ms = median_ms(m.name)
    print(
        f"\none-shot attach, median of 20: netns {netns_ms:.1f} ms, nspawn:NAME "
        f"{nspawn_ms:.1f} ms ({nspawn_ms / netns_ms:.2f}x), bare NAME {bare_ms:.1f} ms "
        f"({bare_ms / netns_ms:.2f}x); {len([p for p in os.listdir('/proc') if p.isdigit()])} "
        "processes"
    )
