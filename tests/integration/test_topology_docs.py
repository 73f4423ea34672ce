"""docs/topology.md's example lab runs as written: netns nodes with a /30 link, a
static route, a default route and exec (a string and a list), an extended veth with
MTU and both families to a bridge node, an existing guest found by containerlab's
``clab-<lab>-<node>`` name, a ``host:`` end and a ``macvlan:`` child. The only
changes: names get a per-test tag and ``pwt`` (the lab's nodes and the host
interfaces it makes), and a veth stands in for the NIC ``enp3s0``. Then ``down``
leaves the host exactly as it was before ``up``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import (
    Cleanup,
    addresses,
    host_snapshot,
    in_ns,
    ip_json,
    link,
    pipework,
    require,
    sh,
)
from .test_topology import _have_yaml, reaches

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "topology.md"


class DocsLab:
    """The example, tagged; ``down`` and the removal of what it names registered first."""

    def __init__(self, tmp_path: Path, cleanup: Cleanup, make_netns: Callable[..., str]) -> None:
        require(_have_yaml(), "PyYAML is not installed (pip install 'pipework[topology]')")
        text = DOCS.read_text()
        example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
        tag = uuid.uuid4().hex[:3]
        # 15 bytes at most: "sw-r2" becomes pwtTAGs-pwtTAGb
        self.names = {"r1": f"pwt{tag}a", "r2": f"pwt{tag}b", "sw": f"pwt{tag}s"}
        self.tag = f"pwt{tag}"
        self.lab = f"pwt{tag}ring"
        self.nic = f"pwt{tag}nic"
        cleanup.add(f"nic {self.nic}", lambda: sh("ip", "link", "del", self.nic, check=False))
        sh("ip", "link", "add", self.nic, "type", "veth", "peer", "name", self.nic + "p")
        sh("ip", "link", "set", self.nic, "up")
        for name in (self.names["r1"], self.names["r2"]):
            cleanup.add(f"netns {name}", lambda n=name: sh("ip", "netns", "del", n, check=False))
        cleanup.add("bridge", lambda: sh("ip", "link", "del", self.names["sw"], check=False))
        # the running guest "web": a named netns, found as clab-LAB-web
        self.web = make_netns(f"clab-{self.lab}-web")

        def rename(m: re.Match[str]) -> str:
            word = m.group(0)
            return self.names.get(word) or (self.lab if word == "ring" else self.nic)

        example = re.sub(r"\b(r1|r2|sw|ring|enp3s0)\b", rename, example)
        self.path = str(tmp_path / "lab.clab.yml")
        Path(self.path).write_text(example)
        cleanup.add("down", lambda: pipework("down", self.path, timeout=120))

    def node(self, name: str) -> str:
        return self.names[name]


@pytest.fixture
def docs_lab(tmp_path: Path, cleanup: Cleanup, make_netns: Callable[..., str]) -> DocsLab:
    return DocsLab(tmp_path, cleanup, make_netns)


def test_the_docs_example_is_built_as_written(docs_lab: DocsLab) -> None:
    r1, r2, sw = docs_lab.node("r1"), docs_lab.node("r2"), docs_lab.node("sw")
    res = pipework("up", docs_lab.path, timeout=120)
    assert res.returncode == 0, res.stderr
    # the /30 link, and r1's static route to 203.0.113.0/24 through r2
    assert reaches(r1, "198.51.100.2")
    assert reaches(r1, "203.0.113.1")
    # r2's default route, and the exec of both forms (a string, a list)
    (default,) = ip_json("route", "show", "default", netns=r2)
    assert default["gateway"] == "198.51.100.1"
    for node in (r1, r2):
        assert in_ns(node, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    # the extended veth: MTU 9000, both families, its other end a port of the bridge
    eth2 = link("eth2", r2)
    assert eth2 is not None and eth2["mtu"] == 9000
    assert addresses("eth2", r2) == ["203.0.113.1/24", "2001:db8::1/64"]
    port = link(f"{sw}-{r2}")
    assert port is not None and port.get("master") == sw
    # the guest found by its containerlab name, on the bridge
    assert addresses("eth1", docs_lab.web) == ["203.0.113.10/24"]
    assert reaches(docs_lab.web, "203.0.113.1")
    # host: end and macvlan: child
    host_end = link(f"{r1}-eth9")
    assert host_end is not None and host_end["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]
    mv0 = link("mv0", r2)
    assert mv0 is not None and mv0["linkinfo"]["info_kind"] == "macvlan"  # type: ignore[index]
    again = pipework("up", docs_lab.path, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout


def test_the_docs_dry_run_prints_the_ip_commands_and_changes_nothing(docs_lab: DocsLab) -> None:
    res = pipework("up", docs_lab.path, "--dry-run", timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert f"ip netns add {docs_lab.node('r1')}" in lines
    assert any(f"link add mv0 link {docs_lab.nic} " in line for line in lines)
    assert not os.path.exists(f"/run/netns/{docs_lab.node('r1')}")
    assert link(docs_lab.node("sw")) is None


def tagged(tag: str) -> dict[str, list[str]]:
    """The host's links, addresses and routes that mention ``tag``: everything this lab
    can make on the host is named after it (other tests may change the rest meanwhile)."""
    snapshot = host_snapshot()
    return {
        key: [json.dumps(item) for item in snapshot[key] if tag in json.dumps(item)]  # type: ignore[attr-defined]
        for key in ("links", "addresses", "routes")
    }


def test_down_leaves_the_host_as_it_was_before_up(docs_lab: DocsLab) -> None:
    before = tagged(docs_lab.tag)
    ours = [n for n in os.listdir("/run/netns") if n.startswith(docs_lab.tag)]
    assert ours == []
    assert pipework("up", docs_lab.path, timeout=120).returncode == 0
    assert tagged(docs_lab.tag) != before  # up changed it: the bridge, its ports, r1-eth9
    res = pipework("down", docs_lab.path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert tagged(docs_lab.tag) == before
    assert [n for n in os.listdir("/run/netns") if n.startswith(docs_lab.tag)] == []
    # the existing guest stays, without what the lab gave it
    assert os.path.exists(f"/run/netns/{docs_lab.web}")
    assert link("eth1", docs_lab.web) is None
