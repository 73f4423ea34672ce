"""SIGKILL at every step of an attach (issue 10, item 7).

A killed pipework rolls nothing back: whatever steps it finished stay. A re-run
must then finish the job (not call a half-done attachment "already attached as
asked"), ``detach`` must remove what is left, and ``gc`` what outlives guests
(an OVS port, a bridge pipework created that nothing uses), leaving the host as
it was (the autouse fixture compares the host before and after each test).
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from .conftest import (
    PIPEWORK,
    addresses,
    in_ns,
    ip_json,
    link,
    ovs_ports,
    pipework,
    sh,
    wait_until,
)

ADDRESS, GATEWAY = "198.51.100.20/24", "198.51.100.1"


def _killed_at(step: int, *argv: str) -> None:
    """Run pipework, SIGKILL it before ``step`` (the ones before it are done)."""
    proc = subprocess.Popen(
        [PIPEWORK, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPEWORK_INJECT_PAUSE": str(step)},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line == f"pipework: paused before step {step}\n", line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=20)


def _steps(*argv: str) -> list[str]:
    """The steps of an attach, read from -v on a throw-away run (detached after)."""
    res = pipework("-v", *argv)
    assert res.returncode == 0, res.stderr
    assert pipework("detach", argv[1]).returncode == 0
    return [line for line in res.stderr.splitlines() if line.startswith("+ ")]


def _attached_as_asked(ns: str, bridge: str, ovs: bool) -> None:
    guest = link("eth1", netns=ns)
    assert guest is not None and "UP" in guest["flags"], guest  # type: ignore[operator]
    assert addresses("eth1", netns=ns) == [ADDRESS]
    routes = ip_json("route", "show", "default", netns=ns)
    assert [r.get("gateway") for r in routes] == [GATEWAY], routes
    listed = pipework("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f'"{ns}"' in listed.stdout or ns in listed.stdout
    if ovs:
        assert any(p.startswith("veth1") for p in ovs_ports(bridge)), ovs_ports(bridge)
    assert in_ns(ns, "ping", "-c", "1", "-W", "1", GATEWAY, check=False).returncode in (0, 1)


def _bridge(kind: str, ovs_bridge, bridge_name) -> str:
    """A Linux bridge's name (pipework creates it), or an OVS bridge on the userspace
    datapath (this kernel has no OVS datapath)."""
    if kind == "bridge":
        return str(bridge_name())
    name = str(ovs_bridge())
    sh("ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
    return name


@pytest.mark.parametrize("kind", ["bridge", "ovs"])
def test_sigkill_at_every_step_then_a_rerun_finishes_the_attach(
    kind, make_netns, bridge_name, ovs_bridge, cleanup
):
    bridge = _bridge(kind, ovs_bridge, bridge_name)
    request = [bridge, "", f"{ADDRESS}@{GATEWAY}"]
    # for a Linux bridge the first step creates it: killed there, the next run uses it
    count = len(_steps(bridge, make_netns(), f"{ADDRESS}@{GATEWAY}"))
    # the steps of every run below (the bridge exists now)
    count = len(_steps(bridge, make_netns(), f"{ADDRESS}@{GATEWAY}"))
    assert count >= 4
    for step in range(2, count + 1):
        ns = make_netns()
        request[1] = ns
        _killed_at(step, *request)
        res = pipework(*request)
        assert res.returncode == 0, (step, res.stderr)
        # the veth was made at step 1: finished, not made again
        assert "attached half-way (a run that was interrupted?): finished it" in res.stderr
        assert "nothing changed" not in res.stderr, (step, res.stderr)
        _attached_as_asked(ns, bridge, kind == "ovs")
        again = pipework(*request)
        assert again.returncode == 0 and "nothing changed" in again.stderr, (step, again)
        assert pipework("detach", ns).returncode == 0
        assert link("eth1", netns=ns) is None
    res = pipework("gc")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("kind", ["bridge", "ovs"])
def test_sigkill_at_every_step_then_detach_and_gc_leave_the_host_as_it_was(
    kind, make_netns, bridge_name, ovs_bridge
):
    """No re-run: ``detach`` removes what the killed run left, ``gc`` the rest, and the
    host is as before (the fixture's snapshot), the bridge pipework made included."""
    bridge = _bridge(kind, ovs_bridge, bridge_name)
    # every run below starts with the bridge gone (gc removes it) when pipework made it
    count = len(_steps(bridge, make_netns(), f"{ADDRESS}@{GATEWAY}"))
    if kind == "bridge":
        assert pipework("gc").returncode == 0
    for step in range(2, count + 1):
        ns = make_netns()
        _killed_at(step, bridge, ns, f"{ADDRESS}@{GATEWAY}")
        res = pipework("detach", ns)
        assert res.returncode == 0, (step, res.stderr)
        sh("ip", "netns", "del", ns)  # the guest goes: what is left outlives it
        # the kernel removes the guest's veths asynchronously, after the netns goes
        if kind == "bridge":
            wait_until(lambda: not ip_json("link", "show", "master", bridge), 20, "the veth")
        else:
            wait_until(lambda: all(link(p) is None for p in ovs_ports(bridge)), 20, "the veth")
        res = pipework("gc")
        assert res.returncode == 0, (step, res.stderr)
        if kind == "bridge":
            assert link(bridge) is None, f"step {step}: gc left the empty bridge pipework made"
        else:
            assert ovs_ports(bridge) == [], f"step {step}: {ovs_ports(bridge)}"
