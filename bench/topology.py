"""Topology: ``pipework up`` of a 200-node, 400-link lab of netns nodes, per link,
against the ways others build the same links, in the same run.

Contenders, each from the same clean start (the 200 named namespaces made fresh by
``ip -batch``, outside the timing; every node has four links, to the next two nodes
round a ring; each end gets a /30 address and is set up):

* ``pipework up`` — the topology verb's Python entry (``pipework.topology.up.up``):
  file parsing and checks, pinning the nodes, planning, marks, rollback included;
* ``create-then-move (ip -batch)`` — what containerlab and koko do: the pair is made
  in the host, each end moved into its namespace, renamed, addressed and set up
  there (bench.py's batch contender, made point-to-point);
* ``create-then-move (netlink)`` — the same sequence in one process over netlink,
  so the gap is the moves (an RCU grace period each), not process starts;
* ``raw netlink floor`` — only the kernel requests pipework's plan makes (one
  RTM_NEWLINK per pair with each end born in its namespace, an address and an
  "up" per end), nothing else: no file, checks, marks or rollback.

Each timed contender runs in a child process (``python bench/topology.py child
KIND …``) that prints one JSON line; the wall time is its own loop.

    python bench/bench.py --only topology      # or: python bench/topology.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODES, LINKS = 200, 400
PREFIX = "pwbt"


def plan(nodes: int) -> list[tuple[int, str, int, str, str, str]]:
    """(node a, if a, node b, if b, address a, address b) of every link: node i to the
    next two round the ring, /30s out of 198.18.0.0/15 (RFC 2544's benchmark range)."""
    links = []
    for i in range(nodes):
        for step in (1, 2):
            k = len(links)
            base = 4 * k
            octets = (18 + (base >> 16), (base >> 8) & 0xFF, base & 0xFF)
            a = f"198.{octets[0]}.{octets[1]}.{octets[2] + 1}/30"
            b = f"198.{octets[0]}.{octets[1]}.{octets[2] + 2}/30"
            links.append((i, f"l{k}a", (i + step) % nodes, f"l{k}b", a, b))
    return links


def names(nodes: int) -> list[str]:
    return [f"{PREFIX}{i}" for i in range(nodes)]


def topology_file(nodes: int, path: str) -> None:
    ns = names(nodes)
    doc = {
        "name": "pwbtopo",
        "topology": {
            "nodes": {name: {"kind": "netns"} for name in ns},
            "links": [
                {"endpoints": [f"{ns[a]}:{ia}", f"{ns[b]}:{ib}"], "ipv4": [xa, xb]}
                for a, ia, b, ib, xa, xb in plan(nodes)
            ],
        },
    }
    Path(path).write_text(json.dumps(doc))


# ------------------------------------------------------------------ children


def child_pipework(nodes: int, path: str) -> float:
    from pipework.topology.up import up

    start = time.perf_counter()
    result = up(path)
    elapsed = time.perf_counter() - start
    assert result.counts.get("link") == len(plan(nodes)), result.counts
    return elapsed


def _open_all(nodes: int) -> tuple[list[object], list[object]]:
    from pipework.netlink.socket import NetlinkSocket
    from pipework.netns import NetNS

    spaces = [NetNS.open(f"/run/netns/{n}", n) for n in names(nodes)]
    socks = [NetlinkSocket.inside(ns) for ns in spaces]
    return spaces, socks  # type: ignore[return-value]


def child_floor(nodes: int) -> float:
    from pipework.inet import parse_interface
    from pipework.netlink import messages as m
    from pipework.netlink.socket import NetlinkSocket
    from pipework.netlink.socket import address_request as add_address
    from pipework.topology.plan import veth_between

    links = [
        (a, ia, b, ib, parse_interface(xa), parse_interface(xb))
        for a, ia, b, ib, xa, xb in plan(nodes)
    ]  # parsed before the clock starts: the floor is the kernel's work only
    start = time.perf_counter()
    spaces, socks = _open_all(nodes)
    next_index = [2] * nodes
    with NetlinkSocket() as host:
        for a, ia, b, ib, xa, xb in links:
            index_a, index_b = next_index[a], next_index[b]
            next_index[a] += 1
            next_index[b] += 1
            req = veth_between(
                ia, spaces[a].fd, index_a, ib, spaces[b].fd, index_b,  # type: ignore[attr-defined]
                mtu=None, a_mac=None, b_mac=None,
            )  # fmt: skip
            host.request(req, op="add", obj="veth")
            for node, index, iface in ((a, index_a, xa), (b, index_b, xb)):
                sock = socks[node]
                sock.request(add_address(index, iface), op="add", obj="addr")  # type: ignore[attr-defined]
                sock.request(m.set_link(index, up=True), op="up", obj="link")  # type: ignore[attr-defined]
    return time.perf_counter() - start


def child_move(nodes: int) -> float:
    """containerlab/koko's order, over netlink: make the pair in the host, move each end
    into its namespace (renamed on the way), then address and set it up there."""
    from pipework.inet import parse_interface
    from pipework.netlink import messages as m
    from pipework.netlink.socket import NetlinkSocket
    from pipework.netlink.socket import address_request as add_address

    links = plan(nodes)
    start = time.perf_counter()
    spaces, socks = _open_all(nodes)
    with NetlinkSocket() as host:
        for k, (a, ia, b, ib, xa, xb) in enumerate(links):
            tmp_a, tmp_b = f"pwbm{k}a", f"pwbm{k}b"
            host.request(
                m.create_veth(tmp_a, tmp_b, peer_netns_fd=None, up=False), op="add", obj="veth"
            )
            for tmp, node, final, text in ((tmp_a, a, ia, xa), (tmp_b, b, ib, xb)):
                link = host.link(tmp)
                assert link is not None
                host.request(m.move_link(link.index, spaces[node].fd, final), op="move", obj=tmp)  # type: ignore[attr-defined]
                sock = socks[node]
                moved = sock.link(final)  # type: ignore[attr-defined]
                sock.request(add_address(moved.index, parse_interface(text)), op="add", obj="addr")  # type: ignore[attr-defined]
                sock.request(m.set_link(moved.index, up=True), op="up", obj="link")  # type: ignore[attr-defined]
    return time.perf_counter() - start


def child(argv: list[str]) -> None:
    kind, nodes = argv[0], int(argv[1])
    runners = {
        "pipework": lambda: child_pipework(nodes, argv[2]),
        "floor": lambda: child_floor(nodes),
        "move-netlink": lambda: child_move(nodes),
    }
    elapsed = runners[kind]()
    sys.stdout.write(json.dumps({"elapsed_s": elapsed}) + "\n")
    sys.stdout.flush()
    os._exit(0)


# ------------------------------------------------------------------ orchestration


def _ip_batch(lines: list[str], *, netns: str | None = None, check: bool = True) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    subprocess.run(argv, input="".join(x + "\n" for x in lines), text=True, check=check,
                   capture_output=True)  # fmt: skip


def _fresh(nodes: int) -> None:
    # a smaller lab is a smoke run (--quick): its figures mean nothing, so it does not
    # wait long for a busy machine to go idle
    wait = 60 if nodes >= NODES else 3
    _ip_batch([f"netns del {n}" for n in names(nodes)], check=False)
    _wait_gone()
    _settle(timeout=wait)  # the kernel tears namespaces down in a worker, holding the RTNL lock
    _ip_batch([f"netns add {n}" for n in names(nodes)])
    _settle(timeout=wait)


def _cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)  # busy, total (idle, iowait)


def _settle(limit: float = 0.05, timeout: float = 60) -> None:
    """Wait until the machine is idle (below ``limit`` busy over 0.3 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy0, total0 = _cpu()
        time.sleep(0.3)
        busy1, total1 = _cpu()
        if (busy1 - busy0) / max(total1 - total0, 1) < limit:
            return


def _wait_gone(timeout: float = 120) -> None:
    """Namespaces die asynchronously: wait until no veth of the last contender is left
    in the host (create-then-move leaves none; this bounds the kernel's cleanup)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True,
                             text=True, check=False).stdout  # fmt: skip
        if "pwbm" not in out:
            return
        time.sleep(0.2)


def _move_ip_batch(nodes: int) -> float:
    ns = names(nodes)
    links = plan(nodes)
    host = []
    per_ns: dict[int, list[str]] = {}
    for k, (a, ia, b, ib, xa, xb) in enumerate(links):
        host += [
            f"link add pwbm{k}a type veth peer name pwbm{k}b",
            f"link set pwbm{k}a netns {ns[a]}",
            f"link set pwbm{k}b netns {ns[b]}",
        ]
        for node, tmp, final, text in ((a, f"pwbm{k}a", ia, xa), (b, f"pwbm{k}b", ib, xb)):
            per_ns.setdefault(node, []).extend(
                [f"link set {tmp} name {final}", f"addr add {text} dev {final}",
                 f"link set {final} up"]
            )  # fmt: skip
    start = time.perf_counter()
    _ip_batch(host)
    for node, lines in per_ns.items():
        _ip_batch(lines, netns=ns[node])
    return time.perf_counter() - start


def _child(kind: str, nodes: int, *extra: str) -> float:
    out = subprocess.run(
        [sys.executable, str(HERE / "topology.py"), "child", kind, str(nodes), *extra],
        capture_output=True, text=True, check=True, timeout=900,
    ).stdout  # fmt: skip
    return float(json.loads(out)["elapsed_s"])


def scenario(nodes: int = NODES, runs: int = 3) -> dict[str, dict[str, float]]:
    """Seconds and milliseconds per link of each contender (best of ``runs``)."""
    links = len(plan(nodes))
    with tempfile.TemporaryDirectory(prefix="pwbt") as tmp:
        path = os.path.join(tmp, "lab.json")
        topology_file(nodes, path)
        contenders = {
            "pipework up": lambda: _child("pipework", nodes, path),
            "raw netlink floor": lambda: _child("floor", nodes),
            "create-then-move (netlink)": lambda: _child("move-netlink", nodes),
            "create-then-move (ip -batch)": lambda: _move_ip_batch(nodes),
        }
        seconds: dict[str, list[float]] = {name: [] for name in contenders}
        try:
            order = list(contenders)
            for turn in range(runs):  # each run in another order: drift hits all alike
                for name in order[turn % len(order) :] + order[: turn % len(order)]:
                    _fresh(nodes)
                    seconds[name].append(contenders[name]())
        finally:
            _ip_batch([f"netns del {n}" for n in names(nodes)], check=False)
    return {
        name: {"seconds": min(v), "ms_per_link": 1000 * min(v) / links, "links": links}
        for name, v in seconds.items()
    }


def targets(r: dict[str, dict[str, float]]) -> dict[str, dict[str, object]]:
    pw = r["pipework up"]["seconds"]
    move = r["create-then-move (ip -batch)"]["seconds"]
    floor = r["raw netlink floor"]["seconds"]
    return {
        "create-then-move / pipework up >= 10": {
            "value": round(move / pw, 2), "ok": move / pw >= 10,
        },
        "pipework up / raw netlink floor <= 1.3": {
            "value": round(pw / floor, 2), "ok": pw / floor <= 1.3,
        },
    }  # fmt: skip


def markdown(r: dict[str, dict[str, float]]) -> str:
    pw = r["pipework up"]["seconds"]
    links = int(next(iter(r.values()))["links"])
    lines = [
        f"### Topology: up of {links // 2} netns nodes, {links} point-to-point links",
        "",
        "| contender | total (s) | per link (ms) | x pipework up |",
        "|---|---:|---:|---:|",
    ]
    for name, v in r.items():
        lines.append(
            f"| {name} | {v['seconds']:.3f} | {v['ms_per_link']:.3f} | {v['seconds'] / pw:.2f} |"
        )
    lines.append("")
    for name, t in targets(r).items():
        lines.append(f"- {name}: {t['value']} ({'met' if t['ok'] else 'NOT met'})")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2:])
    result = scenario()
    print(markdown(result))
