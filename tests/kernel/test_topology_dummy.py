"""``type: dummy`` links of a topology, for real: this machine's kernel has no dummy
module, Debian's stock kernel (the VM) has. The integration lane's topology helper
writes the file and registers ``down`` and the nodes' removal before anything is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import Cleanup, addresses, link, pings, unique
from tests.integration.test_topology import Lab


def dummy_doc(node: str, guest: str | None = None) -> dict[str, object]:
    """A lab with a dummy in a netns node it makes, and one in an existing netns guest."""
    nodes: dict[str, object] = {node: {"kind": "netns"}}
    links: list[object] = [
        {
            "type": "dummy",
            "mtu": 9000,
            "endpoint": {
                "node": node,
                "interface": "dum0",
                "mac": "02:00:5e:00:53:01",
                "ipv4": "198.51.100.1/24",
                "ipv6": "2001:db8::1/64",
            },
        }
    ]
    if guest is not None:
        nodes["old"] = {"kind": "linux", "guest": f"netns:{guest}"}
        links.append(
            {
                "type": "dummy",
                "endpoint": {"node": "old", "interface": "dum1", "ipv4": "203.0.113.1/24"},
            }
        )
    return {"name": node, "topology": {"nodes": nodes, "links": links}}


def test_a_dummy_link_is_made_in_its_node_as_declared(tmp_path: Path, cleanup: Cleanup) -> None:
    node = unique("pwtk")
    topo = Lab(tmp_path, cleanup, dummy_doc(node))
    res = topo.up()
    assert res.returncode == 0, res.stderr
    info = link("dum0", node)
    assert info is not None, "no dum0 in the node"
    assert info["linkinfo"]["info_kind"] == "dummy"  # type: ignore[index]
    assert (info["mtu"], info["address"]) == (9000, "02:00:5e:00:53:01")
    assert "UP" in info["flags"]  # type: ignore[operator]
    assert addresses("dum0", node) == ["198.51.100.1/24", "2001:db8::1/64"]
    assert pings(node, "198.51.100.1")  # up, and its address answers


def test_a_second_up_of_a_dummy_link_changes_nothing(tmp_path: Path, cleanup: Cleanup) -> None:
    node = unique("pwtk")
    topo = Lab(tmp_path, cleanup, dummy_doc(node))
    assert topo.up().returncode == 0
    first = link("dum0", node)
    again = topo.up()
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
    second = link("dum0", node)
    assert first is not None and second is not None
    assert first["ifindex"] == second["ifindex"]


def test_down_removes_the_dummy_links_and_leaves_an_existing_guest(
    tmp_path: Path, cleanup: Cleanup, make_netns: Callable[..., str]
) -> None:
    node = unique("pwtk")
    guest = make_netns()
    topo = Lab(tmp_path, cleanup, dummy_doc(node, guest))
    res = topo.up()
    assert res.returncode == 0, res.stderr
    assert addresses("dum1", guest) == ["203.0.113.1/24"]
    res = topo.down()
    assert res.returncode == 0, res.stderr
    assert not os.path.exists(f"/run/netns/{node}"), "the netns node up made is still there"
    assert link("dum1", guest) is None, "the dummy in the existing guest is still there"
    assert os.path.exists(f"/run/netns/{guest}"), "down removed a namespace it did not make"
