"""`pipework --wait`, run inside a guest, returns once the interface exists with carrier."""

from __future__ import annotations

import subprocess
import time

from .conftest import PIPEWORK, pipework


def test_wait_returns_when_the_host_attaches_the_guest(make_netns, bridge_name, spawn):
    ns = make_netns()
    waiter = spawn(
        "ip",
        "netns",
        "exec",
        ns,
        PIPEWORK,
        "--wait",
        "-i",
        "eth1",
        "--timeout",
        "20",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.3)
    assert waiter.poll() is None, "still waiting: eth1 does not exist yet"
    assert pipework(bridge_name(), ns, "198.51.100.80/24").returncode == 0
    assert waiter.wait(timeout=10) == 0


def test_wait_for_a_named_interface(make_netns, bridge_name, spawn):
    ns = make_netns()
    waiter = spawn("ip", "netns", "exec", ns, PIPEWORK, "--wait", "-i", "lan3", "--timeout", "20")
    assert pipework(bridge_name(), "-i", "lan3", ns, "198.51.100.81/24").returncode == 0
    assert waiter.wait(timeout=10) == 0


def test_wait_times_out_with_a_clear_error(make_netns):
    ns = make_netns()
    res = subprocess.run(
        ["ip", "netns", "exec", ns, PIPEWORK, "--wait", "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 1
    assert "timed out after 0.5 s waiting for eth1 to exist and have carrier" in res.stderr
