"""Kept DHCP clients of a container that is gone: ``pipework gc`` and ``pipework watch``
stop them, which frees the container's network namespace and its address.

The trap, reproduced first in each test: a Docker container attached with a kept
external client (``dhclient-f``, ``dhcpcd``) is killed; the client, a host process
in the container's namespace, alone keeps that namespace alive, and the address
still answers on the bridge. dnsmasq serves the bridge from a test namespace
(test_dhcp's ``lan``); containers are the locally imported busybox (never pulled).
"""

from __future__ import annotations

import json
import os
import re

import pytest

from .conftest import have, link, pings, pipework, require, sh, wait_until
from .test_dhcp import lan  # noqa: F401  (the fixture)
from .test_watch_docker import guest_addresses, pid_of, watcher  # noqa: F401

SANDBOX_DIR = "/run/pipework/dhcp-sandbox"
POOL = re.compile(r"^198\.51\.100\.(\d+)/24$")
KEPT = [("dhclient-f", "dhclient"), ("dhcpcd", "dhcpcd")]


def holders(inode: int) -> list[str]:
    """What still refers to the namespace ``inode``: processes in it, open fds of it."""
    found = []
    target = f"net:[{inode}]"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                found.append(f"process {entry}")
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") == target:
                    found.append(f"fd {fd} of {entry}")
        except OSError:
            continue
    return found


def sandboxed_clients(inode: int) -> list[int]:
    """pids in the namespace running inside pipework's DHCP sandbox."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != inode:
                continue
            with open(f"/proc/{entry}/mountinfo") as f:
                if SANDBOX_DIR in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def attach_kept_client(net, container, mode: str, program: str) -> tuple[str, int, int, str]:
    """A container with a lease from a kept client: (name, guest pid, netns inode, address)."""
    require(have(program), f"{program} is not installed (scripts/test installs it)")
    ct = container()
    pid = pid_of(ct)
    inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    res = pipework(net.bridge, ct, mode, timeout=120)
    assert res.returncode == 0, res.stderr

    def leased() -> list[str]:
        return [a for a in guest_addresses(pid) if POOL.match(a)]

    wait_until(leased, 20, "a lease")
    address = leased()[0].split("/")[0]
    assert sandboxed_clients(inode), f"{program} is not running"
    return ct, pid, inode, address


def kill_and_see_the_trap(ct: str, pid: int, inode: int, server_ns: str, address: str) -> None:
    sh("docker", "kill", ct)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the container to die")
    # the client alone keeps the namespace: the dead container's address answers
    assert sandboxed_clients(inode)
    assert pings(server_ns, address)


def assert_freed(inode: int, pid: int, server_ns: str, address: str) -> None:
    wait_until(lambda: not holders(inode), 10, "nothing to refer to the namespace")
    # the namespace is gone: the kernel removed the veth with it
    wait_until(lambda: link(f"veth1pl{pid}") is None, 10, "the host end to go")
    assert not pings(server_ns, address)


@pytest.mark.parametrize(("mode", "program"), KEPT)
def test_gc_stops_the_kept_client_of_a_killed_container(lan, container, mode, program):  # noqa: F811
    net = lan()
    ct, pid, inode, address = attach_kept_client(net, container, mode, program)
    kill_and_see_the_trap(ct, pid, inode, net.server_ns, address)
    res = pipework("gc", "--json")
    assert res.returncode == 0, res.stderr
    (stopped,) = json.loads(res.stdout)["dhcp_clients"][:1]
    assert program in stopped and "which is gone" in stopped
    assert_freed(inode, pid, net.server_ns, address)
    assert not os.listdir(SANDBOX_DIR) or all(
        not name.startswith(f"{inode}-") for name in os.listdir(SANDBOX_DIR)
    )


def test_watch_stops_the_kept_client_of_a_killed_container(lan, container, watcher):  # noqa: F811
    net = lan()
    w = watcher()
    ct, pid, inode, address = attach_kept_client(net, container, "dhclient-f", "dhclient")
    kill_and_see_the_trap(ct, pid, inode, net.server_ns, address)
    w.wait_said("collected", "stopped the DHCP client dhclient", timeout=15)
    assert_freed(inode, pid, net.server_ns, address)


def test_gc_leaves_the_client_of_a_running_container(lan, container):  # noqa: F811
    net = lan()
    ct, _pid, inode, _address = attach_kept_client(net, container, "dhclient-f", "dhclient")
    clients = sandboxed_clients(inode)
    res = pipework("gc", "--json")
    assert json.loads(res.stdout)["dhcp_clients"] == []
    assert sandboxed_clients(inode) == clients
    assert pipework("detach", ct).returncode == 0
    wait_until(lambda: not sandboxed_clients(inode), 10, "detach to stop the client")


def test_gc_never_signals_a_process_it_did_not_start(make_netns, spawn):
    """A record whose guest is gone naming a pid now used by another process (the
    same pid, another start time: here a sleep in the namespace): gc forgets the
    record and signals nothing."""
    ns = make_netns()
    proc = spawn("ip", "netns", "exec", ns, "sleep", "600")
    wait_until(lambda: os.readlink(f"/proc/{proc.pid}/exe").endswith("/sleep"), 5, "sleep")
    inode = os.stat(f"/run/netns/{ns}").st_ino
    with open(f"/proc/{proc.pid}/stat", "rb") as f:
        started = int(f.read().rsplit(b")", 1)[1].split()[19])
    name = f"{inode}-eth1"
    os.makedirs(SANDBOX_DIR, mode=0o700, exist_ok=True)
    record = {
        "guest": f"netns:{ns}",
        "client": "dhclient",
        "pid": None,
        "starttime": None,
        "netns_path": f"/run/netns/{ns}-gone",
        "netns_inode": inode,
        "ifname": "eth1",
        "clients": [[proc.pid, started - 1]],
    }
    path = f"{SANDBOX_DIR}/{name}"
    with open(path, "w") as f:
        json.dump(record, f)
    try:
        res = pipework("gc", "--json")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["dhcp_clients"] == []
        assert proc.poll() is None  # still running: not in pipework's sandbox
        assert not os.path.exists(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_the_built_in_renewal_process_ends_with_its_container(lan, container):  # noqa: F811
    """dhcp-f's renewal process holds nothing of the guest between renewals and ends
    by itself when the guest is gone: nothing for gc to do, the namespace is freed."""
    net = lan()
    ct = container()
    pid = pid_of(ct)
    inode = os.stat(f"/proc/{pid}/ns/net").st_ino
    assert pipework(net.bridge, ct, "dhcp-f").returncode == 0
    (row,) = [r for r in json.loads(pipework("ls", "--json").stdout) if r["netns_inode"] == inode]
    keeper = row["dhcp"]["pid"]
    address = next(a for a in guest_addresses(pid) if POOL.match(a)).split("/")[0]
    assert holders(inode) == [f"process {pid}"]  # the container alone
    sh("docker", "kill", ct)
    wait_until(lambda: not os.path.exists(f"/proc/{keeper}"), 5, "the renewal process to end")
    assert_freed(inode, pid, net.server_ns, address)
