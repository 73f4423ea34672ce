"""Time to a DHCP lease: pipework's built-in client against udhcpc, same dnsmasq.

    sudo .venv-bench/bin/python bench/dhcp.py [--runs N]    (bench/run runs it too)

A bridge with dnsmasq (``--no-ping``) in a namespace of its own; one guest
namespace. Contenders alternate run by run, each from a guest with no interface
to one with its lease, address and default route:

- ``pipework BR GUEST dhcp``: the built-in client, the whole attach;
- ``pipework BR GUEST udhcpc``: the original's udhcpc mode, the whole attach;
- ``pipework BR GUEST 0/0``: the same attach without DHCP, so that the cost of the
  lease itself is each of the above minus this;
- ``udhcpc -q`` alone, run in the guest on an interface that is already there
  (Debian's udhcpc and its default script, which sets the address and route).

The same MAC (``U:pwb-dhcp``) every time, so every run asks dnsmasq for the same
lease. Prints a table and returns the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PIPEWORK = str(BIN / "pipework")
BRIDGE = "brpwbdhcp"
SERVER_NS, GUEST_NS = "pwb-dhcpsrv", "pwb-dhcpguest"
MAC = "U:pwb-dhcp"


def sh(*argv: str, check: bool = True) -> str:
    res = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def timed(*argv: str) -> float:
    start = time.perf_counter()
    res = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return elapsed


#: `ip netns exec` mounts this over /etc/resolv.conf, so that udhcpc's script, run
#: there below, writes it and not the host's (which it would otherwise overwrite)
GUEST_RESOLV_CONF = f"/etc/netns/{GUEST_NS}/resolv.conf"


def set_up(tmp: str) -> subprocess.Popen[bytes]:
    os.makedirs(os.path.dirname(GUEST_RESOLV_CONF), exist_ok=True)
    with open(GUEST_RESOLV_CONF, "w"):
        pass
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "link", "set", BRIDGE, "up")
    for ns in (SERVER_NS, GUEST_NS):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh(
        "ip",
        "link",
        "add",
        "pwbdhcpsrv",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        SERVER_NS,
    )
    sh("ip", "link", "set", "pwbdhcpsrv", "master", BRIDGE, "up")
    sh("ip", "-n", SERVER_NS, "addr", "add", "198.51.100.1/24", "dev", "eth0")
    sh("ip", "-n", SERVER_NS, "link", "set", "eth0", "up")
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            SERVER_NS,
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-ping",
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
            "--dhcp-authoritative",
            "--dhcp-range=198.51.100.50,198.51.100.150,255.255.255.0,1h",
            "--dhcp-option=option:router,198.51.100.1",
            f"--dhcp-leasefile={tmp}/leases",
            "--pid-file=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while ":0043 " not in sh("ip", "netns", "exec", SERVER_NS, "cat", "/proc/net/udp"):
        if time.monotonic() > deadline:
            raise RuntimeError("dnsmasq did not start")
        time.sleep(0.05)
    return server


def tear_down(server: subprocess.Popen[bytes] | None) -> None:
    if server is not None:
        server.kill()
        server.wait(timeout=10)
    for ns in (GUEST_NS, SERVER_NS):
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    shutil.rmtree(os.path.dirname(GUEST_RESOLV_CONF), ignore_errors=True)


def _detach() -> None:
    sh(PIPEWORK, "detach", GUEST_NS)


def _flush() -> None:
    sh("ip", "-n", GUEST_NS, "addr", "flush", "dev", "eth1")


def time_to_lease(runs: int) -> dict[str, dict[str, float]]:
    """Median/min/max milliseconds of each contender over ``runs`` alternating runs."""
    have_udhcpc = shutil.which("udhcpc") is not None
    samples: dict[str, list[float]] = {}
    contenders = [
        ("pipework dhcp (built-in client)", (PIPEWORK, BRIDGE, GUEST_NS, "dhcp", MAC), _detach),
        ("pipework 0/0 (no DHCP)", (PIPEWORK, BRIDGE, GUEST_NS, "0/0", MAC), _detach),
    ]
    if have_udhcpc:
        contenders.append(
            (
                "pipework udhcpc (original mode)",
                (PIPEWORK, BRIDGE, GUEST_NS, "udhcpc", MAC),
                _detach,
            )
        )
    with_tmp = f"/tmp/pwb-dhcp-{os.getpid()}"
    os.makedirs(with_tmp, exist_ok=True)
    server = None
    try:
        server = set_up(with_tmp)
        # warm-up: dnsmasq learns the MAC, the page cache the programs
        sh(*contenders[0][1])
        _detach()
        for _ in range(runs):
            for name, argv, after in contenders:
                samples.setdefault(name, []).append(timed(*argv))
                after()
            if have_udhcpc:
                sh(PIPEWORK, BRIDGE, GUEST_NS, "0/0", MAC)
                name = "udhcpc -q alone (interface already there)"
                samples.setdefault(name, []).append(
                    timed("ip", "netns", "exec", GUEST_NS, "udhcpc", "-q", "-n", "-i", "eth1")
                )
                _detach()
    finally:
        tear_down(server)
        sh("rm", "-rf", with_tmp, check=False)
    return {
        name: {
            "median_ms": round(statistics.median(ms), 2),
            "min_ms": round(min(ms), 2),
            "max_ms": round(max(ms), 2),
            "runs": len(ms),
        }
        for name, ms in samples.items()
    }


def markdown(rows: dict[str, dict[str, float]]) -> str:
    base = rows.get("pipework 0/0 (no DHCP)", {}).get("median_ms", 0.0)
    lines = [
        "| time to a lease | median ms | min | max | lease itself (minus 0/0) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in rows.items():
        extra = (
            f"{s['median_ms'] - base:.1f}"
            if name.startswith("pipework") and "0/0" not in name
            else ""
        )
        lines.append(
            f"| {name} | {s['median_ms']:.1f} | {s['min_ms']:.1f} | {s['max_ms']:.1f} | {extra} |"
        )
    builtin = rows.get("pipework dhcp (built-in client)")
    udhcpc = rows.get("pipework udhcpc (original mode)")
    if builtin and udhcpc:
        lines.append("")
        lines.append(
            f"built-in / udhcpc (whole attach): {builtin['median_ms'] / udhcpc['median_ms']:.2f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = time_to_lease(args.runs)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
