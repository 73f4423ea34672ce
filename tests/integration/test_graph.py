"""``pipework graph`` of real kernel objects: guests on a bridge, a link between two
guests, a VXLAN device, a hostile interface name; rendered by Graphviz and opened in
headless Chromium (which is kept off the network)."""

from __future__ import annotations

import contextlib
import html
import os
import signal
import struct
import subprocess
import zlib
from pathlib import Path

from tests.unit.test_graph import Parsed, parse_dot

from .conftest import have, ip_json, ovs_ports, pipework, require, sh


def graph(*args: str) -> Parsed:
    res = pipework("graph", *args)
    assert res.returncode == 0, res.stderr
    return parse_dot(res.stdout)


def cluster_of(parsed: Parsed, label: str) -> str:
    """The DOT name of the cluster whose label's first line is ``label``."""
    found = [
        name for name, attrs in parsed.clusters.items() if attrs["label"].split("\n")[0] == label
    ]
    assert len(found) == 1, f"{label} drawn {len(found)} times: {parsed.clusters}"
    return found[0]


def node_in(parsed: Parsed, cluster: str, first_line: str) -> tuple[str, list[str]]:
    """(id, label lines) of the node of ``cluster`` whose label starts with ``first_line``."""
    for node_id, attrs in parsed.nodes.items():
        lines = attrs["label"].split("\n")
        if attrs["_cluster"] == cluster and lines[0] == first_line:
            return node_id, lines
    raise AssertionError(f"no {first_line} in {cluster}")


def host_node(parsed: Parsed, first_line: str) -> tuple[str, list[str]]:
    return node_in(parsed, "", first_line)


def edge_between(parsed: Parsed, a: str, b: str) -> dict[str, str]:
    for x, y, attrs in parsed.edges:
        if {x, y} == {a, b}:
            return attrs
    raise AssertionError(f"no edge between {a} and {b}")


def two_guests_on_a_bridge(make_netns, make_bridge) -> tuple[str, str, str]:
    a, b = make_netns(), make_netns()
    br = make_bridge()
    for ns, ip in ((a, "198.51.100.21/24"), (b, "198.51.100.22/24")):
        res = pipework("attach", ns, "--to", br, "--ip", ip)
        assert res.returncode == 0, res.stderr
    return a, b, br


def test_the_host_graph_shows_guests_on_their_bridge(make_netns, make_bridge):
    a, b, br = two_guests_on_a_bridge(make_netns, make_bridge)
    parsed = graph("--format", "dot")
    bridge_id, bridge_lines = host_node(parsed, br)
    assert bridge_lines[1] == "Linux bridge"
    for ns, ip in ((a, "198.51.100.21/24"), (b, "198.51.100.22/24")):
        eth1, lines = node_in(parsed, cluster_of(parsed, f"netns:{ns}"), "eth1")
        assert ip in lines
        # the edge is labelled with the host end pipework made for that guest
        host_end = sh("ip", "-j", "link", "show", "master", br).stdout
        assert edge_between(parsed, bridge_id, eth1)["label"] in host_end


def test_the_host_graph_shows_a_link_between_two_guests(make_netns):
    a, b = make_netns(), make_netns()
    res = pipework(
        "link", f"{a}:p2p0", f"{b}:p2p1", "--ip-a", "203.0.113.1/30", "--ip-b", "203.0.113.2/30"
    )
    assert res.returncode == 0, res.stderr
    parsed = graph()
    end_a, lines_a = node_in(parsed, cluster_of(parsed, f"netns:{a}"), "p2p0")
    end_b, lines_b = node_in(parsed, cluster_of(parsed, f"netns:{b}"), "p2p1")
    assert "203.0.113.1/30" in lines_a and "203.0.113.2/30" in lines_b
    assert edge_between(parsed, end_a, end_b)["label"] == "link"


def test_the_host_graph_shows_a_vxlan_device_and_its_remote(make_netns):
    ns = make_netns()
    sh("ip", "-n", ns, "link", "add", "pwtvx0", "type", "vxlan", "id", "4242",
       "remote", "203.0.113.77", "dstport", "4789")  # fmt: skip
    parsed = graph()
    device, lines = node_in(parsed, cluster_of(parsed, f"netns:{ns}"), "pwtvx0")
    assert lines[1:] == ["VXLAN 4242", "remote 203.0.113.77", "UDP port 4789"]
    remote, _ = host_node(parsed, "203.0.113.77")
    assert edge_between(parsed, device, remote) == {"label": "VNI 4242", "style": "dashed"}


HOSTILE_IFNAME = 'x"];n0--n1[a'  # 12 bytes: a quote, a bracket, an edge, an attribute


def test_a_hostile_interface_name_in_a_guest_stays_a_label(make_netns):
    ns = make_netns()
    sh("ip", "-n", ns, "link", "add", HOSTILE_IFNAME, "type", "veth", "peer", "name", "pwtq0")
    parsed = graph()
    cluster = cluster_of(parsed, f"netns:{ns}")
    node_id, _lines = node_in(parsed, cluster, HOSTILE_IFNAME)
    assert set(parsed.nodes[node_id]) == {"label", "shape", "style", "fillcolor", "_cluster"}
    # both ends are in the one guest: one edge between them, nothing else touching them
    other, _ = node_in(parsed, cluster, "pwtq0")
    touching = [(frozenset(e[:2]), e[2]) for e in parsed.edges if node_id in e[:2]]
    assert touching == [(frozenset((node_id, other)), {"label": "veth"})]


def test_the_svg_is_rendered_by_graphviz(make_netns, make_bridge, tmp_path):
    require(have("dot"), "Graphviz's dot is not installed (apt-get install graphviz)")
    a, b, br = two_guests_on_a_bridge(make_netns, make_bridge)
    out = tmp_path / "host.svg"
    res = pipework("graph", "--format", "svg", "-o", str(out))
    assert res.returncode == 0, res.stderr
    svg = html.unescape(out.read_text())  # Graphviz writes "-" as &#45;
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for text in (f"netns:{a}", f"netns:{b}", br, "198.51.100.21/24"):
        assert f">{text}</text>" in svg


# ---------------------------------------------------------------- in a real browser


def chromium(*args: str, home: Path, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium that cannot reach anything: no proxy to the world, no names
    resolved, no background fetches (updates, sync, metrics, safe browsing)."""
    argv = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={home / 'profile'}", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-default-apps", "--no-pings", "--metrics-recording-only",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
        *args,
    ]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        # its helper processes are in its process group: none may outlive the test
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered rows of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour = header[:4]
    assert depth == 8 and colour in (2, 6), header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = prev[x]
            corner = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + left) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + up) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif ftype == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i] for i in range(len(r)) if i % bpp < 3) for r in rows]


def test_the_html_page_opens_in_headless_chromium(make_netns, make_bridge, tmp_path):
    require(have("dot"), "Graphviz's dot is not installed (apt-get install graphviz)")
    require(have("chromium"), "Chromium is not installed (apt-get install chromium)")
    a, b, br = two_guests_on_a_bridge(make_netns, make_bridge)
    page = tmp_path / "host.html"
    res = pipework("graph", "--format", "html", "-o", str(page))
    assert res.returncode == 0, res.stderr
    html = page.read_text()
    # nothing in the page can fetch anything: no script, no source, no link
    for word in ("<script", "src=", "href=", "<link", "@import", "url("):
        assert word not in html

    shot = tmp_path / "shot.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1200,900", page.as_uri(), home=tmp_path)
    assert shot.exists(), run.stderr.decode(errors="replace")[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)
    white = b"\xff\xff\xff"
    inked = sum(1 for row in rows for i in range(0, len(row), 3) if row[i : i + 3] != white)
    # the picture and its tables: far from a blank page (which has no inked pixel)
    assert inked > width * height // 100, f"{inked} non-white pixels"

    dom = chromium("--dump-dom", page.as_uri(), home=tmp_path).stdout.decode()
    assert "<svg" in dom
    for name in (f"netns:{a}", f"netns:{b}", br, "198.51.100.22/24"):
        assert f">{name}</text>" in dom


def test_the_host_graph_shows_an_ovs_bridge_and_its_guest(make_netns, ovs_bridge):
    ns = make_netns()
    br = ovs_bridge()
    res = pipework("attach", ns, "--to", br, "--ovs-datapath", "netdev", "--ip", "203.0.113.40/24")
    assert res.returncode == 0, res.stderr
    parsed = graph()
    bridge_id, lines = host_node(parsed, br)
    assert lines[1] == "Open vSwitch" and parsed.nodes[bridge_id]["shape"] == "box3d"
    eth1, eth1_lines = node_in(parsed, cluster_of(parsed, f"netns:{ns}"), "eth1")
    assert "203.0.113.40/24" in eth1_lines
    (port,) = ovs_ports(br)
    assert edge_between(parsed, bridge_id, eth1)["label"] == port


def test_the_host_graph_shows_a_host_vxlan_port_on_its_bridge(make_bridge, cleanup):
    br = make_bridge()
    cleanup.add("vxlan pwtvxh0", lambda: sh("ip", "link", "del", "pwtvxh0", check=False))
    sh("ip", "link", "add", "pwtvxh0", "type", "vxlan", "id", "4343",
       "remote", "203.0.113.88", "dstport", "4789")  # fmt: skip
    sh("ip", "link", "set", "pwtvxh0", "master", br)
    parsed = graph()
    device, lines = host_node(parsed, "pwtvxh0")
    assert lines[1:3] == ["VXLAN 4343", "remote 203.0.113.88"]
    assert parsed.nodes[device]["shape"] == "cds"
    bridge, _ = host_node(parsed, br)
    assert edge_between(parsed, bridge, device) == {}
    remote, _ = host_node(parsed, "203.0.113.88")
    assert edge_between(parsed, device, remote) == {"label": "VNI 4343", "style": "dashed"}


ROOT = Path(__file__).resolve().parents[2]


def test_a_png_of_a_topology_file_is_a_picture(tmp_path):
    require(have("dot"), "Graphviz's dot is not installed (apt-get install graphviz)")
    out = tmp_path / "lab.png"
    res = pipework("graph", str(ROOT / "docs" / "graph-example.clab.yml"), "--format", "png",
                   "-o", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    width, height, rows = png_pixels(out.read_bytes())
    assert width > 100 and height > 100
    white = b"\xff\xff\xff"
    inked = sum(1 for row in rows for i in range(0, len(row), 3) if row[i : i + 3] != white)
    assert inked > width * height // 100, f"{inked} non-white pixels"


def svg_texts(svg: str) -> list[str]:
    """The text of every <text> element, as drawn (Graphviz escapes "-" as &#45;)."""
    import re

    return sorted(html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg))


def test_the_readme_picture_is_what_the_command_draws(tmp_path):
    require(have("dot"), "Graphviz's dot is not installed (apt-get install graphviz)")
    readme = (ROOT / "README.md").read_text()
    assert "![pipework graph of a small lab](docs/graph-example.svg)" in readme
    command = "pipework graph docs/graph-example.clab.yml --format svg -o docs/graph-example.svg"
    assert command in " ".join(readme.split())
    out = tmp_path / "again.svg"
    res = pipework("graph", str(ROOT / "docs" / "graph-example.clab.yml"), "--format", "svg",
                   "-o", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    # the same labels in the same number (the layout may vary with Graphviz's version)
    committed = svg_texts((ROOT / "docs" / "graph-example.svg").read_text())
    assert committed and svg_texts(out.read_text()) == committed


def test_the_host_graph_shows_the_nic_and_a_macvlan_child_in_a_guest(make_netns, nic):
    # the host's uplink: a NIC with no kind, drawn with its addresses
    default = next(r for r in ip_json("route", "show", "default") if "dev" in r)
    uplink = str(default["dev"])
    uplink_addresses = [
        f"{a['local']}/{a['prefixlen']}"
        for entry in ip_json("addr", "show", "dev", uplink)
        for a in entry.get("addr_info", [])
        if a.get("scope") == "global"
    ]
    ns, parent = make_netns(), nic()
    sh("ip", "link", "add", "link", parent, "name", "pwtmv0", "netns", ns, "type", "macvlan")
    parsed = graph()
    nic_id, lines = host_node(parsed, uplink)
    assert all(addr in lines for addr in uplink_addresses), lines
    parent_id, _ = host_node(parsed, parent)
    child, _ = node_in(parsed, cluster_of(parsed, f"netns:{ns}"), "pwtmv0")
    assert edge_between(parsed, parent_id, child) == {"label": "macvlan", "style": "dashed"}
    assert nic_id != parent_id
