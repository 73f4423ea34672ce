"""Batch workers run as child processes of bench.py, each timing only its own loop.

    python bench/children.py pipework           N BRIDGE NETNS_PREFIX
    python bench/children.py pipework-announce  N BRIDGE NETNS_PREFIX
    python bench/children.py netlink            N BRIDGE NETNS_PREFIX

``pipework`` attaches N named-netns guests through the public Python API
(``pipework.attach_many``), ``pipework-announce`` the same with announcements
(``announce=True``); ``netlink`` does only the kernel requests of the same
attach with pipework's netlink codec and nothing else (no resolution, checks,
marks, rollback or announcements) — the in-process kernel floor. Each prints one
JSON line: {"elapsed_s": …, "failures": …}.
"""

from __future__ import annotations

import json
import os
import sys
import time


def address(i: int) -> str:
    """A distinct address per guest in 198.18.0.0/16, the range RFC 2544 sets aside
    for benchmarks (the documentation ranges hold 254 hosts each, not 1000)."""
    return f"198.18.{i // 250}.{i % 250 + 1}/16"


def run_pipework(n: int, bridge: str, prefix: str, announce: bool = False) -> dict[str, object]:
    import pipework

    start = time.perf_counter()
    specs = [
        pipework.AttachSpec(
            bridge,
            pipework.parse_guest_ref(f"netns:{prefix}{i}"),
            pipework.Addressing((pipework.parse_interface(address(i)),)),
        )
        for i in range(n)
    ]
    results = pipework.attach_many(specs, announce=announce)
    elapsed = time.perf_counter() - start
    failures = [str(r) for r in results if isinstance(r, Exception)]
    return {"elapsed_s": elapsed, "failures": len(failures), "first_failure": failures[:1]}


def run_netlink(n: int, bridge: str, prefix: str) -> dict[str, object]:
    from pipework.inet import parse_interface
    from pipework.netlink import messages as m
    from pipework.netlink.socket import NetlinkSocket
    from pipework.netns import NetNS

    start = time.perf_counter()
    with NetlinkSocket() as host:
        reply = host.request(m.get_link(bridge), op="look up", obj=bridge)
        master = m.parse_link(*reply[0][1:]).index
        for i in range(n):
            with NetNS.open(f"/run/netns/{prefix}{i}", f"{prefix}{i}") as ns:
                req = m.create_veth(f"vpwbn{i}", "eth1", peer_netns_fd=ns.fd, master=master)
                msg_type, flags, body = req
                echoed = host.request((msg_type, flags | m.NLM_F_ECHO, body), op="add", obj="veth")
                peer = m.parse_link(*echoed[0][1:]).link or 0
                iface = parse_interface(address(i))
                with NetlinkSocket.inside(ns) as guest:
                    brd = iface.broadcast()
                    guest.request(
                        m.add_address(
                            peer,
                            iface.address.af,
                            iface.address.packed,
                            iface.prefixlen,
                            broadcast=brd.packed if brd else None,
                        ),
                        op="add",
                        obj="address",
                    )
                    guest.request(m.set_link(peer, up=True), op="up", obj="eth1")
    return {"elapsed_s": time.perf_counter() - start, "failures": 0}


def main() -> None:
    kind, n, bridge, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    runners = {
        "pipework": run_pipework,
        "pipework-announce": lambda n, b, p: run_pipework(n, b, p, announce=True),
        "netlink": run_netlink,
    }
    result = runners[kind](n, bridge, prefix)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
