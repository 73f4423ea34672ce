"""pipework's benchmarks against its anchors, side by side in one run.

    sudo bench/run            # the whole suite (what the README's Performance table shows)
    sudo bench/run --quick    # tiny sizes, a few runs: a smoke test

1. One-shot latency: wall time of one process per attach, >= 20 runs each, for a
   named-netns guest and for a Docker container, against the CNI reference
   ``bridge`` + ``static`` plugins, the pipework script Debian ships in vagrant-lxc
   (with and without ``arping`` on PATH), and the kernel floor (``ip -batch``).
   Contenders alternate run by run, so drift of the machine hits them all alike;
   ``python -c pass`` runs in the same rotation as the interpreter's own floor.
2. Batch throughput: N guests through the Python API (``attach_many``) against N
   CNI invocations, a create-then-move loop (what containerlab, koko and
   ovs-docker do), the ``ip -batch`` floor, and the raw netlink floor.
3. Lookup scaling: one attach with 0 and with 1000 other containers (LXC-style
   cgroups with a process each, plus named network namespaces).
4. Peak RSS of a one-shot attach.
5. Time to a DHCP lease: the built-in client against the original's udhcpc mode
   and udhcpc alone, from the same dnsmasq (bench/dhcp.py).
6. Runtimes: a one-shot attach to a Podman and a containerd container against a
   named netns, and their lookup with 1000 other containers present
   (bench/runtimes.py; ``--only runtimes`` runs it alone).
7. CNI: ADD and DEL of pipework as a CNI plugin against the reference bridge plugin,
   host-local delegated by both, and pipework's built-in IPAM (bench/cni.py;
   ``--only cni`` runs it alone).
8. Watch: Docker's start event to the declared interface being up in the container,
   over 50 ``docker restart``s of a labelled container under ``pipework watch``,
   against ``docker restart`` itself (bench/watch.py; ``--only watch`` runs it alone).
9. Topology: ``pipework up`` of a 200-node, 400-link lab of netns nodes, per link,
   against create-then-move (ip -batch, and over netlink) and the raw netlink floor
   (bench/topology.py; ``--only topology`` runs it alone).
10. Start-up: a one-shot attach by the single file (scripts/build-pyz) and by the
   installed command against the CNI bridge plugin, with ``python -c pass`` and
   ``python -I -S -c pass`` in the same rotation (bench/startup.py; run only by
   ``--only startup``).

Prints a Markdown table and writes JSON to bench/results/. Every object it makes
is named ``pwb…`` and removed at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench/dhcp.py, run as a script or imported
import cni as cni_bench  # noqa: E402  (targets() has a local named cni)
import dhcp  # noqa: E402
import runtimes  # noqa: E402
import startup as startup_bench  # noqa: E402
import topology as topology_bench  # noqa: E402
import watch as watch_bench  # noqa: E402

BIN = Path(sys.executable).parent
PIPEWORK = str(BIN / "pipework")
PYTHON = sys.executable
CNI_DIR = "/usr/lib/cni"
BRIDGE = "brpwb0"
IMAGE = "pwb-busybox:bench"
ADDR = "198.51.100.10/24"
PREFIX_BITS = "24"

# ------------------------------------------------------------------ running things


@dataclass
class Sample:
    ms: float


def run_timed(
    argv: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None
) -> Sample:
    """Wall time and peak RSS of one child, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    _out, err = proc.communicate(stdin.encode() if stdin is not None else None)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.decode()[-400:]}")
    return Sample(elapsed)


def run_rss(argv: list[str], env: dict[str, str] | None = None) -> Sample:
    """Like run_timed (no stdin, output not captured), spawned the cheapest way."""
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env if env is not None else dict(os.environ))
    _pid, status, _usage = os.wait4(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({status})")
    return Sample(elapsed)


def peak_rss_kb(argv: list[str]) -> int:
    """The peak RSS of one run, read by GNU time.

    Not from our own wait4: a child spawned from this (large) process counts the
    parent's memory as its own peak until it execs. GNU time forks from a small
    process, so its number is the program's alone.
    """
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True
    )
    return int(res.stderr.strip().splitlines()[-1])


def sh(*argv: str, stdin: str | None = None, check: bool = True) -> str:
    res = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res.stdout


def ports(bridge: str = BRIDGE) -> list[str]:
    out = sh("ip", "-j", "link", "show", "master", bridge, check=False)
    return [str(entry["ifname"]) for entry in json.loads(out)] if out.strip() else []


def clear_ports(bridge: str = BRIDGE) -> None:
    """Delete every port of the bench bridge (each takes its guest end with it)."""
    names = ports(bridge)
    if names:
        sh("ip", "-batch", "-", stdin="".join(f"link del {n}\n" for n in names), check=False)


def cpu_busy(interval: float = 0.5) -> float:
    """The fraction of all CPUs busy over ``interval`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(interval)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def settle(limit: float = 0.05, timeout: float = 60) -> None:
    """Wait until the kernel has finished its own work (netns teardown, IPv6 timers
    of the last contender's guests) before timing the next contender."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and cpu_busy() > limit:
        pass


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def stats(samples: list[Sample]) -> dict[str, float]:
    ms = [s.ms for s in samples]
    return {
        "median_ms": round(median(ms), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
        "runs": len(ms),
    }


# ------------------------------------------------------------------ the world


@dataclass
class World:
    """Everything the bench creates, so that all of it is removed at the end."""

    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    image: bool = False
    tmp: list[str] = field(default_factory=list)

    def add_netns(self, names: list[str]) -> None:
        self.netns.extend(names)
        sh("ip", "-batch", "-", stdin="".join(f"netns add {n}\n" for n in names))

    def del_netns(self, names: list[str]) -> None:
        sh("ip", "-batch", "-", stdin="".join(f"netns del {n}\n" for n in names), check=False)
        gone = set(names)
        self.netns = [n for n in self.netns if n not in gone]

    def teardown(self) -> None:
        for proc in self.processes:
            with suppress(ProcessLookupError):
                proc.kill()
            with suppress(Exception):
                proc.wait(timeout=10)
        for path in reversed(self.cgroups):
            with suppress(OSError):
                os.rmdir(path)
        for name in self.containers:
            sh("docker", "rm", "-f", name, check=False)
        if self.image:
            sh("docker", "rmi", "-f", IMAGE, check=False)
        clear_ports()
        for name in self.links:
            sh("ip", "link", "del", name, check=False)
        if self.netns:
            self.del_netns(list(self.netns))
        for path in self.tmp:
            sh("rm", "-rf", path, check=False)


@contextmanager
def world() -> Iterator[World]:
    w = World()
    try:
        yield w
    finally:
        w.teardown()


def original_script() -> str:
    """The pipework script Debian ships in vagrant-lxc (found with dpkg -L)."""
    for line in sh("dpkg", "-L", "vagrant-lxc").splitlines():
        if line.endswith("/scripts/pipework"):
            return line
    raise RuntimeError("vagrant-lxc ships no scripts/pipework")


def path_without_arping(w: World) -> str:
    """A PATH with everything of this one but arping (the original then skips its 1 s wait)."""
    shadow = tempfile.mkdtemp(prefix="pwb-path-")
    w.tmp.append(shadow)
    dirs = [d for d in os.environ.get("PATH", "").split(":") if d]
    for d in dirs:
        with suppress(OSError):
            for entry in os.listdir(d):
                target = os.path.join(shadow, entry)
                if entry != "arping" and not os.path.exists(target):
                    os.symlink(os.path.join(d, entry), target)
    return shadow


def cni_env(netns_path: str, container: str, command: str = "ADD") -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container,
        "CNI_NETNS": netns_path,
        "CNI_IFNAME": "eth1",
        "CNI_PATH": CNI_DIR,
    }


def cni_config(address: str) -> str:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "pwb",
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": False,
            "ipMasq": False,
            "ipam": {"type": "static", "addresses": [{"address": address}]},
        }
    )


def make_bridge(w: World) -> None:
    w.links.append(BRIDGE)
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "link", "set", BRIDGE, "up")


def make_container(w: World, name: str) -> int:
    if not w.image:
        rootfs = tempfile.mkdtemp(prefix="pwb-rootfs-")
        w.tmp.append(rootfs)
        os.makedirs(f"{rootfs}/bin")
        sh("cp", "/bin/busybox", f"{rootfs}/bin/busybox")
        os.symlink("busybox", f"{rootfs}/bin/sleep")
        tar = subprocess.run(["tar", "-C", rootfs, "-c", "."], capture_output=True, check=True)
        subprocess.run(
            ["docker", "import", "-", IMAGE], input=tar.stdout, capture_output=True, check=True
        )
        w.image = True
    w.containers.append(name)
    sh(
        "docker",
        "run",
        "-d",
        "--pull",
        "never",
        "--network",
        "none",
        "--name",
        name,
        IMAGE,
        "/bin/sleep",
        "100000",
    )
    return int(sh("docker", "inspect", "-f", "{{.State.Pid}}", name).strip())


# ------------------------------------------------------------------ 1. one-shot


@dataclass
class Contender:
    name: str
    run: Callable[[], Sample]
    samples: list[Sample] = field(default_factory=list)


def oneshot(
    w: World,
    runs: int,
    label: str,
    guest: str,
    netns_name: str,
    netns_path: str,
    docker_name: str | None,
) -> list[Contender]:
    """Alternate the contenders run by run; every run starts from a bridge without ports."""
    original = original_script() if docker_name else None
    no_arping = path_without_arping(w) if docker_name else None
    contenders = [
        Contender("python -c pass (interpreter start)", lambda: run_rss([PYTHON, "-c", "pass"])),
        Contender("pipework", lambda: run_rss([PIPEWORK, BRIDGE, guest, ADDR])),
        Contender(
            "CNI bridge + static",
            lambda: run_timed(
                [f"{CNI_DIR}/bridge"], env=cni_env(netns_path, label), stdin=cni_config(ADDR)
            ),
        ),
        Contender(
            "kernel floor: ip -batch (host) + ip -n -batch (guest)",
            lambda: _ip_floor(netns_name),
        ),
    ]
    if docker_name and original:
        assert no_arping is not None
        contenders.append(
            Contender(
                "original pipework (vagrant-lxc), no arping",
                lambda: run_timed(
                    ["sh", original, BRIDGE, docker_name, ADDR],
                    env={**os.environ, "PATH": no_arping},
                ),
            )
        )
        contenders.append(
            Contender(
                "original pipework (vagrant-lxc), arping",
                lambda: run_timed(["sh", original, BRIDGE, docker_name, ADDR]),
            )
        )
    for round_no in range(runs):
        shift = round_no % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            clear_ports()
            contender.samples.append(contender.run())
    clear_ports()
    return contenders


def _ip_floor(netns_name: str) -> Sample:
    a = run_timed(
        ["ip", "-batch", "-"],
        stdin=(f"link add vpwbf0 master {BRIDGE} up type veth peer name eth1 netns {netns_name}\n"),
    )
    b = run_timed(
        ["ip", "-n", netns_name, "-batch", "-"],
        stdin=f"addr add {ADDR} dev eth1\nlink set eth1 up\n",
    )
    return Sample(a.ms + b.ms)


def rss(runs: int) -> dict[str, float]:
    """Peak RSS of one-shot attaches (netns and Docker guests) and of a bare interpreter."""
    netns, docker, bare = [], [], []
    for _ in range(max(3, runs // 4)):
        clear_ports()
        netns.append(peak_rss_kb([PIPEWORK, BRIDGE, "netns:pwb-ns1", ADDR]))
        clear_ports()
        docker.append(peak_rss_kb([PIPEWORK, BRIDGE, "pwb-dk1", ADDR]))
        bare.append(peak_rss_kb([PYTHON, "-c", "pass"]))
    clear_ports()
    return {
        "pipework_max": max(netns + docker),
        "pipework_netns_median": median(netns),
        "pipework_docker_median": median(docker),
        "python_c_pass_median": median(bare),
    }


# ------------------------------------------------------------------ 2. batch


def batch(w: World, n: int) -> dict[str, float]:
    """Seconds for N attaches, per contender, every contender from the same clean start."""
    prefix = f"pwbn{n}-"
    names = [f"{prefix}{i}" for i in range(n)]

    def fresh() -> None:
        # Dropping the namespaces takes every guest end, and so every port, with
        # them, in batches; wait for the kernel to finish before the next contender.
        w.del_netns([x for x in names if x in w.netns])
        wait_for(lambda: not ports(), 300, "the previous contender's ports to go")
        w.add_netns(names)
        settle()

    def child(kind: str) -> float:
        out = sh(PYTHON, str(HERE / "children.py"), kind, str(n), BRIDGE, prefix)
        result = json.loads(out)
        if result["failures"]:
            raise RuntimeError(
                f"{kind}: {result['failures']} attaches failed: {result.get('first_failure')}"
            )
        return float(result["elapsed_s"])

    def ip_floor() -> float:
        host = "".join(
            f"link add vpwbf{i} master {BRIDGE} up type veth peer name eth1 netns {name}\n"
            for i, name in enumerate(names)
        )
        start = time.perf_counter()
        sh("ip", "-batch", "-", stdin=host)
        for i, name in enumerate(names):
            sh(
                "ip",
                "-n",
                name,
                "-batch",
                "-",
                stdin=f"addr add {_addr(i)} dev eth1\nlink set eth1 up\n",
            )
        return time.perf_counter() - start

    def create_then_move() -> float:
        host = "".join(
            f"link add vpwbm{i} type veth peer name tpwbm{i}\n"
            f"link set tpwbm{i} netns {name}\n"
            f"link set vpwbm{i} master {BRIDGE} up\n"
            for i, name in enumerate(names)
        )
        start = time.perf_counter()
        sh("ip", "-batch", "-", stdin=host)
        for i, name in enumerate(names):
            sh(
                "ip",
                "-n",
                name,
                "-batch",
                "-",
                stdin=(
                    f"link set tpwbm{i} name eth1\naddr add {_addr(i)} dev eth1\nlink set eth1 up\n"
                ),
            )
        return time.perf_counter() - start

    def cni() -> float:
        start = time.perf_counter()
        for i, name in enumerate(names):
            run_timed(
                [f"{CNI_DIR}/bridge"],
                env=cni_env(f"/run/netns/{name}", name),
                stdin=cni_config(_addr(i)),
            )
        return time.perf_counter() - start

    contenders: list[tuple[str, Callable[[], float]]] = [
        ("pipework (Python API, attach_many)", lambda: child("pipework")),
        (
            "pipework, announce=True (a gratuitous ARP per guest)",
            lambda: child("pipework-announce"),
        ),
        ("raw netlink floor (same requests, nothing else)", lambda: child("netlink")),
        ("kernel floor: ip -batch + ip -n -batch", ip_floor),
        ("create-then-move (ip -batch)", create_then_move),
        ("CNI bridge + static, N invocations", cni),
    ]
    seconds: dict[str, float] = {}
    for name, run in contenders:
        fresh()
        seconds[name] = run()
    w.del_netns(names)
    wait_for(lambda: not ports(), 300, "the last contender's ports to go")
    return seconds


def _addr(i: int) -> str:
    return f"198.18.{i // 250}.{i % 250 + 1}/16"


# ------------------------------------------------------------------ 3. lookup scaling


def fake_lxc(w: World, name: str, own_netns: bool) -> int:
    """An LXC >= 4.0 layout for ``name`` on every hierarchy, with one process in it."""
    argv = ["unshare", "-n", "sleep", "100000"] if own_netns else ["sleep", "100000"]
    proc = subprocess.Popen(argv)
    w.processes.append(proc)
    wait_for(lambda: os.readlink(f"/proc/{proc.pid}/exe").endswith("/sleep"), 10, "exec")
    for mount in cgroup_mounts():
        path = f"{mount}/lxc.payload.{name}"
        os.mkdir(path)
        w.cgroups.append(path)
        for knob in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset wants them before tasks
            if os.path.exists(f"{path}/{knob}"):
                with open(f"{mount}/{knob}") as src, open(f"{path}/{knob}", "w") as dst:
                    dst.write(src.read().strip())
        with open(f"{path}/cgroup.procs", "w") as f:
            f.write(str(proc.pid))
    return proc.pid


def cgroup_mounts() -> list[str]:
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] in ("cgroup", "cgroup2"):
                mounts.append(fields[4])
    return mounts


def resolve_ms(name: str, runs: int) -> float:
    """The resolver alone, in this process: what scanning more containers would cost."""
    from pipework import guests, parse_guest_ref

    ref = parse_guest_ref(name)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        guests.resolve(ref).close()
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def lookup(w: World, runs: int, others: int) -> dict[str, dict[str, float]]:
    fake_lxc(w, "pwb-target", own_netns=True)
    result = {}
    for phase, count in (("0 others", 0), (f"{others} others", others)):
        if count:
            for i in range(count):
                fake_lxc(w, f"pwb-o{i}", own_netns=False)
            w.add_netns([f"pwb-o{i}" for i in range(count)])
        settle()
        samples: dict[str, list[Sample]] = {"pipework": [], "python": []}
        for _ in range(runs):
            clear_ports()
            samples["pipework"].append(run_rss([PIPEWORK, BRIDGE, "pwb-target", ADDR]))
            samples["python"].append(run_rss([PYTHON, "-c", "pass"]))
        clear_ports()
        result[phase] = {
            "pipework_median_ms": round(median([s.ms for s in samples["pipework"]]), 2),
            "python_median_ms": round(median([s.ms for s in samples["python"]]), 2),
            "resolve_in_process_median_ms": round(resolve_ms("pwb-target", runs * 2), 3),
        }
    return result


# ------------------------------------------------------------------ report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few runs (smoke)")
    parser.add_argument("--runs", type=int, help="runs per one-shot contender (default 20)")
    parser.add_argument("--sizes", help="batch sizes, comma-separated (default 100,500,1000)")
    parser.add_argument("--others", type=int, help="other containers for lookup (default 1000)")
    parser.add_argument("--out", default=str(HERE / "results"), help="where the JSON goes")
    parser.add_argument(
        "--only",
        choices=["runtimes", "cni", "watch", "topology", "startup"],
        help="run this scenario alone",
    )
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 20)
    sizes = [int(x) for x in (args.sizes or ("5,10" if args.quick else "100,500,1000")).split(",")]
    others = args.others if args.others is not None else (10 if args.quick else 1000)

    report: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": os.uname().release,
        "cpus": os.cpu_count(),
    }
    if args.only == "cni":
        report["cni"] = cni_bench.scenario(runs, PIPEWORK)
        report["targets"] = cni_bench.targets(report["cni"])  # type: ignore[arg-type]
        write(Path(args.out), report)
        print(cni_bench.markdown(report["cni"]))  # type: ignore[arg-type]
        return 0
    if args.only == "startup":
        report["startup"] = startup_bench.scenario(args.runs or (3 if args.quick else 40), PIPEWORK)
        report["targets"] = startup_bench.targets(report["startup"])  # type: ignore[arg-type]
        write(Path(args.out), report)
        print(startup_bench.markdown(report["startup"]))  # type: ignore[arg-type]
        return 0
    if args.only == "topology":
        nodes = 20 if args.quick else topology_bench.NODES
        report["topology"] = topology_bench.scenario(nodes, args.runs or (1 if args.quick else 3))
        report["targets"] = topology_bench.targets(report["topology"])  # type: ignore[arg-type]
        write(Path(args.out), report)
        print(topology_bench.markdown(report["topology"]))  # type: ignore[arg-type]
        return 0
    if args.only == "watch":
        report["watch"] = watch_bench.scenario(args.runs or (5 if args.quick else 50), PIPEWORK)
        report["targets"] = watch_bench.targets(report["watch"])  # type: ignore[arg-type]
        write(Path(args.out), report)
        print(watch_bench.markdown(report["watch"]))  # type: ignore[arg-type]
        return 0
    if args.only == "runtimes":
        with world() as w:
            make_bridge(w)
            report["runtimes"] = runtimes.scenario(runs, others, BRIDGE, ADDR, PIPEWORK)
        report["targets"] = runtimes.targets(report["runtimes"])  # type: ignore[arg-type]
        write(Path(args.out), report)
        print(runtimes.markdown(report["runtimes"]))  # type: ignore[arg-type]
        return 0
    with world() as w:
        make_bridge(w)
        w.add_netns(["pwb-ns1"])
        pid = make_container(w, "pwb-dk1")
        sh("ip", "netns", "attach", "pwb-dkns", str(pid))
        w.netns.append("pwb-dkns")
        print(f"one-shot, netns guest ({runs} runs each)…", file=sys.stderr)
        netns_rows = oneshot(
            w, runs, "pwb-ns1", "netns:pwb-ns1", "pwb-ns1", "/run/netns/pwb-ns1", None
        )
        print(f"one-shot, Docker container ({runs} runs each)…", file=sys.stderr)
        docker_rows = oneshot(
            w, runs, "pwb-dk1", "pwb-dk1", "pwb-dkns", f"/proc/{pid}/ns/net", "pwb-dk1"
        )
        report["oneshot_netns"] = {c.name: stats(c.samples) for c in netns_rows}
        report["oneshot_docker"] = {c.name: stats(c.samples) for c in docker_rows}
        report["peak_rss_kb"] = rss(runs)
        batches = {}
        for n in sizes:
            print(f"batch, N={n}…", file=sys.stderr)
            batches[str(n)] = batch(w, n)
        report["batch_seconds"] = batches
        print(f"lookup with 0 and {others} other containers…", file=sys.stderr)
        report["lookup"] = lookup(w, runs, others)
        report["runtimes"] = runtimes.scenario(runs, others, BRIDGE, ADDR, PIPEWORK)
    print(f"CNI ADD and DEL ({runs} runs each)…", file=sys.stderr)
    report["cni"] = cni_bench.scenario(runs, PIPEWORK)
    print(f"time to a DHCP lease ({runs} runs each)…", file=sys.stderr)
    report["dhcp"] = dhcp.time_to_lease(runs)
    report["targets"] = targets(report, sizes, others)
    write(Path(args.out), report)
    print(markdown(report, sizes, others))
    return 0


def write(out: Path, report: dict[str, object]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")


def targets(r: dict, sizes: list[int], others: int) -> dict[str, dict[str, object]]:
    one = r["oneshot_netns"]
    dk = r["oneshot_docker"]
    pw = one["pipework"]["median_ms"]
    cni = one["CNI bridge + static"]["median_ms"]
    orig = dk["original pipework (vagrant-lxc), arping"]["median_ms"]
    big = str(max(sizes))
    b = r["batch_seconds"][big]
    per = {k: v / max(sizes) * 1000 for k, v in b.items()}
    pw_b = per["pipework (Python API, attach_many)"]
    small = str(min(sizes))

    def growth(name: str) -> float:
        """How much one attach slows down from the smallest to the largest batch (ms)."""
        return per[name] - r["batch_seconds"][small][name] / min(sizes) * 1000

    growth_pw = growth("pipework (Python API, attach_many)")
    growth_floor = growth("kernel floor: ip -batch + ip -n -batch")
    look = r["lookup"]
    l0 = look["0 others"]["pipework_median_ms"]
    l1 = look[f"{others} others"]["pipework_median_ms"]

    def check(value: float, limit: float, better: str = "<=") -> dict[str, object]:
        ok = value <= limit if better == "<=" else value >= limit
        return {"value": round(value, 3), "limit": limit, "met": ok}

    return {
        "one-shot median (ms) <= 25": check(pw, 25),
        "one-shot / original with arping <= 1/40": check(pw / orig, 1 / 40),
        "one-shot / CNI bridge <= 3": check(pw / cni, 3),
        f"batch per attach at N={big} / ip-batch floor <= 1.25": check(
            pw_b / per["kernel floor: ip -batch + ip -n -batch"], 1.25
        ),
        f"batch per attach at N={big}: CNI / pipework >= 8": check(
            per["CNI bridge + static, N invocations"] / pw_b, 8, ">="
        ),
        f"batch slowdown N={small}->{big}, ms per attach: pipework - ip-batch floor <= 0": check(
            growth_pw - growth_floor, 0.0
        ),
        f"lookup with {others} others / with 0 <= 1.2": check(l1 / l0, 1.2),
        "peak RSS of a one-shot (MB) <= 25": check(r["peak_rss_kb"]["pipework_max"] / 1024, 25),
        **_dhcp_target(r["dhcp"], check),
        **runtimes.targets(r["runtimes"]),
        **cni_bench.targets(r["cni"]),
    }


def _dhcp_target(
    rows: dict, check: Callable[..., dict[str, object]]
) -> dict[str, dict[str, object]]:
    builtin = rows.get("pipework dhcp (built-in client)")
    udhcpc = rows.get("pipework udhcpc (original mode)")
    if not builtin or not udhcpc:
        return {}
    ratio = builtin["median_ms"] / udhcpc["median_ms"]
    return {"time to a lease: built-in client / udhcpc mode <= 1": check(ratio, 1.0)}


def markdown(r: dict, sizes: list[int], others: int) -> str:
    lines = [f"Measured {r['date']} on {r['cpus']} CPUs, kernel {r['machine']}.", ""]
    for title, key in (
        ("One-shot, named-netns guest", "oneshot_netns"),
        ("One-shot, Docker container", "oneshot_docker"),
    ):
        rows = r[key]
        base = rows["pipework"]["median_ms"]
        lines += [
            f"**{title}** (wall time of one process, ms)",
            "",
            "| contender | median | min | max | median / pipework |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, s in rows.items():
            lines.append(
                f"| {name} | {s['median_ms']:.1f} | {s['min_ms']:.1f} | {s['max_ms']:.1f} "
                f"| {s['median_ms'] / base:.2f} |"
            )
        lines.append("")
    lines += [
        "**Batch** (N attaches; ms per attach, and attaches per second)",
        "",
        "| contender | " + " | ".join(f"N={n}" for n in sizes) + " |",
        "| --- |" + " ---: |" * len(sizes),
    ]
    names = list(r["batch_seconds"][str(sizes[0])])
    for name in names:
        cells = []
        for n in sizes:
            sec = r["batch_seconds"][str(n)][name]
            cells.append(f"{sec / n * 1000:.2f} ms ({n / sec:.0f}/s)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    look = r["lookup"]
    lines += [
        "",
        "**Lookup scaling** (one-shot attach of an LXC-style guest, median ms)",
        "",
        "| containers present | pipework | python -c pass | resolver alone, in process |",
        "| --- | ---: | ---: | ---: |",
    ]
    for phase, v in look.items():
        lines.append(
            f"| {phase} | {v['pipework_median_ms']:.1f} | {v['python_median_ms']:.1f} "
            f"| {v['resolve_in_process_median_ms']:.2f} |"
        )
    rss = r["peak_rss_kb"]
    lines += [
        "",
        f"**Peak RSS** of a one-shot attach: {rss['pipework_max'] / 1024:.1f} MB at most "
        f"(medians: netns guest {rss['pipework_netns_median'] / 1024:.1f} MB, Docker container "
        f"{rss['pipework_docker_median'] / 1024:.1f} MB; python -c pass "
        f"{rss['python_c_pass_median'] / 1024:.1f} MB)",
        "",
        "**Time to a DHCP lease** (dnsmasq --no-ping in a namespace, same MAC each run)",
        "",
        dhcp.markdown(r["dhcp"]),
        "",
        runtimes.markdown(r["runtimes"]),
        "",
        "**CNI ADD and DEL** (the same netconf; host-local's files for every IPAM)",
        "",
        cni_bench.markdown(r["cni"]),
        "",
        "**Targets**",
        "",
        "| target | measured | met |",
        "| --- | ---: | --- |",
    ]
    for name, t in r["targets"].items():
        lines.append(f"| {name} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
