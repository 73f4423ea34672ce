"""`pipework route|rule|tc GUEST ARGS…` runs the tool inside the guest's namespace."""

from __future__ import annotations

from .conftest import ip_json, pipework, sh


def test_route_adds_a_route_in_the_guest(make_netns, bridge_name):
    ns = make_netns()
    assert pipework(bridge_name(), ns, "198.51.100.70/24").returncode == 0
    res = pipework("route", ns, "add", "203.0.113.0/24", "via", "198.51.100.1")
    assert res.returncode == 0, res.stderr
    routes = ip_json("route", "show", "203.0.113.0/24", netns=ns)
    assert routes and routes[0]["gateway"] == "198.51.100.1"
    assert ip_json("route", "show", "203.0.113.0/24") == [], "the host routing table is untouched"


def test_route_without_arguments_lists_the_guest_routes(make_netns, bridge_name):
    ns = make_netns()
    assert pipework(bridge_name(), ns, "198.51.100.71/24").returncode == 0
    res = pipework("route", ns)
    assert res.returncode == 0, res.stderr
    assert "198.51.100.0/24 dev eth1" in res.stdout


def test_rule_adds_a_policy_rule_in_the_guest(make_netns):
    ns = make_netns()
    res = pipework("rule", ns, "add", "from", "198.51.100.0/24", "table", "100", "priority", "1000")
    assert res.returncode == 0, res.stderr
    rules = ip_json("rule", "show", netns=ns)
    assert any(r.get("priority") == 1000 and r.get("table") == "100" for r in rules)
    assert not any(r.get("priority") == 1000 for r in ip_json("rule", "show"))


def test_tc_adds_a_qdisc_in_the_guest(make_netns, bridge_name):
    ns = make_netns()
    assert pipework(bridge_name(), ns, "198.51.100.72/24").returncode == 0
    res = pipework("tc", ns, "qdisc", "add", "dev", "eth1", "root", "handle", "1:", "pfifo")
    assert res.returncode == 0, res.stderr
    out = sh("ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "eth1").stdout
    assert "qdisc pfifo 1: root" in out


def test_the_tool_exit_status_is_pipeworks(make_netns):
    ns = make_netns()
    res = pipework("route", ns, "add", "203.0.113.0/24", "dev", "pwt-no-such-dev")
    assert res.returncode != 0
    assert "pwt-no-such-dev" in res.stderr or "Cannot find device" in res.stderr


def test_arguments_are_never_given_to_a_shell(make_netns, tmp_path):
    ns = make_netns()
    marker = tmp_path / "pwned"
    res = pipework("route", ns, "show", f"; touch {marker}")
    assert res.returncode != 0
    assert not marker.exists()


def test_verbose_shows_the_command_run_in_the_guest(make_netns):
    ns = make_netns()
    res = pipework("-v", "route", ns, "show")
    assert res.returncode == 0
    assert "+ nsenter --net=/run/netns/" in res.stderr and "route show" in res.stderr
