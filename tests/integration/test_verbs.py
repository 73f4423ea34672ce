"""The modern verbs, and idempotent re-runs, on real namespaces."""

from __future__ import annotations

import json

import pytest

from .conftest import addresses, ip_json, link, pipework, sh


def test_attach_with_named_options_and_several_addresses(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework(
        "attach",
        ns,
        "--to",
        br,
        "--ip",
        "198.51.100.140/24",
        "--ip",
        "2001:db8::140",
        "--gateway",
        "198.51.100.1",
        "--ifname",
        "lan0",
        "--mac",
        "U:lan0",
        "--mtu",
        "1400",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"attached netns:{ns} lan0 to {br} via ")
    assert sorted(addresses("lan0", ns)) == ["198.51.100.140/24", "2001:db8::140/64"]
    assert link("lan0", ns)["mtu"] == 1400
    default = ip_json("route", "show", "default", netns=ns)
    assert [(r["gateway"], r["dev"]) for r in default] == [("198.51.100.1", "lan0")]


def test_attach_json_reports_the_attachment(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    res = pipework("attach", f"netns:{ns}", "--to", br, "--ip", "198.51.100.141/24", "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["guest"] == f"netns:{ns}" and result["bridge"] == br
    assert result["addresses"] == ["198.51.100.141/24"] and result["changed"] is True
    assert link(result["host_ifname"])["master"] == br


def test_the_same_request_again_is_a_no_op_that_says_so(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    args = ("attach", ns, "--to", br, "--ip", "198.51.100.142/24", "--gateway", "198.51.100.1")
    assert pipework(*args).returncode == 0
    before = ip_json("link", "show", netns=ns)
    res = pipework(*args)
    assert res.returncode == 0, res.stderr
    assert "already attached" in res.stdout and "nothing changed" in res.stdout
    assert ip_json("link", "show", netns=ns) == before
    # The original syntax too (the original said "Link … exists and is up" and failed).
    res = pipework(br, ns, "198.51.100.142/24@198.51.100.1")
    assert res.returncode == 0, res.stderr
    assert "already attached" in res.stderr


def test_a_different_request_names_the_difference(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    assert pipework("attach", ns, "--to", br, "--ip", "198.51.100.143/24").returncode == 0
    res = pipework(
        "attach", ns, "--to", br, "--ip", "198.51.100.144/24", "--mac", "02:00:00:00:01:44"
    )
    assert res.returncode == 1
    assert "already attached, differently" in res.stderr
    assert "it has 198.51.100.143/24, asked 198.51.100.144/24" in res.stderr
    assert "its MAC is" in res.stderr and "--force" in res.stderr
    assert addresses("eth1", ns) == ["198.51.100.143/24"]


def test_force_replaces_a_different_attachment(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    assert pipework("attach", ns, "--to", br, "--ip", "198.51.100.145/24").returncode == 0
    res = pipework("attach", ns, "--to", br, "--ip", "198.51.100.146/24", "--force")
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", ns) == ["198.51.100.146/24"]
    assert len(ip_json("link", "show", "master", br)) == 1


def test_detach_removes_both_ends_and_again_is_fine(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    assert pipework("attach", ns, "--to", br, "--ip", "198.51.100.147/24").returncode == 0
    host = ip_json("link", "show", "master", br)[0]["ifname"]
    res = pipework("detach", ns)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"detached {ns}: removed {host}\n"
    assert link(host) is None and link("eth1", ns) is None
    res = pipework("detach", ns)
    assert res.returncode == 0
    assert "nothing to do" in res.stdout


def test_detach_one_interface_or_all(make_netns, bridge_name):
    ns = make_netns()
    br = bridge_name()
    for ifname, addr in (
        ("eth1", "198.51.100.148/24"),
        ("eth2", "198.51.100.149/24"),
        ("eth3", "198.51.100.150/24"),
    ):
        assert pipework("attach", ns, "--to", br, "--ip", addr, "--ifname", ifname).returncode == 0
    assert pipework("detach", ns, "--ifname", "eth2").returncode == 0
    assert link("eth2", ns) is None and link("eth1", ns) is not None
    res = pipework("detach", ns, "--all", "--json")
    assert res.returncode == 0
    assert len(json.loads(res.stdout)["removed"]) == 2
    assert link("eth1", ns) is None and link("eth3", ns) is None
    assert ip_json("link", "show", "master", br) == []


def test_detach_leaves_interfaces_pipework_did_not_make(make_netns, bridge_name):
    ns = make_netns()
    sh("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "pwt-own")
    res = pipework("detach", ns, "--all")
    assert res.returncode == 0
    assert link("eth1", ns) is not None and link("pwt-own", ns) is not None


def test_ls_lists_every_attachment_from_the_kernel(make_netns, bridge_name):
    a, b = make_netns(), make_netns()
    br = bridge_name()
    assert pipework(br, a, "198.51.100.151/24").returncode == 0
    assert (
        pipework("attach", b, "--to", br, "--ip", "2001:db8::152/64", "--ifname", "lab0").returncode
        == 0
    )
    res = pipework("ls", "--json")
    assert res.returncode == 0, res.stderr
    rows = {row["guest"]: row for row in json.loads(res.stdout)}
    assert rows[f"netns:{a}"]["addresses"] == ["198.51.100.151/24"]
    assert rows[f"netns:{a}"]["bridge"] == br and rows[f"netns:{a}"]["state"] == "up"
    assert rows[f"netns:{b}"]["container_ifname"] == "lab0"
    assert rows[f"netns:{b}"]["mac"] == link("lab0", b)["address"]
    table = pipework("ls").stdout
    assert table.splitlines()[0].split() == [
        "GUEST",
        "IFNAME",
        "HOST",
        "IFNAME",
        "BRIDGE",
        "ADDRESSES",
        "MAC",
        "STATE",
    ]
    assert any(line.startswith(f"netns:{a} ") for line in table.splitlines())


def test_inspect_explains_the_resolution(make_netns, bridge_name):
    ns = make_netns()
    assert pipework(bridge_name(), ns, "198.51.100.153/24").returncode == 0
    res = pipework("inspect", ns, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert {r["resolver"] for r in report["resolvers"]} >= {"netns", "lxc", "docker"}
    assert report["chosen"]["runtime"] == "netns"
    eth1 = next(i for i in report["interfaces"] if i["name"] == "eth1")
    assert eth1["addresses"][0] == "198.51.100.153/24"
    assert eth1["attached_by_pipework_via"]
    text = pipework("inspect", ns).stdout
    assert f"chosen: netns:{ns}" in text and "attached by pipework via" in text


def test_inspect_of_an_unknown_guest_says_what_each_resolver_saw():
    res = pipework("inspect", "pwt-nobody")
    assert res.returncode == 1
    assert "netns: no /run/netns/pwt-nobody" in res.stdout
    assert "not resolved:" in res.stdout


@pytest.mark.parametrize("verb", ["attach", "detach", "ls", "inspect"])
def test_each_verb_documents_itself_with_an_example(verb):
    res = pipework(verb, "--help")
    assert res.returncode == 0
    assert res.stdout.startswith(f"usage: pipework {verb}")
    assert f"example:\n  pipework {verb}" in res.stdout


def test_an_interface_named_like_a_verb_works_after_double_dash(make_netns, cleanup):
    ns = make_netns()
    cleanup.add("bridge ls", lambda: sh("ip", "link", "del", "ls", check=False))
    sh("ip", "link", "add", "ls", "type", "bridge")
    res = pipework("--", "ls", ns, "198.51.100.154/24")
    assert res.returncode == 0, res.stderr
    assert link("eth1", ns) is not None
    assert ip_json("link", "show", "master", "ls")
