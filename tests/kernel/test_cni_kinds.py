"""docs/cni.md's networks of the kinds this machine's kernel lacks (ipvlan, a macvlan
on an 802.1Q sub-interface, VLANs on a Linux bridge, Open vSwitch with its kernel
datapath, dummy, the Multus example), run as a runtime runs them under Debian's stock
kernel: ADD puts the result's addresses in the container, CHECK passes, DEL leaves
nothing behind (the snapshot fixture checks the VM's host)."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from tests.integration.cni import conflist_add, conflist_run, docs_conflists, with_nic
from tests.integration.conftest import addresses, link, sh, unique

from .test_stock_kernel_kinds import kind_of

KINDS = {
    "pw-ipvlan": "ipvlan",
    "pw-vlan": "macvlan",
    "pw-bridge-vlan": "veth",
    "pw-ovs": "veth",
    "pw-dummy": "dummy",
    "lab-vlan10": "macvlan",
}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_docs_network_add_check_del(name, ovs_kernel_datapath, make_netns, nic, cleanup):
    for bridge in ("br-pwvlan", "ovs-pw"):
        cleanup.add(bridge, lambda b=bridge: _remove_bridge(b))
    data_dir = tempfile.mkdtemp(prefix="pwt-cni-")
    cleanup.add(data_dir, lambda: shutil.rmtree(data_dir, True))
    ns = make_netns()
    stand_ins = {"eth0": nic(), "eth1": nic()}
    for stand_in in stand_ins.values():  # a sub-interface pipework makes on it
        cleanup.add(
            f"{stand_in}.10", lambda s=stand_in: sh("ip", "link", "del", f"{s}.10", check=False)
        )
    conflist = with_nic(docs_conflists()[name], stand_ins, data_dir)
    cid = unique("pwtcid")
    where = {"netns": ns, "container_id": cid}

    result = conflist_add(conflist, **where)
    assert kind_of("eth0", ns)[0] == KINDS[name]
    live = [a for a in addresses("eth0", netns=ns) if not a.startswith("fe80:")]
    assert sorted(ip["address"] for ip in result["ips"]) == sorted(live)
    if name == "pw-ovs":
        port = result["interfaces"][1]["name"]
        assert sh("ovs-vsctl", "get", "port", port, "tag").stdout.strip() == "30"
    if name == "pw-bridge-vlan":
        port = result["interfaces"][1]["name"]
        assert "20 PVID" in sh("bridge", "vlan", "show", "dev", port).stdout
    code, error = conflist_run(conflist, "CHECK", result, **where)
    assert code == 0, error
    code, error = conflist_run(conflist, "DEL", result, **where)
    assert code == 0, error
    assert link("eth0", netns=ns) is None


def _remove_bridge(name: str) -> None:
    if shutil.which("ovs-vsctl"):
        sh("ovs-vsctl", "--if-exists", "del-br", name, check=False)
    sh("ip", "link", "del", name, check=False)
