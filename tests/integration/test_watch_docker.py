"""``pipework watch`` and ``pipework apply`` with the real dockerd: containers declared by
labels (``pipework.attach``) or the dreamcat4 image's ``pipework_cmd*`` variables get
their interfaces at every start, whatever happened in between (restarts, the watcher
killed, the daemon restarted).

The watcher runs as a user runs it, ``pipework watch --json`` as a child process,
with an empty declarations directory of the test's own; it is stopped with SIGTERM
at the end. Containers are busybox imported locally (never pulled), ``--network
none``, named ``pwt…``, removed at the end; bridges come from ``make_bridge``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from .conftest import PIPEWORK, Cleanup, pipework, sh, wait_until

#: how long an attach after a start may take before the test calls it missed
ATTACH_WAIT_S = 10.0
DOCKERD = ("dockerd", "--iptables=false", "--ip-forward=false", "--bridge=none")
DOCKERD_LOG = "/var/log/pipework-dockerd.log"


class Watcher:
    """A running ``pipework watch --json``, its log lines collected as they come."""

    def __init__(self, directory: str) -> None:
        self.proc = subprocess.Popen(
            [PIPEWORK, "watch", "--json", "--dir", directory],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, object]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"action": "text", "message": line.rstrip("\n")}
            self.lines.append(record if isinstance(record, dict) else {"message": line})

    def said(self, action: str, text: str = "") -> list[dict[str, object]]:
        """The log lines of ``action`` whose message contains ``text``."""
        return [
            line
            for line in list(self.lines)
            if line.get("action") == action and text in str(line.get("message", ""))
        ]

    def wait_said(self, action: str, text: str = "", timeout: float = ATTACH_WAIT_S) -> None:
        wait_until(lambda: self.said(action, text), timeout, f"the watcher to say {action} {text}")

    def stop(self) -> int:
        """SIGTERM, as an init system stops it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        finally:
            self.kill()
        return code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=5)

    def log(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines)


@pytest.fixture
def watcher(cleanup: Cleanup, tmp_path) -> Callable[[], Watcher]:
    """Start ``pipework watch --json`` (stopped, then killed if need be, after the test),
    and wait until it has made its first pass."""
    return watcher_following(cleanup, tmp_path, "docker")


def watcher_following(cleanup: Cleanup, tmp_path, source: str) -> Callable[[], Watcher]:
    """The starter of a watcher with an empty declarations directory, which waits until
    the watcher follows ``source``."""
    directory = tmp_path / "attachments.d"
    directory.mkdir(exist_ok=True)

    def start() -> Watcher:
        w = Watcher(str(directory))
        cleanup.add("pipework watch", w.kill)
        wait_until(
            lambda: w.said("watching") or w.proc.poll() is not None, 30, "the watcher to start"
        )
        assert w.proc.poll() is None, w.log()
        assert source in str(w.said("watching")[0]["message"]), w.log()
        return w

    return start


def pid_of(name: str) -> int:
    out = sh("docker", "inspect", "-f", "{{.State.Pid}}", name, check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def pids_of(names: list[str]) -> dict[str, int]:
    out = sh("docker", "inspect", "-f", "{{.Name}} {{.State.Pid}}", *names).stdout.split()
    return {out[i].lstrip("/"): int(out[i + 1]) for i in range(0, len(out), 2)}


def guest_addresses(pid: int, ifname: str = "eth1") -> list[str]:
    """The global addresses of ``ifname`` in the netns of ``pid``, when it is up."""
    if pid <= 0:
        return []
    res = sh(
        "nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "addr", "show", "dev", ifname,
        check=False,
    )  # fmt: skip
    if res.returncode != 0 or not res.stdout.strip():
        return []
    (entry,) = json.loads(res.stdout)
    if "UP" not in entry.get("flags", []):
        return []
    return [
        f"{a['local']}/{a['prefixlen']}"
        for a in entry.get("addr_info", [])
        if a.get("scope") == "global"
    ]


def started_at(name: str) -> str:
    """When the container last started (a netns inode number is reused at once, a pid
    could be: neither tells a restart for sure)."""
    return sh("docker", "inspect", "-f", "{{.State.StartedAt}}", name).stdout.strip()


def wait_attached(name: str, address: str, ifname: str = "eth1", timeout: float = ATTACH_WAIT_S):
    """Wait until the running container ``name`` has ``address`` on ``ifname``, up."""
    wait_until(
        lambda: address in guest_addresses(pid_of(name), ifname),
        timeout,
        f"{ifname} {address} in {name}",
    )


def restarted(name: str, before: str) -> bool:
    return pid_of(name) > 0 and started_at(name) != before


# ------------------------------------------------------------------ labels


def test_a_labelled_container_gets_its_interface(watcher, container, make_bridge):
    br = make_bridge()
    w = watcher()
    name = container("--label", f"pipework.attach={br} 198.51.100.11/24")
    wait_attached(name, "198.51.100.11/24")
    w.wait_said("attached", name)  # the line names the container and where it was declared


def test_docker_restart_gets_it_back(watcher, container, make_bridge):
    br = make_bridge()
    w = watcher()
    name = container("--label", f"pipework.attach={br} 198.51.100.12/24")
    wait_attached(name, "198.51.100.12/24")
    before = started_at(name)
    sh("docker", "restart", "-t", "0", name)
    assert restarted(name, before)  # a new netns, without eth1 until the watcher acts
    wait_attached(name, "198.51.100.12/24")
    assert w.proc.poll() is None


def test_docker_stop_then_start_gets_it_back(watcher, container, make_bridge):
    br = make_bridge()
    watcher()
    name = container("--label", f"pipework.attach.eth3={br} 198.51.100.13/24")
    wait_attached(name, "198.51.100.13/24", "eth3")
    before = started_at(name)
    sh("docker", "stop", "-t", "0", name)
    sh("docker", "start", name)
    assert restarted(name, before)
    wait_attached(name, "198.51.100.13/24", "eth3")


def test_fifty_containers_started_at_once_are_all_attached(watcher, container, make_bridge):
    br = make_bridge()
    watcher()
    want = {
        container("--label", f"pipework.attach={br} 203.0.113.{10 + i}/24", start=False): (
            f"203.0.113.{10 + i}/24"
        )
        for i in range(50)
    }
    starts = [
        subprocess.Popen(["docker", "start", name], stdout=subprocess.DEVNULL) for name in want
    ]
    assert all(p.wait(timeout=120) == 0 for p in starts)

    def missing() -> list[str]:
        pids = pids_of(list(want))
        return [n for n, a in want.items() if guest_addresses(pids[n]) != [a]]

    wait_until(lambda: not missing(), 60, "all 50 containers attached")
    # each its own address, one port each on the bridge
    ports = sh("ip", "-j", "link", "show", "master", br).stdout
    assert len(json.loads(ports)) == 50


def test_a_bad_declaration_is_one_log_line_and_the_watcher_goes_on(watcher, container, make_bridge):
    br = make_bridge()
    w = watcher()
    bad = container("--label", f"pipework.attach={br} 198.51.100.300/24")
    w.wait_said("invalid", bad)
    good = container("--label", f"pipework.attach={br} 198.51.100.14/24")
    wait_attached(good, "198.51.100.14/24")
    lines = [line for line in w.lines if bad in str(line.get("message", ""))]
    assert len(lines) == 1, w.log()
    assert lines[0]["action"] == "invalid" and "pipework.attach" in str(lines[0]["message"])
    assert w.proc.poll() is None


def test_a_restart_while_the_watcher_was_dead_is_reconciled_when_it_is_back(
    watcher, container, make_bridge
):
    br = make_bridge()
    first = watcher()
    names = [container("--label", f"pipework.attach={br} 198.51.100.{20 + i}/24") for i in range(3)]
    for i, name in enumerate(names):
        wait_attached(name, f"198.51.100.{20 + i}/24")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    before = {name: started_at(name) for name in names}
    sh("docker", "restart", "-t", "0", *names)
    for name in names:
        assert restarted(name, before[name])
        assert guest_addresses(pid_of(name)) == []  # nobody attached it meanwhile
    second = watcher()
    for i, name in enumerate(names):
        wait_attached(name, f"198.51.100.{20 + i}/24")
    assert len(second.said("attached")) >= 3


def test_dreamcat4_variables_with_macros(watcher, container, make_bridge):
    br1, br2 = make_bridge(), make_bridge()
    w = watcher()
    name = container(
        "-e",
        f"pipework_cmd={br1} @CONTAINER_NAME@ 198.51.100.30/24",
        "-e",
        f"pipework_cmd_eth2={br2} -i eth2 @CONTAINER_NAME@ 203.0.113.30/24",
    )
    wait_attached(name, "198.51.100.30/24", "eth1")
    wait_attached(name, "203.0.113.30/24", "eth2")
    assert w.said("attached", "variable pipework_cmd_eth2")
    before = started_at(name)
    sh("docker", "restart", "-t", "0", name)
    assert restarted(name, before)
    wait_attached(name, "198.51.100.30/24", "eth1")
    wait_attached(name, "203.0.113.30/24", "eth2")


# ------------------------------------------------------------------ the daemon restarted


def _dockerd_pid() -> int:
    try:
        with open("/var/run/docker.pid") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def _docker_answers() -> bool:
    return subprocess.run(["docker", "version"], capture_output=True, check=False).returncode == 0


def _ensure_dockerd() -> None:
    """Start dockerd as scripts/lib.sh ensure_dockerd does, unless it answers already."""
    if _docker_answers():
        return
    with open(DOCKERD_LOG, "ab") as log:
        # setsid -f: the daemon outlives the test, in a session of its own
        subprocess.run(
            ["setsid", "-f", *DOCKERD], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            check=True,
        )  # fmt: skip
    wait_until(_docker_answers, 60, "dockerd to answer")


@contextlib.contextmanager
def _dockerd_back_in_any_case() -> Iterator[None]:
    try:
        yield
    finally:
        _ensure_dockerd()


def test_dockerd_restarted_under_the_watcher_is_reconnected_and_reconciled(
    watcher, container, make_bridge
):
    br = make_bridge()
    w = watcher()
    always = container("--restart=always", "--label", f"pipework.attach={br} 198.51.100.40/24")
    again = container("--label", f"pipework.attach={br} 198.51.100.41/24")
    wait_attached(always, "198.51.100.40/24")
    wait_attached(again, "198.51.100.41/24")
    before = {name: started_at(name) for name in (always, again)}
    pid = _dockerd_pid()
    assert pid > 0, "no /var/run/docker.pid"
    with _dockerd_back_in_any_case():
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 60, "dockerd to stop")
        w.wait_said("lost", "docker")
        _ensure_dockerd()
    sh("docker", "start", again)  # no restart policy: the test starts it again
    for name, address in ((always, "198.51.100.40/24"), (again, "198.51.100.41/24")):
        wait_until(lambda n=name: restarted(n, before[n]), 30, f"{name} to run again")
        wait_attached(name, address, timeout=30)
    w.wait_said("connected", "docker")
    assert w.proc.poll() is None


# ------------------------------------------------------------------ apply


def test_apply_attaches_once_and_exits_0_when_everything_matches(container, make_bridge, tmp_path):
    br = make_bridge()
    name = container("--label", f"pipework.attach={br} 198.51.100.50/24")
    res = pipework("apply", "--json", "--dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert guest_addresses(pid_of(name)) == ["198.51.100.50/24"]
    again = pipework("apply", "--json", "--dir", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert guest_addresses(pid_of(name)) == ["198.51.100.50/24"]


def test_apply_exits_1_when_an_attachment_differs_and_leaves_it(container, make_bridge, tmp_path):
    br = make_bridge()
    name = container("--label", f"pipework.attach={br} 198.51.100.51/24")
    res = pipework(br, name, "198.51.100.52/24")  # by hand, differently
    assert res.returncode == 0, res.stderr
    res = pipework("apply", "--json", "--dir", str(tmp_path))
    assert res.returncode == 1, res.stderr
    differs = [json.loads(line) for line in res.stderr.splitlines() if '"differs"' in line]
    assert len(differs) == 1 and name in differs[0]["message"], res.stderr
    assert guest_addresses(pid_of(name)) == ["198.51.100.52/24"]  # never replaced
