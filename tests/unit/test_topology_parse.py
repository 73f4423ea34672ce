"""Topology files: what load() accepts, and each refusal naming FILE:LINE (YAML and JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipework.errors import UsageError
from pipework.topology.parse import load
from pipework.topology.source import TopologyError

yaml = pytest.importorskip("yaml")  # the test extra installs PyYAML; JSON tests need nothing

# containerlab's documentation, links section of its srl02 lab, as written there
CLAB_SRL02 = """\
name: srl02

topology:
  kinds:
    nokia_srlinux:
      type: ixrd3
      image: ghcr.io/nokia/srlinux
  nodes:
    srl1:
      kind: nokia_srlinux
      startup-config: srl1.cfg.json
    srl2:
      kind: nokia_srlinux
      startup-config: srl2.cfg.json

  links:
    - endpoints: ["srl1:e1-1", "srl2:e1-1"]
"""


def write(tmp_path: Path, text: str, name: str = "lab.clab.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def refused(tmp_path: Path, text: str, name: str = "lab.clab.yml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(TopologyError) as info:
        load(path)
    assert info.value.exit_code == 2
    return str(info.value).replace(path, "FILE")


RING = """\
name: ring
topology:
  nodes:
    r1: {kind: netns}
    r2: {kind: netns}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      ipv4: [198.51.100.1/30, 198.51.100.2/30]
"""


def test_a_containerlab_file_loads_as_written(tmp_path: Path) -> None:
    topo = load(write(tmp_path, CLAB_SRL02))
    assert topo.name == "srl02"
    srl1 = topo.node("srl1")
    assert srl1.kind == "guest"
    assert [str(ref) for ref in srl1.lookup] == ["clab-srl02-srl1", "srl1"]
    (link,) = topo.links
    assert link.kind == "veth"
    assert [(e.node, e.ifname) for e in link.endpoints] == [("srl1", "e1-1"), ("srl2", "e1-1")]


def test_brief_form_addresses_are_per_endpoint(tmp_path: Path) -> None:
    (link,) = load(write(tmp_path, RING)).links
    assert [str(a) for e in link.endpoints for a in e.addresses] == [
        "198.51.100.1/30",
        "198.51.100.2/30",
    ]


def test_extended_form_with_mac_mtu_and_both_families(tmp_path: Path) -> None:
    text = """\
name: x
topology:
  nodes:
    a: {kind: netns}
    b: {kind: netns}
  links:
    - type: veth
      mtu: 9000
      endpoints:
        - node: a
          interface: eth1
          mac: 02:00:00:00:00:01
          ipv4: 198.51.100.1/24
          ipv6: [2001:db8::1/64]
        - {node: b, interface: eth1, ipv4: 198.51.100.2/24}
"""
    (link,) = load(write(tmp_path, text)).links
    a, b = link.endpoints
    assert link.mtu == 9000
    assert a.mac == bytes.fromhex("020000000001")
    assert [str(x) for x in a.addresses] == ["198.51.100.1/24", "2001:db8::1/64"]
    assert (b.mac, [str(x) for x in b.addresses]) == (None, ["198.51.100.2/24"])


def test_host_and_macvlan_endpoints_as_containerlab_means_them(tmp_path: Path) -> None:
    text = """\
name: x
topology:
  nodes:
    a: {kind: netns}
  links:
    - endpoints: ["a:eth1", "host:pwt-a-eth1"]
    - endpoints: ["macvlan:enp3s0", "a:eth2"]
    - type: macvlan
      endpoint: {node: a, interface: eth3}
      host-interface: enp3s0
      mode: private
    - type: dummy
      endpoint: {node: a, interface: dummy0}
"""
    host, mv, mv2, dummy = load(write(tmp_path, text)).links
    assert (host.kind, host.host_ifname, host.endpoints[0].ifname) == ("host", "pwt-a-eth1", "eth1")
    assert (mv.kind, mv.host_ifname, mv.endpoints[0].ifname) == ("macvlan", "enp3s0", "eth2")
    assert mv2.mode == "private"
    assert dummy.kind == "dummy"


def test_node_settings_exec_gateway_routes(tmp_path: Path) -> None:
    text = """\
name: x
topology:
  nodes:
    a:
      kind: netns
      gateway: 198.51.100.2
      routes:
        - {to: 203.0.113.0/24, via: 198.51.100.2}
      exec:
        - sysctl -w net.ipv4.ip_forward=1
        - [ip, route]
        - sh: "echo a | cat"
    b: {kind: netns}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
      ipv4: [198.51.100.1/30, 198.51.100.2/30]
"""
    node = load(write(tmp_path, text)).node("a")
    assert [str(g) for g in node.gateways] == ["198.51.100.2"]
    assert [str(r) for r in node.routes] == ["203.0.113.0/24 via 198.51.100.2"]
    assert node.exec == (
        ("sysctl", "-w", "net.ipv4.ip_forward=1"),
        ("ip", "route"),
        ("sh", "-c", "echo a | cat"),
    )


def test_runtime_and_prefix_name_the_guest(tmp_path: Path) -> None:
    text = """\
name: lab
prefix: p
topology:
  nodes:
    web: {kind: linux, runtime: docker}
    db: {kind: linux, guest: "lxc:database"}
"""
    topo = load(write(tmp_path, text))
    assert [str(r) for r in topo.node("web").lookup] == ["docker:p-lab-web", "docker:web"]
    assert [str(r) for r in topo.node("db").lookup] == ["lxc:database"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RING.replace('"r2:eth1"]', '"r3:eth1"]'), "FILE:7: unknown node 'r3'"),
        (
            RING + '    - endpoints: ["r1:eth1", "r2:eth2"]\n',
            "FILE:9: endpoint r1:eth1 is used twice (first on line 7)",
        ),
        (
            RING.replace('"r1:eth1"', '"r1:averyveryverylongname"'),
            "FILE:7: interface name of r1 'averyveryverylongname' is too long",
        ),
        (
            RING.replace("198.51.100.2/30]", "2001:db8::2/64]"),
            "FILE:8: ipv4 2001:db8::2/64 is not an IPv4 address",
        ),
        (
            RING.replace("198.51.100.2/30]", "198.51.100.1/30]"),
            "FILE:7: address 198.51.100.1 is given twice",
        ),
        (RING.replace("198.51.100.2/30]", "198.51.100.300/30]"), "FILE:8: invalid ipv4"),
        (
            RING.replace("    r2: {kind: netns}\n", "    r2: {kind: netns, colour: red}\n"),
            "FILE:5:",
        ),
        (RING.replace("r1: {kind: netns}", "r1: {}"), "FILE:4: node 'r1' has no kind"),
        (RING.replace("name: ring\n", ""), "FILE:1: missing 'name'"),
        (RING + "  colour: red\n", "FILE:9: unknown key 'colour' in topology"),
        (
            RING.replace("      ipv4", "      mode: x\n      ipv4"),
            "FILE:8: mode needs the extended",
        ),
        (RING + "    - {}\n", "FILE:9: a link needs endpoints"),
        (
            RING.replace("r2:eth1", "mgmt-net:eth1"),
            "FILE:7: mgmt-net endpoints are containerlab's management network",
        ),
        (RING + "  links2: [\n", "FILE:"),
    ],
)
def test_yaml_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    assert refused(tmp_path, text).startswith(expected)


def test_an_ignored_containerlab_key_is_accepted(tmp_path: Path) -> None:
    text = RING.replace("r1: {kind: netns}", "r1: {kind: netns, image: alpine, binds: [a:b]}")
    assert load(write(tmp_path, text)).node("r1").kind == "netns"


def test_extended_form_errors(tmp_path: Path) -> None:
    text = """\
name: x
topology:
  nodes:
    a: {kind: netns}
  links:
    - type: vxlan
      endpoint: {node: a, interface: vx0}
      remote: 198.51.100.9
      vni: 99999999
"""
    assert refused(tmp_path, text).startswith("FILE:9: vni must be a number from 1 to 16777215")
    text = text.replace("vni: 99999999", "vni: 5\n      host-interface: eth0")
    assert refused(tmp_path, text).startswith("FILE:10: a vxlan link has no host-interface")


def test_json_loads_without_yaml_and_errors_name_the_line(tmp_path: Path) -> None:
    doc = {
        "name": "j",
        "topology": {
            "nodes": {"a": {"kind": "netns"}, "b": {"kind": "netns"}},
            "links": [{"endpoints": ["a:eth1", "b:eth1"]}, {"endpoints": ["a:eth1", "c:e"]}],
        },
    }
    text = json.dumps(doc, indent=2)
    message = refused(tmp_path, text, "lab.json")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if '"c:e"' in s) - 1
    assert message.startswith(f"FILE:{line}: endpoint a:eth1 is used twice")
    doc["topology"]["links"].pop()  # type: ignore[index,attr-defined]
    topo = load(write(tmp_path, json.dumps(doc), "ok.json"))
    assert [e.node for e in topo.links[0].endpoints] == ["a", "b"]


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    assert refused(tmp_path, '{\n "name": "x",\n "topology": [1,,]\n}', "l.json").startswith(
        "FILE:3: not valid JSON"
    )


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read topology file"):
        load(str(tmp_path / "nope.yml"))


_WITHOUT_YAML = r"""
import sys

sys.modules["yaml"] = None  # PyYAML not installed: importing it raises ImportError
import pipework.cli.main  # noqa: F401  (the command line, with every verb's entry)
from pipework.errors import UsageError
from pipework.topology.parse import load

topo = load(sys.argv[1])
print(topo.name, len(topo.links))
try:
    load(sys.argv[2])
except UsageError as exc:
    print(exc, "|", exc.hint)
"""


def test_json_needs_no_pyyaml_and_yaml_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    doc = {
        "name": "j",
        "topology": {
            "nodes": {"a": {"kind": "netns"}, "b": {"kind": "netns"}},
            "links": [{"endpoints": ["a:eth1", "b:eth1"]}],
        },
    }
    good = write(tmp_path, json.dumps(doc), "lab.json")
    res = subprocess.run(
        [sys.executable, "-c", _WITHOUT_YAML, good, write(tmp_path, RING)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    loaded, refusal = res.stdout.splitlines()
    assert loaded == "j 1"
    assert "reading YAML needs PyYAML, which is not installed" in refusal
    assert "pip install 'pipework[topology]'" in refusal


def test_pyyaml_is_imported_only_when_a_yaml_file_is_read(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import pipework.cli.main, pipework.topology.up, pipework.graph.topology\n"
        "from pipework.topology.parse import load\n"
        "load(sys.argv[1])\n"
        "print('yaml' in sys.modules)\n"
        "load(sys.argv[2])\n"
        "print('yaml' in sys.modules)\n"
    )
    doc = {"name": "j", "topology": {"nodes": {"a": {"kind": "netns"}}}}
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            write(tmp_path, json.dumps(doc), "lab.json"),
            write(tmp_path, RING),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True"]
