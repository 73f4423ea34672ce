"""``pipework watch`` with the real (rootful) Podman: containers declared by labels
(``pipework.attach``) or ``pipework_cmd*`` variables get their interfaces at every
start, the start seen in Podman's events log (/run/libpod/events/events.log).

The watcher runs as a user runs it, ``pipework watch --json`` as a child process,
with an empty declarations directory of the test's own; it is stopped with SIGTERM
at the end. Containers are busybox imported as test_runtime_podman imports it (never
pulled), ``--network none``, named ``pwt…``, removed at the end; bridges come from
``make_bridge``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from .conftest import Cleanup, require, sh, unique, wait_until
from .test_runtime_podman import RUN, podman_image  # noqa: F401 (a fixture)
from .test_watch_docker import ATTACH_WAIT_S, Watcher, guest_addresses, watcher_following


@pytest.fixture
def watcher(cleanup: Cleanup, tmp_path) -> Callable[[], Watcher]:
    """Start ``pipework watch --json`` with an empty directory (stopped, then killed if
    need be, after the test), and wait until it follows Podman's log."""
    return watcher_following(cleanup, tmp_path, "podman")


@pytest.fixture
def container(podman_image: str, cleanup: Cleanup) -> Callable[..., str]:  # noqa: F811
    """Run a podman container with these extra options; removed after the test."""

    def run(*options: str) -> str:
        name = unique("pwt-wp")
        cleanup.add(
            f"podman {name}", lambda: sh("podman", "rm", "-f", "-t", "0", name, check=False)
        )
        sh("podman", "run", "-d", *RUN, "--name", name, *options, podman_image,
           "/bin/sleep", "600", timeout=120)  # fmt: skip
        return name

    return run


def _inspect(name: str, template: str) -> str:
    return sh("podman", "inspect", "-f", template, name, check=False).stdout.strip()


def pid_of(name: str) -> int:
    out = _inspect(name, "{{.State.Pid}}")
    return int(out) if out.isdigit() else 0


def wait_attached(name: str, address: str, ifname: str = "eth1") -> None:
    wait_until(
        lambda: address in guest_addresses(pid_of(name), ifname),
        ATTACH_WAIT_S,
        f"{ifname} {address} in {name}",
    )


def test_events_are_logged_to_the_file_podman_follows():
    require(sh("podman", "--version", check=False).returncode == 0, "podman is not installed")
    said = sh("podman", "info", "--format", "{{json .Host.EventLogger}}").stdout
    assert json.loads(said) == "file"


def test_a_labelled_container_gets_its_interface(watcher, container, make_bridge):
    br = make_bridge()
    w = watcher()
    name = container("--label", f"pipework.attach={br} 198.51.100.31/24")
    wait_attached(name, "198.51.100.31/24")
    w.wait_said("attached", name)
    assert w.stop() == 0


def test_podman_restart_gets_it_back(watcher, container, make_bridge):
    br = make_bridge()
    w = watcher()
    name = container("--label", f"pipework.attach={br} 198.51.100.32/24")
    wait_attached(name, "198.51.100.32/24")
    before = _inspect(name, "{{.State.StartedAt}}")
    sh("podman", "restart", "-t", "0", name, timeout=60)
    assert pid_of(name) > 0 and _inspect(name, "{{.State.StartedAt}}") != before
    wait_attached(name, "198.51.100.32/24")
    assert w.proc.poll() is None, w.log()


def test_a_pipework_cmd_variable_works_too(watcher, container, make_bridge):
    br = make_bridge()
    watcher()
    name = container("-e", f"pipework_cmd_1={br} @CONTAINER_NAME@ 203.0.113.33/24")
    wait_attached(name, "203.0.113.33/24")


def test_a_container_running_before_the_watcher_gets_its_interface(watcher, container, make_bridge):
    br = make_bridge()
    name = container("--label", f"pipework.attach.eth2={br} 203.0.113.34/24")
    assert pid_of(name) > 0
    watcher()  # its labels come from the container's events already in the log
    wait_attached(name, "203.0.113.34/24", "eth2")
