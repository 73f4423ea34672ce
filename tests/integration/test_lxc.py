"""LXC guests for real: a container started with lxc-start, and every cgroup layout.

The seed scenario is vagrant-lxc's own call, `pipework vlxcbr1 devenv 192.168.64.4/24`,
which the original answers with "Found more than one container matching devenv"
on LXC 3.1 and cannot resolve at all on LXC >= 4 with cgroup v2.
"""

from __future__ import annotations

import pytest

from .conftest import _lxc_pid, link, pipework, require, sh, unique

pytestmark = pytest.mark.integration


def test_seed_scenario_vagrant_lxc_private_network(lxc_container, cleanup):
    require(link("vlxcbr1") is None, "vlxcbr1 already exists on this host; not touching it")
    ct = lxc_container("devenv")
    # What vagrant-lxc does before calling pipework: the bridge and its address.
    cleanup.add("bridge vlxcbr1", lambda: sh("ip", "link", "del", "vlxcbr1", check=False))
    sh("ip", "link", "add", "vlxcbr1", "type", "bridge")
    sh("ip", "addr", "add", "192.168.64.254/24", "dev", "vlxcbr1")
    sh("ip", "link", "set", "vlxcbr1", "up")

    res = pipework("vlxcbr1", "devenv", "192.168.64.4/24")
    assert res.returncode == 0, res.stderr

    pid = _lxc_pid(ct)
    assert link("eth1") is None
    inside = sh("nsenter", "-t", str(pid), "-n", "ip", "-br", "addr", "show", "eth1").stdout
    assert "192.168.64.4/24" in inside
    assert link(f"veth1pl{pid}")["master"] == "vlxcbr1"
    sh("ping", "-c", "1", "-W", "3", "192.168.64.4")


def test_lxc_container_without_lxc_info_is_found_on_cgroupfs(lxc_container, bridge_name, tmp_path):
    ct = lxc_container()
    # A PATH with `ip` but no lxc-info: pipework must fall back to cgroupfs.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ip").symlink_to("/usr/sbin/ip")
    res = pipework(bridge_name(), ct, "198.51.100.110/24", env={"PATH": str(bindir)})
    assert res.returncode == 0, res.stderr
    pid = _lxc_pid(ct)
    inside = sh("nsenter", "-t", str(pid), "-n", "ip", "-br", "addr", "show", "eth1").stdout
    assert "198.51.100.110/24" in inside


def test_lxc_prefix_names_the_runtime(lxc_container, bridge_name):
    ct = lxc_container()
    res = pipework(bridge_name(), f"lxc:{ct}", "198.51.100.111/24")
    assert res.returncode == 0, res.stderr


def test_stopped_lxc_container_gives_a_clear_error(lxc_container, bridge_name):
    ct = lxc_container(start=False)
    br = bridge_name()
    res = pipework(br, ct, "198.51.100.112/24")
    assert res.returncode == 1
    assert f"cannot find guest '{ct}'" in res.stderr
    assert "STOPPED" in res.stderr
    assert link(br) is None, "nothing was created"


# ------------------------------------------------------------- cgroup layouts, for real


LAYOUTS = {
    "lxc-3.0": ("lxc/{}", None),
    "lxc-3.1": ("lxc.payload/{}", "lxc.monitor/{}"),
    "lxc-4.0": ("lxc.payload.{}", "lxc.monitor.{}"),
    "nested-delegated": (
        "pwt.slice/pwt-user.scope/lxc.payload.{}",
        "pwt.slice/pwt-user.scope/lxc.monitor.{}",
    ),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_lxc_cgroup_layout_attaches_to_the_payload(layout, fake_lxc, bridge_name):
    name = unique("pwt-lx")
    payload, monitor = LAYOUTS[layout]
    procs = fake_lxc(name, payload.format(name), monitor and monitor.format(name))
    br = bridge_name()
    res = pipework(br, name, "198.51.100.120/24", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert res.returncode == 0, res.stderr
    pid = procs["payload"]
    inside = sh("nsenter", "-t", str(pid), "-n", "ip", "-br", "addr", "show", "eth1").stdout
    assert "198.51.100.120/24" in inside, "the interface is in the payload's namespace"
    assert link("eth1") is None, "…not in the host's (where the monitor lives)"
    assert link(f"veth1pl{pid}")["master"] == br


def test_the_lxc_31_layout_is_not_ambiguous(fake_lxc, bridge_name):
    """The original's bug: `find -name devenv` saw lxc.payload/devenv and lxc.monitor/devenv."""
    name = unique("pwt-lx")
    fake_lxc(name, f"lxc.payload/{name}", f"lxc.monitor/{name}")
    res = pipework("-v", bridge_name(), name, "198.51.100.121/24")
    assert res.returncode == 0, res.stderr
    assert "more than one" not in res.stderr
