"""pipework up/down with real kernel objects: netns and bridge nodes, point-to-point
links, host: and macvlan: endpoints, a Docker guest; idempotency, rollback, down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import (
    PIPEWORK,
    Cleanup,
    addresses,
    in_ns,
    link,
    pings,
    require,
    sh,
    tcp_works,
    unique,
    wait_until,
)
from .conftest import pipework as run_pipework

pytestmark = pytest.mark.integration


def _have_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def reaches(ns: str, address: str) -> bool:
    """A ping from ``ns`` answers within 10 s. A link just set up passes nothing until
    the kernel's link watcher has seen its carrier, which it reports at most once a
    second: the first ping after ``up`` (and its ARP or neighbour solicitation) can be
    dropped."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if pings(ns, address):
            return True
    return False


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


class Lab:
    """A topology file written for one test; ``down`` and ``ip netns del`` of each node
    are registered before anything is created."""

    def __init__(self, tmp_path: Path, cleanup: Cleanup, doc: dict[str, object]) -> None:
        self.doc = doc
        self.path = str(tmp_path / f"{doc['name']}.json")
        Path(self.path).write_text(json.dumps(doc, indent=1))
        nodes = doc["topology"]["nodes"]  # type: ignore[index]
        for name, spec in nodes.items():
            if spec.get("kind") == "netns":
                cleanup.add(
                    f"netns {name}", lambda n=name: sh("ip", "netns", "del", n, check=False)
                )
            if spec.get("kind") == "bridge":
                cleanup.add(
                    f"bridge {name}", lambda n=name: sh("ip", "link", "del", n, check=False)
                )
        cleanup.add(f"down {self.path}", lambda: run_pipework("down", self.path))

    def up(
        self, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_pipework("up", self.path, *extra, env=env, timeout=300)

    def down(self) -> subprocess.CompletedProcess[str]:
        return run_pipework("down", self.path, timeout=300)


@pytest.fixture
def lab(tmp_path: Path, cleanup: Cleanup) -> Callable[[dict[str, object]], Lab]:
    return lambda doc: Lab(tmp_path, cleanup, doc)


def ring_doc(n: int = 4) -> dict[str, object]:
    """n routers in a ring, /30 links 198.51.100.4k/30 (k from node k to node k+1),
    each router with one static route to 198.51.100.0/24 via its clockwise neighbour:
    a packet to a link two hops away goes round clockwise, and so does its reply."""
    tag = unique("")[:4]
    names = [f"pwtr{tag}{i}" for i in range(n)]
    nodes: dict[str, object] = {}
    links: list[object] = []
    for i, name in enumerate(names):
        base = 4 * i
        links.append(
            {
                "endpoints": [f"{name}:cw", f"{names[(i + 1) % n]}:ccw"],
                "ipv4": [f"198.51.100.{base + 1}/30", f"198.51.100.{base + 2}/30"],
            }
        )
        nodes[name] = {
            "kind": "netns",
            "routes": [{"to": "198.51.100.0/24", "via": f"198.51.100.{base + 2}"}],
            "exec": [["sysctl", "-qw", "net.ipv4.ip_forward=1"]],
        }
    return {"name": f"pwt{tag}", "topology": {"nodes": nodes, "links": links}}


def test_a_ring_of_netns_nodes_routes_across(lab: Callable[..., Lab]) -> None:
    doc = ring_doc(4)
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 0, res.stderr
    names = list(doc["topology"]["nodes"])  # type: ignore[index]
    assert addresses("cw", names[0]) == ["198.51.100.1/30"]
    # r0 -> r2's end of the r1-r2 link, through r1; the reply goes on round, via r3
    assert reaches(names[0], "198.51.100.6")
    assert reaches(names[3], "198.51.100.5")
    assert in_ns(names[1], "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"


def test_up_twice_changes_nothing(lab: Callable[..., Lab]) -> None:
    doc = ring_doc(3)
    topo = lab(doc)
    assert topo.up().returncode == 0
    first = link("cw", next(iter(doc["topology"]["nodes"])))  # type: ignore[index]
    again = topo.up()
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
    second = link("cw", next(iter(doc["topology"]["nodes"])))  # type: ignore[index]
    assert first is not None and second is not None
    assert (first["ifindex"], first["address"]) == (second["ifindex"], second["address"])


def test_down_removes_the_lab(lab: Callable[..., Lab]) -> None:
    doc = ring_doc(3)
    topo = lab(doc)
    assert topo.up().returncode == 0
    res = topo.down()
    assert res.returncode == 0, res.stderr
    assert not any(netns_exists(n) for n in doc["topology"]["nodes"])  # type: ignore[attr-defined]
    assert "nothing" in topo.down().stdout  # and again: nothing left


def test_dry_run_prints_ip_commands_and_changes_nothing(lab: Callable[..., Lab]) -> None:
    doc = ring_doc(3)
    topo = lab(doc)
    res = topo.up("--dry-run")
    assert res.returncode == 0, res.stderr
    first = next(iter(doc["topology"]["nodes"]))  # type: ignore[index]
    assert f"ip netns add {first}" in res.stdout.splitlines()
    assert any(" type veth peer name " in line for line in res.stdout.splitlines())
    assert not netns_exists(first)


def test_a_bridge_node_with_50_guests(lab: Callable[..., Lab]) -> None:
    tag = unique("")[:4]
    bridge = f"pwtbr{tag}"
    guests = [f"pwtg{tag}-{i}" for i in range(50)]
    nodes: dict[str, object] = {bridge: {"kind": "bridge"}}
    nodes.update({g: {"kind": "netns"} for g in guests})
    links = [
        {
            "type": "veth",
            "endpoints": [
                {"node": g, "interface": "eth1", "ipv4": f"198.51.100.{i + 10}/24"},
                {"node": bridge, "interface": f"pwt{tag}p{i}"},
            ],
        }
        for i, g in enumerate(guests)
    ]
    topo = lab({"name": f"pwt{tag}", "topology": {"nodes": nodes, "links": links}})
    res = topo.up()
    assert res.returncode == 0, res.stderr
    ports = sh("ip", "-o", "link", "show", "master", bridge).stdout.splitlines()
    assert len(ports) == 50
    assert reaches(guests[0], "198.51.100.59")
    again = topo.up()
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
    assert topo.down().returncode == 0
    assert link(bridge) is None


def test_host_and_macvlan_endpoints(lab: Callable[..., Lab], nic: Callable[..., str]) -> None:
    parent = nic()
    sh("ip", "link", "set", parent, "up")
    tag = unique("")[:4]
    a, b = f"pwtm{tag}a", f"pwtm{tag}b"
    host_if = f"pwth{tag}"
    doc = {
        "name": f"pwt{tag}",
        "topology": {
            "nodes": {a: {"kind": "netns"}, b: {"kind": "netns"}},
            "links": [
                {"endpoints": [f"{a}:eth1", f"host:{host_if}"]},
                {"endpoints": [f"macvlan:{parent}", f"{a}:mv0"], "ipv4": [None, "198.51.100.1/24"]},
                {"endpoints": [f"macvlan:{parent}", f"{b}:mv0"], "ipv4": [None, "198.51.100.2/24"]},
            ],
        },
    }
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 0, res.stderr
    host_end = link(host_if)
    assert host_end is not None and host_end["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]
    mv = link("mv0", a)
    assert mv is not None and mv["linkinfo"]["info_kind"] == "macvlan"  # type: ignore[index]
    # two macvlans of one parent in bridge mode reach each other
    assert reaches(a, "198.51.100.2")
    assert topo.down().returncode == 0
    assert link(host_if) is None


def test_a_docker_guest_mixed_with_netns_nodes(
    lab: Callable[..., Lab], container: Callable[..., str]
) -> None:
    name = container()
    tag = unique("")[:4]
    ns = f"pwtd{tag}"
    doc = {
        "name": f"pwt{tag}",
        "topology": {
            "nodes": {
                "web": {"kind": "linux", "image": "busybox", "guest": f"docker:{name}"},
                ns: {"kind": "netns"},
            },
            "links": [
                {"endpoints": ["web:eth1", f"{ns}:eth1"],
                 "ipv4": ["198.51.100.1/30", "198.51.100.2/30"]},
            ],
        },
    }  # fmt: skip
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 0, res.stderr
    pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
    out = sh("nsenter", "-t", pid, "-n", "ip", "-o", "addr", "show", "dev", "eth1").stdout
    assert "198.51.100.1/30" in out
    assert reaches(ns, "198.51.100.1")
    assert topo.down().returncode == 0
    gone = sh("nsenter", "-t", pid, "-n", "ip", "link", "show", "eth1", check=False)
    assert gone.returncode != 0


def test_a_failure_half_way_is_rolled_back(lab: Callable[..., Lab]) -> None:
    doc = ring_doc(3)
    first = next(iter(doc["topology"]["nodes"]))  # type: ignore[index]
    # a gateway on no subnet of the node: the kernel refuses the route (ENETUNREACH)
    doc["topology"]["nodes"][first]["routes"].append(  # type: ignore[index]
        {"to": "203.0.113.0/24", "via": "198.51.100.200"}
    )
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 1
    assert "ENETUNREACH" in res.stderr
    assert not any(netns_exists(n) for n in doc["topology"]["nodes"])  # type: ignore[attr-defined]


def test_a_node_that_is_not_running_changes_nothing(lab: Callable[..., Lab]) -> None:
    doc = ring_doc(3)
    doc["topology"]["nodes"]["ghost"] = {"kind": "linux"}  # type: ignore[index]
    first = next(iter(doc["topology"]["nodes"]))  # type: ignore[index]
    doc["topology"]["links"].append({"endpoints": ["ghost:eth1", f"{first}:x"]})  # type: ignore[index]
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 1
    assert "'ghost' is not running" in res.stderr
    assert not any(netns_exists(n) for n in doc["topology"]["nodes"])  # type: ignore[attr-defined]


def test_down_after_a_run_killed_half_way(lab: Callable[..., Lab], tmp_path: Path) -> None:
    doc = ring_doc(3)
    topo = lab(doc)
    # stop before the 4th step (after the netns nodes and two links), then SIGKILL:
    # no rollback runs, and down must find the rest from the kernel's marks alone
    proc = subprocess.Popen(
        [PIPEWORK, "up", topo.path],
        env={**os.environ, "PIPEWORK_INJECT_PAUSE": "4"},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        wait_until(lambda: "paused" in proc.stderr.readline(), 30, "the pause")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    first = next(iter(doc["topology"]["nodes"]))  # type: ignore[index]
    assert netns_exists(first)
    res = topo.down()
    assert res.returncode == 0, res.stderr
    assert not any(netns_exists(n) for n in doc["topology"]["nodes"])  # type: ignore[attr-defined]


def test_a_bad_file_is_one_line_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n "name": "pwtx",\n "topology": {"nodes": {}, "links": [\n'
                    '  {"endpoints": ["r3:eth1", "r4:eth1"]}]}}\n')  # fmt: skip
    res = run_pipework("up", str(path))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"pipework: {path}:4: unknown node 'r3'"]


def test_yaml_file_loads(lab: Callable[..., Lab], tmp_path: Path, cleanup: Cleanup) -> None:
    require(_have_yaml(), "PyYAML is not installed (pip install 'pipework[topology]')")
    tag = unique("")[:4]
    a, b = f"pwty{tag}a", f"pwty{tag}b"
    path = tmp_path / "lab.clab.yml"
    path.write_text(
        f"name: pwt{tag}\ntopology:\n  nodes:\n    {a}: {{kind: netns}}\n    {b}: {{kind: netns}}\n"
        f'  links:\n    - endpoints: ["{a}:eth1", "{b}:eth1"]\n'
        "      ipv6: [2001:db8::1/64, 2001:db8::2/64]\n"
    )
    for n in (a, b):
        cleanup.add(f"netns {n}", lambda n=n: sh("ip", "netns", "del", n, check=False))
    cleanup.add("down", lambda: run_pipework("down", str(path)))
    res = run_pipework("up", str(path))
    assert res.returncode == 0, res.stderr
    assert reaches(a, "2001:db8::2")
    assert run_pipework("down", str(path)).returncode == 0


def test_an_lxc_guest_mixed_with_netns_nodes(
    lab: Callable[..., Lab], lxc_container: Callable[..., str]
) -> None:
    name = lxc_container()
    tag = unique("")[:4]
    ns = f"pwtl{tag}"
    doc = {
        "name": f"pwt{tag}",
        "topology": {
            "nodes": {"ct": {"kind": "linux", "guest": f"lxc:{name}"}, ns: {"kind": "netns"}},
            "links": [
                {"endpoints": ["ct:eth1", f"{ns}:eth1"],
                 "ipv6": ["2001:db8::1/64", "2001:db8::2/64"]},
            ],
        },
    }  # fmt: skip
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 0, res.stderr
    assert reaches(ns, "2001:db8::1")
    assert topo.down().returncode == 0


def vxlan_doc(
    name: str, node: str, address: str, remote: str, vni: int, port: int | None = None
) -> dict[str, object]:
    """A lab of one netns node with a vxlan link vx0 (``address``) towards ``remote``."""
    link: dict[str, object] = {
        "type": "vxlan",
        "endpoint": {"node": node, "interface": "vx0", "ipv4": address},
        "remote": remote,
        "vni": vni,
    }
    if port is not None:
        link["udp-port"] = port
    return {"name": name, "topology": {"nodes": {node: {"kind": "netns"}}, "links": [link]}}


def test_a_vxlan_link_is_made_in_the_node(lab: Callable[..., Lab]) -> None:
    tag = unique("")[:4]
    ns = f"pwtv{tag}"
    topo = lab(vxlan_doc(f"pwt{tag}", ns, "203.0.113.1/24", "198.51.100.9", 42, port=4790))
    res = topo.up()
    assert res.returncode == 0, res.stderr
    vx = link("vx0", ns)
    assert vx is not None
    data = vx["linkinfo"]["info_data"]  # type: ignore[index]
    assert (data["id"], data["remote"], data["port"]) == (42, "198.51.100.9", 4790)
    assert vx["mtu"] == 1450  # 1500 less VXLAN over IPv4's 50 bytes
    assert addresses("vx0", ns) == ["203.0.113.1/24"]


def test_an_interface_in_the_way_is_an_error_naming_it(
    lab: Callable[..., Lab], make_netns: Callable[..., str]
) -> None:
    doc = ring_doc(3)
    first = next(iter(doc["topology"]["nodes"]))  # type: ignore[index]
    make_netns(first)  # exists before up, with a "cw" that is not the lab's
    sh("ip", "-n", first, "link", "add", "cw", "type", "veth", "peer", "name", "pwtother")
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 1
    assert f"{first} already has an interface cw (veth) that is not this lab's" in res.stderr
    others = list(doc["topology"]["nodes"])[1:]  # type: ignore[index]
    assert not any(netns_exists(n) for n in others)  # nothing was changed
    assert link("pwtother", first) is not None


def test_links_are_born_in_their_nodes_never_in_the_host(
    lab: Callable[..., Lab], cleanup: Cleanup
) -> None:
    """Each veth is made with both ends in their namespaces in one request: the host
    never sees one of its ends (create-then-move shows each end, then its move)."""
    doc = ring_doc(3)
    nodes = list(doc["topology"]["nodes"])  # type: ignore[index]
    topo = lab(doc)
    canary = unique("pwtc")[:12]
    cleanup.add("canary", lambda: sh("ip", "link", "del", canary, check=False))
    monitor = subprocess.Popen(
        ["ip", "-o", "monitor", "link"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    seen: list[str] = []

    def read() -> None:
        assert monitor.stdout is not None
        for line in monitor.stdout:  # until the monitor is killed
            seen.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # the canary's creation and deletion bracket up: every event between is read
        sh("ip", "link", "add", canary, "type", "veth", "peer", "name", canary + "p")
        wait_until(lambda: any(canary in line for line in seen), 30, "the monitor")
        res = topo.up()
        assert res.returncode == 0, res.stderr
        sh("ip", "link", "del", canary)
        gone = f"Deleted {link_index_line(seen, canary)}"
        wait_until(lambda: any(line.startswith(gone) for line in seen), 30, "the canary's end")
    finally:
        monitor.kill()
        monitor.wait(timeout=30)
        reader.join(timeout=30)
    assert any(canary in line for line in seen)  # the monitor saw the host's links
    lab_lines = [
        line
        for line in seen
        if any(f" {name} " in line or f"link-netns {name}" in line for name in nodes)
        or any(f": {ifname}" in line for ifname in ("cw@", "ccw@", "cw:", "ccw:"))
    ]
    assert lab_lines == []
    assert link("cw", nodes[0]) is not None


def link_index_line(lines: list[str], name: str) -> str:
    """ "N: NAME" of the first monitor line about ``name``."""
    line = next(line for line in lines if f": {name}@" in line or f": {name}:" in line)
    return line.split(":", 1)[0] + f": {name}"


def test_a_progress_bar_on_a_terminal(lab: Callable[..., Lab]) -> None:
    import pty

    topo = lab(ring_doc(3))
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [PIPEWORK, "up", topo.path], stdout=subprocess.PIPE, stderr=slave, text=True
        )
        os.close(slave)
        chunks: list[bytes] = []
        for _ in range(10000):  # until the terminal closes (EIO), bounded
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=120) == 0
    finally:
        os.close(master)
    text = b"".join(chunks).decode()
    frames = [frame.strip() for frame in text.split("\r") if frame.strip()]
    assert len(frames) > 1, text  # redrawn in place
    last = frames[-1]
    total = last.rsplit(" ", 1)[1].split("/")[1]
    assert last.endswith(f"] {total}/{total}") and "[" + "#" * 30 + "]" in last, last


def test_plain_progress_lines_when_not_a_terminal(lab: Callable[..., Lab]) -> None:
    res = lab(ring_doc(3)).up()
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.endswith(" steps")]
    assert "\r" not in res.stderr and 1 < len(lines) <= 11, res.stderr
    done, total = lines[-1].rsplit(" ", 2)[1].split("/")
    assert done == total


def test_exec_is_an_argv_and_a_shell_only_when_asked(
    lab: Callable[..., Lab], tmp_path: Path
) -> None:
    doc = ring_doc(2)
    first = next(iter(doc["topology"]["nodes"]))  # type: ignore[index]
    out = tmp_path / "out"
    out.mkdir()
    doc["topology"]["nodes"][first]["exec"] = [  # type: ignore[index]
        f"touch {out}/a;touch {out}/b",  # words, never a shell: ";" is part of a name
        {"sh": f"ip -o link show > {out}/links"},  # a shell, asked for
    ]
    res = lab(doc).up()
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a;touch", "b", "links"]
    links = (out / "links").read_text()
    # run in the node's network namespace: its links, not the host's
    assert " cw@" in links and " ccw@" in links and "eth0" not in links


def test_vxlan_links_put_nodes_on_two_hosts_on_one_segment(
    lab: Callable[..., Lab], make_netns: Callable[..., str]
) -> None:
    """Each "host" a namespace with an underlay veth to the other (test_vxlan's
    Hosts); ``up`` runs inside each with ``ip netns exec``, and each host's file has a
    netns node with a vxlan link towards the other host. The nodes are made from the
    real host first: ``ip netns exec`` runs in a mount namespace of its own whose
    mounts do not propagate back, so a namespace ``up`` made there would vanish with
    it (a node that exists is used as it is)."""
    from .test_vxlan import Hosts

    hosts = Hosts(make_netns)
    tag = unique("")[:4]
    nodes = {}
    for side, (host, remote, address) in {
        "a": (hosts.a, hosts.addr_b, "203.0.113.1/24"),
        "b": (hosts.b, hosts.addr_a, "203.0.113.2/24"),
    }.items():
        node = make_netns(f"pwtx{tag}{side}")
        nodes[side] = node
        topo = lab(vxlan_doc(f"pwt{tag}{side}", node, address, remote, 4242))
        hosts.ok(host, "up", topo.path)
    a, b = nodes["a"], nodes["b"]
    assert reaches(a, "203.0.113.2")
    assert tcp_works(b, a, "203.0.113.2", 5414)
    vx = link("vx0", a)
    assert vx is not None and vx["mtu"] == 1450  # the underlay's 1500 less 50
    # a full-size packet, not fragmented, crosses the tunnel
    res = in_ns(
        a, "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1422", "203.0.113.2", check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_docker_and_lxc_guests_and_a_netns_node_in_one_lab(
    lab: Callable[..., Lab],
    container: Callable[..., str],
    lxc_container: Callable[..., str],
) -> None:
    docker_name, lxc_name = container(), lxc_container()
    tag = unique("")[:4]
    hub = f"pwth{tag}"
    doc = {
        "name": f"pwt{tag}",
        "topology": {
            "nodes": {
                # found by name: the node's name is the guest's
                docker_name: {"kind": "linux", "runtime": "docker"},
                lxc_name: {"kind": "linux"},
                hub: {"kind": "netns"},
            },
            "links": [
                {"endpoints": [f"{docker_name}:eth1", f"{hub}:to-web"],
                 "ipv4": ["198.51.100.1/30", "198.51.100.2/30"]},
                {"endpoints": [f"{lxc_name}:eth1", f"{hub}:to-ct"],
                 "ipv4": ["198.51.100.5/30", "198.51.100.6/30"]},
            ],
        },
    }  # fmt: skip
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 0, res.stderr
    assert reaches(hub, "198.51.100.1")  # the Docker container
    assert reaches(hub, "198.51.100.5")  # the LXC container
    again = topo.up()
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stderr
    assert topo.down().returncode == 0
    assert not netns_exists(hub)
    pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", docker_name).stdout.strip()
    gone = sh("nsenter", "-t", pid, "-n", "ip", "link", "show", "eth1", check=False)
    assert gone.returncode != 0


def test_extended_host_and_macvlan_links(lab: Callable[..., Lab], nic: Callable[..., str]) -> None:
    parent = nic()
    sh("ip", "link", "set", parent, "up")
    tag = unique("")[:4]
    a = f"pwte{tag}"
    host_if = f"pwth{tag}"
    doc = {
        "name": f"pwt{tag}",
        "topology": {
            "nodes": {a: {"kind": "netns"}},
            "links": [
                {
                    "type": "host",
                    "endpoint": {"node": a, "interface": "eth2", "ipv4": "203.0.113.2/24"},
                    "host-interface": host_if,
                    "mtu": 1400,
                },
                {
                    "type": "macvlan",
                    "endpoint": {"node": a, "interface": "mv1", "mac": "02:00:5e:00:53:07"},
                    "host-interface": parent,
                    "mode": "private",
                },
            ],
        },
    }
    res = lab(doc).up()
    assert res.returncode == 0, res.stderr
    host_end, eth2 = link(host_if), link("eth2", a)
    assert host_end is not None and eth2 is not None
    assert (host_end["mtu"], eth2["mtu"]) == (1400, 1400)
    assert addresses("eth2", a) == ["203.0.113.2/24"]
    mv1 = link("mv1", a)
    assert mv1 is not None and mv1["address"] == "02:00:5e:00:53:07"
    assert mv1["linkinfo"]["info_data"]["mode"] == "private"  # type: ignore[index]


def test_a_bridge_that_existed_is_used_and_left_by_down(
    lab: Callable[..., Lab], make_bridge: Callable[..., str]
) -> None:
    bridge = make_bridge()
    tag = unique("")[:4]
    ns = f"pwtb{tag}"
    port = f"pwtp{tag}"
    doc = {
        "name": f"pwt{tag}",
        "topology": {
            "nodes": {bridge: {"kind": "bridge"}, ns: {"kind": "netns"}},
            "links": [{"endpoints": [f"{ns}:eth1", f"{bridge}:{port}"]}],
        },
    }
    topo = lab(doc)
    res = topo.up()
    assert res.returncode == 0, res.stderr
    entry = link(port)
    assert entry is not None and entry.get("master") == bridge
    assert topo.down().returncode == 0
    assert link(port) is None
    assert link(bridge) is not None, "down removed a bridge the lab did not make"
