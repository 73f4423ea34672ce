"""docs/cni.md runs as written: ``pipework cni install`` and ``uninstall``, and every
network it shows of a kind this machine's kernel has, run as a runtime runs it: ADD
puts the result's addresses and routes in the container, CHECK passes against that
result, DEL leaves nothing (the kinds this kernel lacks: tests/kernel/test_cni_kinds.py).
The only changes to an example: the NIC names (a veth stands in for the NIC) and
where the IPAM keeps its files."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .cni import DOCS, conflist_add, conflist_run, docs_conflists, invoke, with_nic
from .conftest import PIPEWORK, addresses, ip_json, link, require, sh, unique

HERE = ("pw-bridge", "pw-hostlocal", "pw-macvlan", "pw-device")
KERNEL_LANE = ("pw-ipvlan", "pw-vlan", "pw-bridge-vlan", "pw-ovs", "pw-dummy", "lab-vlan10")
BRIDGES = ("br-pw", "br-pwvlan")


def test_every_network_of_the_docs_is_tested_somewhere():
    assert set(docs_conflists()) == set(HERE) | set(KERNEL_LANE)


def _install_lines() -> list[list[str]]:
    text = DOCS.read_text()
    section = text[text.index("## Install") : text.index("## The network configuration")]
    body = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [shlex.split(line, comments=True) for line in body.splitlines()]
    return [[PIPEWORK if w == "pipework" else w for w in words] for words in lines if words]


def test_install_examples_run_as_written(cleanup):
    made = [d for d in ("/opt/cni", "/opt/cni/bin") if not os.path.exists(d)]
    for directory in made:  # (cleanups run last first: the links go, then these)
        cleanup.add(directory, lambda d=directory: os.rmdir(d))
    for target in ("/opt/cni/bin/pipework", "/usr/lib/cni/pipework"):
        require(not os.path.lexists(target), f"{target} exists; not touching it")
        cleanup.add(target, lambda t=target: os.path.lexists(t) and os.unlink(t))
    lines = _install_lines()
    assert [w[1:3] for w in lines] == [["cni", "install"]] * 2 + [["cni", "uninstall"]]
    outputs = []
    for argv in lines[:2]:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr
        outputs.append(res.stdout)
    for target in ("/opt/cni/bin/pipework", "/usr/lib/cni/pipework"):
        head = Path(target).read_text().splitlines()[0]
        assert head == f"#!{_python()} -IS", head  # this interpreter, without site
        res = subprocess.run(
            [target], env=dict(os.environ, CNI_COMMAND="VERSION"), capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        assert res.returncode == 0 and '"supportedVersions"' in res.stdout
    assert '"type": "pipework"' in outputs[0]  # the example network it prints
    res = subprocess.run(lines[2], capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert not os.path.lexists("/usr/lib/cni/pipework")
    assert os.path.exists("/opt/cni/bin/pipework")  # only the directory named was touched


def _python() -> str:
    return Path(PIPEWORK).read_text().splitlines()[0][2:].split()[0]


def test_install_never_replaces_a_pipework_that_is_not_its_own(tmp_path):
    (tmp_path / "pipework").write_text("#!/bin/sh\necho someone else's\n")
    res = subprocess.run(
        [PIPEWORK, "cni", "install", "--dir", str(tmp_path)], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert res.returncode == 1 and "not pipework's" in res.stderr
    assert (tmp_path / "pipework").read_text() == "#!/bin/sh\necho someone else's\n"


def _veths_marked(container_id: str) -> list[str]:
    return [
        str(entry["ifname"])
        for entry in ip_json("-d", "link", "show")
        if f"/{container_id} " in str(entry.get("ifalias", ""))
    ]


@pytest.mark.parametrize("name", HERE)
def test_docs_network_add_check_del(name, make_netns, nic, cleanup):
    for bridge in BRIDGES:
        require(link(bridge) is None, f"{bridge} exists on this host; not touching it")
        cleanup.add(f"bridge {bridge}", lambda b=bridge: sh("ip", "link", "del", b, check=False))
    data_dir = tempfile.mkdtemp(prefix="pwt-cni-")
    cleanup.add(data_dir, lambda: shutil.rmtree(data_dir, True))
    ns = make_netns()
    stand_ins = {"eth0": nic(), "eth1": nic()}
    conflist = with_nic(docs_conflists()[name], stand_ins, data_dir)
    cid = unique("pwtcid")
    where = {"netns": ns, "container_id": cid}

    result = conflist_add(conflist, **where)
    container = result["interfaces"][-1]
    assert container["name"] == "eth0" and container["sandbox"] == f"/run/netns/{ns}"
    live = addresses("eth0", netns=ns)
    assert sorted(ip["address"] for ip in result["ips"]) == sorted(
        a for a in live if not a.startswith("fe80:")
    )
    for route in result.get("routes", []):
        family = "-6" if ":" in route["dst"] else "-4"
        shown = sh("ip", "-n", ns, family, "route", "show", route["dst"]).stdout
        assert "eth0" in shown, (route, shown)
    if name == "pw-bridge":  # isDefaultGateway: both families' default routes
        assert "via 198.51.100.1 dev eth0" in sh("ip", "-n", ns, "route").stdout
        assert "via 2001:db8:1::1 dev eth0" in sh("ip", "-n", ns, "-6", "route").stdout
        assert "198.51.100.1/24" in addresses("br-pw")
    if name == "pw-device":
        assert link(stand_ins["eth1"]) is None  # the NIC itself is in the container

    code, error = conflist_run(conflist, "CHECK", result, **where)
    assert code == 0, error
    code, error = conflist_run(conflist, "DEL", result, **where)
    assert code == 0, error
    assert link("eth0", netns=ns) is None
    assert _veths_marked(cid) == []
    held = [f for p in Path(data_dir).rglob("*") if p.is_file() for f in [p.read_text()]]
    assert not any(cid in text for text in held), held
    if name == "pw-device":
        assert link(stand_ins["eth1"]) is not None  # given back to the host
    code, error = conflist_run(conflist, "DEL", result, **where)
    assert code == 0, f"a second DEL must succeed too: {error}"


def test_docs_bridge_network_del_after_the_namespace_is_gone(make_netns, cleanup):
    require(link("br-pw") is None, "br-pw exists on this host; not touching it")
    cleanup.add("bridge br-pw", lambda: sh("ip", "link", "del", "br-pw", check=False))
    data_dir = tempfile.mkdtemp(prefix="pwt-cni-")
    cleanup.add(data_dir, lambda: shutil.rmtree(data_dir, True))
    ns = make_netns()
    conflist = with_nic(docs_conflists()["pw-bridge"], {}, data_dir)
    cid = unique("pwtcid")
    result = conflist_add(conflist, netns=ns, container_id=cid)
    sh("ip", "netns", "del", ns)
    code, error = conflist_run(conflist, "DEL", result, netns=ns, container_id=cid)
    assert code == 0, error
    code, error = invoke(
        dict(conflist["plugins"][0], name="pw-bridge", cniVersion="1.0.0"),
        "DEL",
        netns="",
        container_id=cid,
    )
    assert code == 0, error
    assert _veths_marked(cid) == []
    assert not any(cid in p.read_text() for p in Path(data_dir).rglob("*") if p.is_file())
