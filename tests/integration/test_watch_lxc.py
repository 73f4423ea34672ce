"""``pipework watch`` and a real LXC container declared in an attachments.d file.

The watcher runs as a user runs it (``pipework watch --dir DIR --json``, a child
process stopped with SIGTERM); the declarations are in a temporary directory; the
container is a busybox LXC container. What is checked is the container's own
interfaces, read in its network namespace, and the watcher's log lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .conftest import PIPEWORK, _lxc_pid, _lxc_state, sh, wait_until

pytestmark = pytest.mark.integration

#: from a container's start to its interface being there: LXC's own start, the
#: payload cgroup's event, the retries while its init gets ready, the attach
SETTLE = 20.0


class Watcher:
    """A running ``pipework watch --json`` and the lines it logged."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[dict[str, object]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def actions(self, action: str, about: str) -> int:
        return sum(
            1 for r in list(self.lines) if r["action"] == action and about in str(r["message"])
        )

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=15)
        self._reader.join(timeout=5)
        return status

    def log(self) -> str:
        return "".join(self.raw)


@pytest.fixture
def declarations(tmp_path: Path) -> Path:
    directory = tmp_path / "attachments.d"
    directory.mkdir(mode=0o755)
    return directory


@pytest.fixture
def start_watcher(spawn, declarations: Path):
    def start() -> Watcher:
        proc = spawn(
            PIPEWORK,
            "watch",
            "--dir",
            str(declarations),
            "--json",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        watcher = Watcher(proc)
        wait_until(lambda: watcher.actions("watching", "") or proc.poll() is not None, 30, "watch")
        assert proc.poll() is None, watcher.log()
        return watcher

    return start


def inside(ct: str, ifname: str) -> str:
    """The container's ``ip -br addr`` line for ``ifname`` ('' when it has none)."""
    if _lxc_state(ct) != "RUNNING":
        return ""
    try:
        pid = _lxc_pid(ct)
    except (subprocess.CalledProcessError, IndexError, ValueError):
        return ""
    res = sh("nsenter", "-t", str(pid), "-n", "ip", "-br", "addr", "show", ifname, check=False)
    return res.stdout if res.returncode == 0 else ""


def has_address(ct: str, ifname: str, address: str) -> bool:
    return address in inside(ct, ifname)


def restart(ct: str) -> None:
    sh("lxc-stop", "-k", "-n", ct, timeout=60)
    wait_until(lambda: _lxc_state(ct) == "STOPPED", 30, f"{ct} to stop")
    sh("lxc-start", "-n", ct, "-d", timeout=60)
    wait_until(lambda: _lxc_state(ct) == "RUNNING", 30, f"{ct} to run")


def test_a_declared_lxc_container_is_attached_and_reattached_after_a_restart(
    lxc_container, bridge_name, declarations: Path, start_watcher
) -> None:
    ct = lxc_container()
    br = bridge_name()
    (declarations / "lab.conf").write_text(f"# {ct}'s lab link\n{br} lxc:{ct} 198.51.100.140/24\n")
    watcher = start_watcher()

    wait_until(lambda: has_address(ct, "eth1", "198.51.100.140/24"), SETTLE, "first attach")
    first_pid = _lxc_pid(ct)

    restart(ct)
    assert _lxc_pid(ct) != first_pid
    started = time.monotonic()
    wait_until(lambda: has_address(ct, "eth1", "198.51.100.140/24"), SETTLE, "re-attach")
    took = time.monotonic() - started

    assert watcher.stop() == 0, watcher.log()
    assert watcher.actions("attached", f"lxc:{ct} eth1") == 2, watcher.log()
    assert watcher.actions("stopped", "") == 1
    print(f"re-attached {took:.2f} s after lxc-start returned")


def test_a_line_added_while_watching_is_attached(
    lxc_container, bridge_name, declarations: Path, start_watcher
) -> None:
    ct = lxc_container()
    br, br2 = bridge_name(), bridge_name()
    path = declarations / "lab.conf"
    path.write_text(f"{br} lxc:{ct} 198.51.100.141/24\n")
    watcher = start_watcher()
    wait_until(lambda: has_address(ct, "eth1", "198.51.100.141/24"), SETTLE, "first attach")

    with path.open("a") as f:
        f.write(f"{br2} -i eth2 lxc:{ct} 203.0.113.141/24\n")

    wait_until(lambda: has_address(ct, "eth2", "203.0.113.141/24"), 10, "the new line's attach")
    assert has_address(ct, "eth1", "198.51.100.141/24"), "the first stays as it was"
    assert watcher.stop() == 0, watcher.log()
    assert watcher.actions("attached", f"lxc:{ct} eth1") == 1, watcher.log()
    assert watcher.actions("attached", f"lxc:{ct} eth2") == 1, watcher.log()


def test_a_declaration_refused_for_its_owner_is_logged_and_the_watcher_goes_on(
    lxc_container, bridge_name, declarations: Path, start_watcher
) -> None:
    ct = lxc_container()
    br = bridge_name()
    planted = declarations / "planted.conf"
    planted.write_text(f"{br} lxc:{ct} 198.51.100.142/24\n")
    os.chown(planted, 4242, 4242)
    watcher = start_watcher()
    wait_until(lambda: watcher.actions("invalid", "uid 4242"), 10, "the refusal")

    (declarations / "lab.conf").write_text(f"{br} -i eth2 lxc:{ct} 203.0.113.142/24\n")
    wait_until(lambda: has_address(ct, "eth2", "203.0.113.142/24"), 10, "the trusted line")
    assert inside(ct, "eth1") == "", "the planted line attached nothing"
    assert watcher.stop() == 0, watcher.log()


def test_the_printed_hook_attaches_at_each_start_without_a_watcher(
    lxc_container, bridge_name, declarations: Path
) -> None:
    ct = lxc_container(start=False)
    br = bridge_name()
    (declarations / "lab.conf").write_text(f"{br} lxc:{ct} 198.51.100.143/24\n")
    hook = sh(PIPEWORK, "watch", "--lxc-hook", ct).stdout.strip()
    assert hook.startswith("lxc.hook.start-host = ")
    # the hook runs apply with the default directory; point it at the test's
    hook = hook.replace(f"lxc:{ct}", f"lxc:{ct} --dir {declarations}", 1)
    config = Path(f"/var/lib/lxc/{ct}/config")
    with config.open("a") as f:
        f.write(hook + "\n")

    sh("lxc-start", "-n", ct, "-d", timeout=60)
    wait_until(lambda: _lxc_state(ct) == "RUNNING", 30, f"{ct} to run")
    wait_until(lambda: has_address(ct, "eth1", "198.51.100.143/24"), SETTLE, "the hook's attach")
    restart(ct)
    wait_until(lambda: has_address(ct, "eth1", "198.51.100.143/24"), SETTLE, "attached again")
    sh("lxc-stop", "-k", "-n", ct, timeout=60)
