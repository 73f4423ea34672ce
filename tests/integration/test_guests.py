"""Guest resolution for real: pids, netns paths, the host's own namespace, ambiguity."""

from __future__ import annotations

import os

from .conftest import addresses, exe_is, link, pipework, sh, unique, wait_until


def test_a_name_in_two_runtimes_is_an_error_that_lists_both(fake_lxc, make_netns, bridge_name):
    name = unique("pwt-lx")
    fake_lxc(name, f"lxc.payload.{name}", None)
    make_netns(name)
    br = bridge_name()
    res = pipework(br, name, "198.51.100.122/24")
    assert res.returncode == 1
    assert f"guest '{name}' matches 2 different guests" in res.stderr
    assert f"netns:{name}" in res.stderr and f"lxc:{name}" in res.stderr
    assert "name one with a prefix" in res.stderr
    assert link(br) is None
    assert pipework(br, f"netns:{name}", "198.51.100.122/24").returncode == 0


def test_unknown_name_lists_what_each_resolver_saw(bridge_name):
    br = bridge_name()
    res = pipework(br, "pwt-nobody", "198.51.100.123/24")
    assert res.returncode == 1
    line = res.stderr.strip()
    assert "\n" not in line
    for resolver in ("netns:", "lxc:", "docker:"):
        assert resolver in line
    assert link(br) is None


def test_a_pid_guest_is_attached_in_its_namespace(spawn, bridge_name):
    proc = spawn("unshare", "-n", "sleep", "600")
    wait_until(lambda: exe_is(proc.pid, "sleep"), 10, "exec")
    res = pipework(bridge_name(), str(proc.pid), "198.51.100.124/24")
    assert res.returncode == 0, res.stderr
    inside = sh("nsenter", "-t", str(proc.pid), "-n", "ip", "-br", "addr", "show", "eth1").stdout
    assert "198.51.100.124/24" in inside
    assert link(f"veth1pl{proc.pid}") is not None


def test_a_process_in_the_host_namespace_is_refused(spawn, bridge_name):
    proc = spawn("sleep", "600")
    br = bridge_name()
    res = pipework(br, f"pid:{proc.pid}", "198.51.100.125/24")
    assert res.returncode == 1
    assert "shares this host's network namespace" in res.stderr
    assert link(br) is None and link("eth1") is None


def test_a_netns_file_given_by_path(make_netns, bridge_name):
    ns = make_netns()
    res = pipework(bridge_name(), f"/run/netns/{ns}", "198.51.100.126/24")
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", ns) == ["198.51.100.126/24"]


def test_a_path_that_is_no_namespace_is_bad_input(tmp_path, bridge_name):
    fifo = tmp_path / "pwt-fifo"
    os.mkfifo(fifo)
    br = bridge_name()
    for path in (str(fifo), "/etc/passwd"):
        res = pipework(br, path, "198.51.100.127/24", timeout=10)
        assert res.returncode == 2, res.stderr
        assert f"{path} is not a network namespace" in res.stderr
    assert link(br) is None
