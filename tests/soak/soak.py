"""Soak: many attach/detach cycles with faults injected, then prove nothing was lost.

    sudo scripts/soak --cycles 1000 --minutes 30

Cycles rotate through: a clean attach and detach; the same request twice (the
second must change nothing); a netlink error injected at each step in turn;
SIGINT and SIGTERM at each step in turn; the guest killed at each step in turn;
a batch through the Python API. Every cycle checks its own outcome. At the end
the host must be as it was before: no interface, address, route, bridge port or
netns mount left over, and the pre-existing sentinel interfaces untouched.
Bounded by a cycle count and a time limit; exits 1 on any failure or leak.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent
PIPEWORK = str(BIN / "pipework")
BRIDGE = "brpwsoak"
SENTINELS = ("brpwsentinel", "pwsentinel0")


def sh(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    res = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def ip_json(*args: str) -> list[dict[str, object]]:
    out = sh("ip", "-j", *args, check=False)
    return json.loads(out) if out.strip() else []


def snapshot() -> dict[str, object]:
    return {
        "links": sorted((str(x["ifname"]), str(x.get("master", ""))) for x in ip_json("link")),
        "addresses": sorted(
            (str(x["ifname"]), f"{a['local']}/{a['prefixlen']}")
            for x in ip_json("addr")
            for a in x.get("addr_info", [])  # type: ignore[attr-defined]
            if not str(a["local"]).startswith("fe80:")
        ),
        "routes": sorted(
            json.dumps({k: v for k, v in r.items() if k != "flags"}, sort_keys=True)
            for r in ip_json("route", "show", "table", "all")
            if not str(r.get("dst", "")).startswith(("fe80:", "ff00:"))
        ),
        "netns": sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [],
    }


def sentinel_state() -> str:
    return json.dumps(
        [ip_json("-d", "link", "show", "dev", n) for n in SENTINELS]
        + [ip_json("addr", "show", "dev", "pwsentinel0")]
    )


def make_sentinels() -> None:
    sh("ip", "link", "add", "brpwsentinel", "type", "bridge")
    sh("ip", "link", "add", "pwsentinel0", "type", "veth", "peer", "name", "pwsentinel1")
    sh("ip", "link", "set", "pwsentinel0", "master", "brpwsentinel", "up")
    sh("ip", "addr", "add", "203.0.113.250/24", "dev", "pwsentinel0")


def remove_sentinels() -> None:
    for name in ("pwsentinel0", "brpwsentinel"):
        sh("ip", "link", "del", name, check=False)


class Soak:
    def __init__(self, steps: int, tmp: str) -> None:
        self.steps = steps
        self.tmp = tmp
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PIPEWORK, *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **(env or {})},
            timeout=120,
        )

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)

    def guest_clean(self, ns: str) -> bool:
        return not [x for x in ip_json("-n", ns, "link") if x["ifname"] != "lo"]

    def cycle(self, i: int) -> None:
        kind = ("plain", "again", "fault", "sigint", "sigterm", "killed", "batch")[i % 7]
        step = 1 + (i // 7) % self.steps
        self.counts[kind] += 1
        ns = f"pws-{i}"
        addr = f"198.51.100.{1 + i % 250}/24"
        sh("ip", "netns", "add", ns)
        try:
            getattr(self, f"_{kind}")(i, ns, addr, step)
        finally:
            sh("ip", "netns", "del", ns, check=False)

    def _plain(self, i: int, ns: str, addr: str, step: int) -> None:
        res = self.run(BRIDGE, ns, addr + "@198.51.100.254")
        self.expect(res.returncode == 0, f"{i} plain attach: {res.stderr.strip()}")
        self.expect(self.run("detach", ns).returncode == 0, f"{i} detach")
        self.expect(self.guest_clean(ns), f"{i} plain: guest not clean after detach")

    def _again(self, i: int, ns: str, addr: str, step: int) -> None:
        first = self.run("attach", ns, "--to", BRIDGE, "--ip", addr)
        second = self.run("attach", ns, "--to", BRIDGE, "--ip", addr)
        self.expect(first.returncode == 0 and second.returncode == 0, f"{i} again: exit codes")
        self.expect("nothing changed" in second.stdout, f"{i} again: not a no-op")
        self.expect(self.run("detach", ns).returncode == 0, f"{i} again: detach")

    def _fault(self, i: int, ns: str, addr: str, step: int) -> None:
        res = self.run(
            BRIDGE, ns, addr + "@198.51.100.254", env={"PIPEWORK_INJECT_FAULT": str(step)}
        )
        self.expect(
            res.returncode == 1 and "injected fault" in res.stderr,
            f"{i} fault at {step}: exit {res.returncode} {res.stderr.strip()}",
        )
        self.expect(self.guest_clean(ns), f"{i} fault at {step}: guest not clean")

    def _signal(self, i: int, ns: str, addr: str, step: int, signum: int) -> None:
        proc = subprocess.Popen(
            [PIPEWORK, BRIDGE, ns, addr + "@198.51.100.254"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PIPEWORK_INJECT_PAUSE": str(step)},
        )
        assert proc.stderr is not None
        line = proc.stderr.readline()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        self.expect(
            line.startswith("pipework: paused") and proc.returncode == 128 + signum,
            f"{i} signal {signum} at {step}: exit {proc.returncode} {err.strip()}",
        )
        self.expect(self.guest_clean(ns), f"{i} signal at {step}: guest not clean")

    def _sigint(self, i: int, ns: str, addr: str, step: int) -> None:
        self._signal(i, ns, addr, step, signal.SIGINT)

    def _sigterm(self, i: int, ns: str, addr: str, step: int) -> None:
        self._signal(i, ns, addr, step, signal.SIGTERM)

    def _killed(self, i: int, ns: str, addr: str, step: int) -> None:
        guest = subprocess.Popen(["unshare", "-n", "sleep", "600"])
        deadline = time.monotonic() + 10
        while not os.readlink(f"/proc/{guest.pid}/exe").endswith("/sleep"):
            if time.monotonic() > deadline:
                raise RuntimeError("unshare did not exec sleep")
            time.sleep(0.01)
        resume = os.path.join(self.tmp, f"resume-{i}")
        proc = subprocess.Popen(
            [PIPEWORK, BRIDGE, str(guest.pid), addr],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "PIPEWORK_INJECT_PAUSE": str(step),
                "PIPEWORK_INJECT_RESUME": resume,
            },
        )
        assert proc.stderr is not None
        proc.stderr.readline()
        guest.kill()
        guest.wait(10)
        Path(resume).touch()
        _, err = proc.communicate(timeout=60)
        self.expect(
            proc.returncode == 1 and "exited" in err,
            f"{i} guest killed at {step}: exit {proc.returncode} {err.strip()}",
        )
        host = f"veth1pl{guest.pid}"
        deadline = time.monotonic() + 30
        while ip_json("link", "show", "dev", host) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.expect(not ip_json("link", "show", "dev", host), f"{i} killed: {host} left behind")

    def _batch(self, i: int, ns: str, addr: str, step: int) -> None:
        code = (
            "import sys, pipework as pw\n"
            "ns, br = sys.argv[1], sys.argv[2]\n"
            "specs = [pw.AttachSpec(br, pw.parse_guest_ref('netns:' + ns),\n"
            "         pw.Addressing((pw.parse_interface(f'203.0.113.{k + 1}/24'),)),\n"
            "         container_ifname=f'b{k}') for k in range(4)]\n"
            "res = pw.attach_many(specs)\n"
            "sys.exit(sum(isinstance(r, Exception) for r in res))\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code, ns, BRIDGE], capture_output=True, text=True, check=False
        )
        self.expect(res.returncode == 0, f"{i} batch: {res.stderr.strip()}")
        done = self.run("detach", ns, "--all", "--json")
        self.expect(
            done.returncode == 0 and len(json.loads(done.stdout)["removed"]) == 4,
            f"{i} batch: detach --all",
        )


def count_steps() -> int:
    sh("ip", "netns", "add", "pws-probe")
    try:
        res = subprocess.run(
            [PIPEWORK, "-v", BRIDGE, "pws-probe", "198.51.100.1/24@198.51.100.254"],
            capture_output=True,
            text=True,
            check=True,
        )
        subprocess.run([PIPEWORK, "detach", "pws-probe"], capture_output=True, check=True)
    finally:
        sh("ip", "netns", "del", "pws-probe", check=False)
    return sum(1 for line in res.stderr.splitlines() if line.startswith("+ "))


def main() -> int:
    parser = argparse.ArgumentParser(description="pipework soak test")
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=30)
    args = parser.parse_args()
    make_sentinels()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "link", "set", BRIDGE, "up")
    try:
        before, sentinels = snapshot(), sentinel_state()
        steps = count_steps()
        deadline = time.monotonic() + args.minutes * 60
        start = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="pws-") as tmp:
            soak = Soak(steps, tmp)
            done = 0
            for i in range(args.cycles):
                if time.monotonic() > deadline:
                    break
                soak.cycle(i)
                done += 1
        elapsed = time.monotonic() - start
        settle = time.monotonic() + 30
        after = snapshot()
        while after != before and time.monotonic() < settle:  # netns teardown is async
            time.sleep(0.2)
            after = snapshot()
        leaks = {
            k: (
                sorted(set(map(str, after[k])) - set(map(str, before[k]))),  # type: ignore[call-overload]
                sorted(set(map(str, before[k])) - set(map(str, after[k]))),
            )  # type: ignore[call-overload]
            for k in before
            if after[k] != before[k]
        }
        touched = sentinel_state() != sentinels
    finally:
        sh("ip", "link", "del", BRIDGE, check=False)
        remove_sentinels()
    print(f"{done} cycles in {elapsed:.1f} s ({done / elapsed:.1f}/s), steps per attach: {steps}")
    print("cycles by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(soak.counts.items())))
    print(f"failures: {len(soak.failures)}")
    for failure in soak.failures[:20]:
        print(f"  {failure}")
    print(f"leaked or lost: {leaks or 'nothing'}")
    print(f"pre-existing interfaces touched: {'YES' if touched else 'no'}")
    return 0 if not soak.failures and not leaks and not touched else 1


if __name__ == "__main__":
    sys.exit(main())
