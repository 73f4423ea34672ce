"""``pipework graph`` without the kernel: DOT text from fixed pictures, read back by a
small DOT parser of this file (and by Graphviz itself when it is installed), names
that try to break out of their strings, the HTML page, the VXLAN attributes."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

from pipework.cli.modern import ModernCommand, parse_modern
from pipework.errors import UsageError
from pipework.graph.dot import quote, to_dot
from pipework.graph.model import Cluster, Edge, Node, Picture
from pipework.graph.render import to_html
from pipework.netlink import messages as m
from pipework.netlink.codec import pack_attr

# ---------------------------------------------------------------- a small DOT reader


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) of each DOT token: id, str (unescaped as DOT reads it), or punct."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            value = []
            i += 1
            while text[i] != '"':
                if text[i] == "\\" and text[i + 1] in '"\\':
                    value.append(text[i + 1])
                    i += 2
                elif text[i] == "\\" and text[i + 1] == "n":
                    value.append("\n")  # DOT's own line break in a label
                    i += 2
                else:
                    assert text[i] not in "\n\r", "a raw line break inside a DOT string"
                    value.append(text[i])
                    i += 1
            out.append(("str", "".join(value)))
            i += 1
        elif text.startswith("--", i):
            out.append(("punct", "--"))
            i += 2
        elif c in "{}[];=,":
            out.append(("punct", c))
            i += 1
        else:
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "_."):
                j += 1
            assert j > i, f"unexpected character {c!r} in DOT text"
            out.append(("id", text[i:j]))
            i = j
    return out


class Parsed:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.clusters: dict[str, dict[str, str]] = {}
        self.graph: dict[str, str] = {}


def parse_dot(text: str) -> Parsed:
    """The statements of the DOT subset pipework writes; anything else fails."""
    toks = tokens(text)
    parsed = Parsed()
    pos = 0

    def take(kind: str, value: str | None = None) -> str:
        nonlocal pos
        k, v = toks[pos]
        assert k == kind and (value is None or v == value), f"expected {value or kind}, got {v!r}"
        pos += 1
        return v

    def attrs() -> dict[str, str]:
        nonlocal pos
        found: dict[str, str] = {}
        take("punct", "[")
        while toks[pos] != ("punct", "]"):
            key = take("id")
            take("punct", "=")
            k, v = toks[pos]
            assert k in ("str", "id")
            pos += 1
            assert key not in found, f"attribute {key} given twice"
            found[key] = v
            if toks[pos] == ("punct", ","):
                pos += 1
        take("punct", "]")
        return found

    def body(scope: dict[str, str], cluster: str = "") -> None:
        nonlocal pos
        take("punct", "{")
        while toks[pos] != ("punct", "}"):
            k, v = toks[pos]
            if (k, v) == ("id", "subgraph"):
                pos += 1
                name = take("id")
                parsed.clusters[name] = {}
                body(parsed.clusters[name], name)
                continue
            first = take("id")
            if toks[pos] == ("punct", "="):
                pos += 1
                _kind, vv = toks[pos]
                pos += 1
                scope[first] = vv
            elif toks[pos] == ("punct", "--"):
                pos += 1
                second = take("id")
                parsed.edges.append((first, second, attrs() if toks[pos] == ("punct", "[") else {}))
            elif first in ("node", "edge"):
                attrs()
            else:
                assert first not in parsed.nodes, f"node {first} declared twice"
                parsed.nodes[first] = attrs()
                parsed.nodes[first]["_cluster"] = cluster
            take("punct", ";")
        take("punct", "}")

    take("id", "graph")
    take("id", "pipework")
    body(parsed.graph)
    assert pos == len(toks), "text after the graph"
    return parsed


# ---------------------------------------------------------------- fixed pictures

HOSTILE = [
    'eth"0',
    "br0\\",
    'x" ; evil [label="pwned", shape=none] ; y -- "z',
    "a}b{c",
    "line\nbreak",
    "cr\rreturn",
    "<b>bold</b><script>alert(1)</script>",
    "\\N\\G\\l\\n",
    "tab\there",
    "esc\x1b[31m",
    "\u2028sep",
    "-- n0",
    "ünïcödé",
]


def shown(name: str) -> str:
    """What a label says for ``name``: control characters written as \\xNN text."""
    out = []
    for char in name:
        if char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def small_picture(names: list[str]) -> Picture:
    host = tuple(Node(f"n{i}", "bridge", (name, "Linux bridge")) for i, name in enumerate(names))
    clusters = tuple(
        Cluster(f"g{i}", (name,), (Node(f"m{i}", "interface", (name, "198.51.100.1/24")),))
        for i, name in enumerate(names)
    )
    edges = tuple(Edge(f"n{i}", f"m{i}", label=(name,)) for i, name in enumerate(names))
    return Picture(names[0], host, clusters, edges)


def test_a_picture_becomes_nodes_clusters_and_edges() -> None:
    pic = Picture(
        "lab",
        (Node("n0", "bridge", ("br0", "Linux bridge")), Node("n1", "remote", ("203.0.113.7",))),
        (
            Cluster(
                "g0",
                ("netns:a",),
                (
                    Node("n2", "interface", ("eth1", "198.51.100.1/24")),
                    Node("n3", "vxlan", ("vx0", "VXLAN 42")),
                ),
            ),
        ),
        (Edge("n0", "n2", label=("veth1",)), Edge("n3", "n1", label=("VNI 42",), dashed=True)),
    )
    parsed = parse_dot(to_dot(pic))
    assert set(parsed.nodes) == {"n0", "n1", "n2", "n3"}
    assert parsed.nodes["n2"]["label"] == "eth1\n198.51.100.1/24"
    assert parsed.nodes["n0"]["shape"] == "box"
    assert parsed.clusters["cluster_g0"]["label"] == "netns:a"
    assert [(a, b) for a, b, _ in parsed.edges] == [("n0", "n2"), ("n3", "n1")]
    assert parsed.edges[1][2] == {"label": "VNI 42", "style": "dashed"}
    assert parsed.graph["label"] == "lab"


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_stays_one_label(name: str) -> None:
    parsed = parse_dot(to_dot(small_picture([name])))
    # exactly the nodes and edges drawn: the name opened no statement, no attribute
    assert set(parsed.nodes) == {"n0", "m0"}
    assert set(parsed.nodes["n0"]) == {"label", "shape", "style", "fillcolor", "_cluster"}
    assert parsed.nodes["n0"]["label"] == f"{shown(name)}\nLinux bridge"
    assert parsed.clusters["cluster_g0"]["label"] == shown(name)
    assert parsed.edges == [("n0", "m0", {"label": shown(name)})]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_quoted_name_has_no_raw_line_break_and_no_open_quote(name: str) -> None:
    text = quote(name)
    assert "\n" not in text and "\r" not in text
    inner = text[1:-1]
    # every quote inside is escaped, and the string does not end on a lone backslash
    stripped = inner.replace("\\\\", "")
    assert '"' not in stripped.replace('\\"', "")
    assert not stripped.endswith("\\")


def unescape_label(raw: str) -> str:
    """A label as Graphviz's JSON gives it (its escapes kept, quotes not) as shown."""
    out = []
    i = 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            out.append("\n" if raw[i + 1] == "n" else raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def _dot() -> str | None:
    return shutil.which("dot")


@pytest.mark.skipif(_dot() is None, reason="Graphviz's dot is not installed")
def test_graphviz_reads_hostile_names_as_the_labels_written() -> None:
    text = to_dot(small_picture(HOSTILE))
    proc = subprocess.run(
        [str(_dot()), "-Tjson0"], input=text, capture_output=True, text=True, check=True
    )
    drawn = json.loads(proc.stdout)
    nodes = {obj["name"]: obj for obj in drawn["objects"] if "nodes" not in obj}
    assert len(nodes) == 2 * len(HOSTILE)
    for i, name in enumerate(HOSTILE):
        # Graphviz keeps a label's escapes: "\\" is one backslash, "\n" a line break
        assert unescape_label(nodes[f"m{i}"]["label"]) == f"{shown(name)}\n198.51.100.1/24"
    assert len(drawn["edges"]) == len(HOSTILE)


@pytest.mark.skipif(_dot() is None, reason="Graphviz's dot is not installed")
def test_graphviz_svg_shows_html_in_a_name_as_text() -> None:
    text = to_dot(small_picture(["<script>alert(1)</script>"]))
    svg = subprocess.run(
        [str(_dot()), "-Tsvg"], input=text, capture_output=True, text=True, check=True
    ).stdout
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


# ---------------------------------------------------------------- the HTML page


def test_the_html_page_without_graphviz_lists_the_picture_as_tables() -> None:
    page = to_html(small_picture(["br0", "guest-a"]), None)
    assert "<svg" not in page
    assert page.count("<tr>") == 1 + 4 + 1 + 2  # headers, 4 nodes, header, 2 edges
    assert "br0" in page and "guest-a" in page


def test_the_html_page_escapes_names_and_loads_nothing() -> None:
    names = ['<img src="http://203.0.113.9/x">', "<script>x</script>"]
    page = to_html(small_picture(names), None)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;img src=&quot;http://203.0.113.9/x&quot;&gt;" in page
    assert "default-src 'none'" in page
    rest = page.replace("&lt;img src=&quot;http://203.0.113.9/x&quot;&gt;", "")
    rest = rest.replace('<meta http-equiv="Content', "")
    assert "http" not in rest and "src=" not in rest and "href" not in rest


def test_the_html_page_inlines_only_the_svg_element() -> None:
    svg = (
        b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg width="1"><g/></svg>\n'
    )
    page = to_html(small_picture(["br0"]), svg)
    assert '<div id="picture"><svg width="1"><g/></svg>' in page
    assert "DOCTYPE svg" not in page and "svg11.dtd" not in page


# ---------------------------------------------------------------- the verb's arguments


def test_graph_takes_a_format_an_output_and_at_most_one_file() -> None:
    command = parse_modern(["graph", "--format", "svg", "-o", "x.svg"])
    assert isinstance(command, ModernCommand)
    assert command.values == {"format": "svg", "output": "x.svg", "file": None}
    command = parse_modern(["graph", "lab.clab.yml"])
    assert isinstance(command, ModernCommand)
    assert command.values == {"format": "dot", "file": "lab.clab.yml"}


def test_graph_refuses_an_unknown_format() -> None:
    with pytest.raises(UsageError, match="unknown format 'jpeg'"):
        parse_modern(["graph", "--format", "jpeg"])


def test_graph_refuses_two_files() -> None:
    with pytest.raises(UsageError, match="at most one FILE"):
        parse_modern(["graph", "a.yml", "b.yml"])


# ---------------------------------------------------------------- VXLAN attributes


def _vxlan_link(data: bytes) -> m.Link:
    info = pack_attr(1, b"vxlan\0") + pack_attr(2 | 0x8000, data)
    body = struct.pack("=BxHiII", 0, 1, 7, 0, 0) + pack_attr(3, b"vx42\0")
    body += pack_attr(18 | 0x8000, info)
    return m.parse_link(body, 0, len(body))


def test_vxlan_attributes_are_read_from_a_link() -> None:
    data = (
        pack_attr(1, struct.pack("=I", 42))
        + pack_attr(2, bytes([203, 0, 113, 7]))
        + pack_attr(3, struct.pack("=I", 2))
        + pack_attr(4, bytes([198, 51, 100, 9]))
        + pack_attr(15, struct.pack(">H", 4789))
    )
    link = _vxlan_link(data)
    attrs = m.kind_data(link)
    assert link.kind == "vxlan" and attrs is not None
    assert attrs.get_int("IFLA_VXLAN_ID") == 42
    assert attrs.get_bytes("IFLA_VXLAN_GROUP") == bytes([203, 0, 113, 7])
    assert attrs.get_int("IFLA_VXLAN_LINK") == 2
    assert attrs.get_bytes("IFLA_VXLAN_LOCAL") == bytes([198, 51, 100, 9])
    assert attrs.get_int("IFLA_VXLAN_PORT") == 4789


def test_a_vxlan_device_is_drawn_with_its_vni_remote_and_port() -> None:
    from pipework.graph.host import _vxlan_lines

    remote6 = bytes.fromhex("20010db8000000000000000000000001")
    data = (
        pack_attr(1, struct.pack("=I", 7))
        + pack_attr(16, remote6)
        + pack_attr(15, struct.pack(">H", 8472))
    )
    lines, remote, vni, underlay = _vxlan_lines(_vxlan_link(data))
    assert lines == ["VXLAN 7", "remote 2001:db8::1", "UDP port 8472"]
    assert (remote, vni, underlay) == ("2001:db8::1", 7, None)


def test_a_vxlan_multicast_group_is_called_a_group() -> None:
    from pipework.graph.host import _vxlan_lines

    data = pack_attr(1, struct.pack("=I", 9)) + pack_attr(2, bytes([239, 1, 1, 1]))
    lines, remote, _vni, _underlay = _vxlan_lines(_vxlan_link(data))
    assert lines == ["VXLAN 9", "group 239.1.1.1"]
    assert remote == "239.1.1.1"


# ---------------------------------------------------------------- a topology file

LAB = """\
name: lab
topology:
  nodes:
    a: {kind: netns}
    b: {kind: linux, runtime: docker}
    br1: {kind: bridge}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
      ipv4: [198.51.100.1/30, 198.51.100.2/30]
    - endpoints: ["br1:p-a", "a:eth2"]
    - endpoints: ["br1:p-b", "b:eth2"]
    - endpoints: ["a:eth3", "host:pwt-a-eth3"]
    - type: macvlan
      endpoint: {node: b, interface: mv0, ipv4: 203.0.113.5/24}
      host-interface: enp3s0
      mode: private
    - type: vxlan
      endpoint: {node: a, interface: vx0}
      remote: 203.0.113.7
      vni: 42
    - type: dummy
      endpoint: {node: b, interface: dummy0}
"""


def _lab(tmp_path, text: str = LAB) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "lab.clab.yml"
    path.write_text(text)
    return str(path)


def _by_first_line(parsed: Parsed) -> dict[tuple[str, str], str]:
    """(cluster, first label line) -> node id."""
    return {(a["_cluster"], a["label"].split("\n")[0]): n for n, a in parsed.nodes.items()}


def test_a_topology_file_is_drawn_node_by_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pipework.graph.topology import load_picture

    parsed = parse_dot(to_dot(load_picture(_lab(tmp_path))))
    labels = {name: attrs["label"] for name, attrs in parsed.clusters.items()}
    assert sorted(labels.values()) == ["a\nnetns", "b\nlinux"]
    assert parsed.graph["label"] == "topology lab"
    nodes = _by_first_line(parsed)
    inside = {first: cluster for cluster, first in nodes if cluster}
    assert sorted(inside) == ["dummy0", "eth1", "eth2", "eth3", "mv0", "vx0"]
    on_host = sorted(parsed.nodes[n]["label"] for (cluster, _), n in nodes.items() if not cluster)
    assert on_host == ["203.0.113.7", "br1\nLinux bridge", "enp3s0", "host\npwt-a-eth3"]
    assert len(parsed.nodes) == 12  # 4 on the host, 4 in each node (eth1, eth2 in both)


def test_a_topology_file_links_carry_names_and_addresses(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pipework.graph.topology import load_picture

    parsed = parse_dot(to_dot(load_picture(_lab(tmp_path))))
    ids = {a["label"]: n for n, a in parsed.nodes.items()}
    edges = {frozenset((x, y)): attrs for x, y, attrs in parsed.edges}
    assert edges[frozenset((ids["eth1\n198.51.100.1/30"], ids["eth1\n198.51.100.2/30"]))] == {
        "label": "veth"
    }
    bridge = ids["br1\nLinux bridge"]
    cluster_a = parsed.nodes[ids["eth1\n198.51.100.1/30"]]["_cluster"]
    eth2 = [n for n, a in parsed.nodes.items() if a["label"] == "eth2"]
    port_labels = sorted(edges[frozenset((bridge, n))]["label"] for n in eth2)
    assert port_labels == ["p-a", "p-b"]
    assert edges[frozenset((ids["host\npwt-a-eth3"], ids["eth3"]))] == {"label": "veth"}
    assert edges[frozenset((ids["enp3s0"], ids["mv0\n203.0.113.5/24"]))] == {
        "label": "macvlan private",
        "style": "dashed",
    }
    vx = edges[frozenset((ids["vx0"], ids["203.0.113.7"]))]
    assert vx == {"label": "VNI 42\nUDP port 4789", "style": "dashed"}
    assert parsed.nodes[ids["vx0"]]["_cluster"] == cluster_a
    assert len(edges) == 6


def test_graph_file_on_the_command_line_prints_the_topology(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "pipework", "graph", _lab(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert parse_dot(res.stdout).graph["label"] == "topology lab"


def test_graph_file_reports_a_bad_file_with_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    bad = _lab(tmp_path, LAB.replace('"a:eth1", "b:eth1"', '"a:eth1", "c:eth1"'))
    res = subprocess.run(
        [sys.executable, "-m", "pipework", "graph", bad],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2
    assert f"{bad}:8:" in res.stderr and "'c'" in res.stderr


def test_without_graphviz_svg_is_refused_saying_what_to_install(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    argv = [sys.executable, "-m", "pipework", "graph", _lab(tmp_path), "--format", "svg"]
    res = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={"PATH": str(tmp_path)}
    )
    assert res.returncode == 1 and res.stdout == ""
    assert "Graphviz is not installed" in res.stderr
    assert "apt-get install graphviz" in res.stderr


def test_without_graphviz_the_html_page_is_the_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    argv = [sys.executable, "-m", "pipework", "graph", _lab(tmp_path), "--format", "html"]
    res = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={"PATH": str(tmp_path)}
    )
    assert res.returncode == 0, res.stderr
    assert "<svg" not in res.stdout
    assert "<td>vx0</td>" in res.stdout and "<td>203.0.113.7</td>" in res.stdout
