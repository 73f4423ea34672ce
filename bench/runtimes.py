"""Runtimes: a one-shot attach to a Podman and a containerd container against the same
attach to a named netns, and their lookup with many other containers present.

One-shot: ``podman:NAME``, ``containerd:NS/ID`` and the same containers by bare name,
taking turns with ``netns:NAME`` and the bare netns name (a bare name asks every runtime
on the host, so it is compared with a bare name).

Lookup: the same attaches with N other containers in the runtime's state and with none.
N real containers would take minutes to make, so the others are state entries only,
written the way the runtimes write them (entries in a copy of Podman's
``containers.json``; task directories with an ``init.pid`` of a live process beside
containerd's). The copies are bind-mounted over the real state in a private mount
namespace (``unshare -m``) of a child that runs the attaches: the runtimes' own state
is never written, and the mounts die with the child.

Run alone: ``bench.py --only runtimes``. A runtime that is not installed or not running
is skipped with a line saying why.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress

NETNS = "pwb-rtns"
PODMAN_NAME = "pwb-pm1"
PODMAN_IMAGE = "localhost/pwb-busybox:runtimes"
CTR_NS, CTR_ID = "pwb", "pwb-ct1"
PODMAN_GRAPHROOT = "/var/lib/containers/storage"
CTR_TASKS = "/run/containerd/io.containerd.runtime.v2.task"
APPLETS = ("sh", "sleep", "ip")
PODMAN_RUN = [
    "--pull",
    "never",
    "--network",
    "none",
    "--runtime",
    "runc",
    # runc's defaults are above what a host with hybrid cgroups allows a container
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
]
ONESHOT_LIMIT = 1.3
LOOKUP_LIMIT = 1.2


def sh(*argv: str, stdin: bytes | None = None, check: bool = True) -> str:
    res = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=120, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.decode().strip()[-400:]}")
    return res.stdout.decode()


def spawn_ms(argv: list[str]) -> float:
    """Wall time of one child (posix_spawn + wait4, as the other one-shot figures)."""
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, dict(os.environ))
    _pid, status, _usage = os.wait4(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({status})")
    return elapsed


def clear_ports(bridge: str) -> None:
    out = sh("ip", "-j", "link", "show", "master", bridge, check=False)
    names = [str(e["ifname"]) for e in json.loads(out)] if out.strip() else []
    if names:
        sh("ip", "-batch", "-", stdin="".join(f"link del {n}\n" for n in names).encode())


def rotate(
    runs: int, guests: list[str], attach: Callable[[str], float], between: Callable[[], None]
) -> dict[str, list[float]]:
    """Every guest once a round, the order shifted each round (drift hits all alike)."""
    times: dict[str, list[float]] = {g: [] for g in guests}
    for round_no in range(runs):
        shift = round_no % len(guests)
        for guest in guests[shift:] + guests[:shift]:
            between()
            times[guest].append(attach(guest))
    between()
    return times


def _rootfs(stack: ExitStack) -> str:
    root = tempfile.mkdtemp(prefix="pwb-rtfs-")
    stack.callback(shutil.rmtree, root, True)
    for sub in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        os.makedirs(f"{root}/{sub}")
    shutil.copy("/bin/busybox", f"{root}/bin/busybox")
    for applet in APPLETS:
        os.symlink("busybox", f"{root}/bin/{applet}")
    return root


def _podman(stack: ExitStack, rootfs: str) -> str | None:
    """Run the Podman container; its name, or None (said why)."""
    if not shutil.which("podman"):
        print("runtimes: podman skipped: podman is not installed", file=sys.stderr)
        return None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(rootfs, arcname=".")
    stack.callback(sh, "podman", "rmi", "-f", PODMAN_IMAGE, check=False)
    sh("podman", "import", "-", PODMAN_IMAGE, stdin=buf.getvalue())
    stack.callback(sh, "podman", "rm", "-f", "-t", "0", PODMAN_NAME, check=False)
    sh("podman", "run", "-d", *PODMAN_RUN, "--name", PODMAN_NAME, PODMAN_IMAGE, "/bin/sleep", "1d")
    return PODMAN_NAME


def _containerd(stack: ExitStack, rootfs: str) -> str | None:
    """Run the containerd task; its NS/ID, or None (said why)."""
    if not shutil.which("ctr"):
        print("runtimes: containerd skipped: ctr is not installed", file=sys.stderr)
        return None
    if (
        subprocess.run(["ctr", "version"], capture_output=True, timeout=20, check=False).returncode
        != 0
    ):
        print("runtimes: containerd skipped: containerd is not running", file=sys.stderr)
        return None
    ctr = ("ctr", "-n", CTR_NS)
    stack.callback(_rmdir, f"{CTR_TASKS}/{CTR_NS}")  # containerd leaves it behind, empty
    stack.callback(sh, "ctr", "namespace", "rm", CTR_NS, check=False)
    stack.callback(sh, *ctr, "c", "rm", CTR_ID, check=False)
    stack.callback(sh, *ctr, "task", "rm", "-f", CTR_ID, check=False)
    sh(*ctr, "run", "-d", "--rootfs", rootfs, CTR_ID, "/bin/sleep", "86400")
    pid_file = f"{CTR_TASKS}/{CTR_NS}/{CTR_ID}/init.pid"
    for _ in range(100):
        if os.path.exists(pid_file):
            return f"{CTR_NS}/{CTR_ID}"
        time.sleep(0.1)
    raise RuntimeError(f"containerd wrote no {pid_file}")


def _rmdir(path: str) -> None:
    with suppress(OSError):
        os.rmdir(path)


def _podman_others(stack: ExitStack, tmp: str, others: int) -> tuple[str, str]:
    """A directory with a copy of containers.json with ``others`` more entries, like the
    target's. The directory is mounted, not the file: podman replaces the file by a
    rename, which detaches a mount on it in every namespace."""
    real_dir = f"{PODMAN_GRAPHROOT}/overlay-containers"
    real = f"{real_dir}/containers.json"
    with open(real) as f:
        entries = json.load(f)
    template = next(e for e in entries if PODMAN_NAME in e.get("names", []))
    for i in range(others):
        entries.append({**template, "id": secrets.token_hex(32), "names": [f"pwb-pmo{i}"]})
    copy_dir = f"{tmp}/overlay-containers"
    os.mkdir(copy_dir, os.stat(real_dir).st_mode & 0o777)
    with open(f"{copy_dir}/containers.json", "w") as f:
        f.write(json.dumps(entries, separators=(",", ":")))  # containers/storage's layout
    os.chmod(f"{copy_dir}/containers.json", os.stat(real).st_mode & 0o777)
    return copy_dir, real_dir


def _containerd_others(stack: ExitStack, tmp: str, others: int, sleeper: int) -> tuple[str, str]:
    """A namespace directory with ``others`` more task directories, each with an
    ``init.pid`` of a live process, and a mount point for the target's own."""
    ns_dir = f"{tmp}/{CTR_NS}"
    for i in range(others):
        os.makedirs(f"{ns_dir}/pwb-cto{i}")
        with open(f"{ns_dir}/pwb-cto{i}/init.pid", "w") as f:
            f.write(str(sleeper))
    os.makedirs(f"{ns_dir}/{CTR_ID}")
    return ns_dir, f"{CTR_TASKS}/{CTR_NS}"


def scenario(runs: int, others: int, bridge: str, addr: str, pipework: str) -> dict[str, object]:
    """Both parts, everything made removed at the end (also after a failure)."""
    result: dict[str, object] = {"oneshot": {}, "lookup": {}, "skipped": []}
    with ExitStack() as stack:
        rootfs = _rootfs(stack)
        stack.callback(sh, "ip", "netns", "del", NETNS, check=False)
        sh("ip", "netns", "add", NETNS)
        guests = [f"netns:{NETNS}", NETNS]
        by_runtime: dict[str, list[str]] = {}
        for runtime, start in (("podman", _podman), ("containerd", _containerd)):
            name = start(stack, rootfs)
            if name is None:
                assert isinstance(result["skipped"], list)
                result["skipped"].append(runtime)
                continue
            by_runtime[runtime] = [f"{runtime}:{name}", name.rpartition("/")[2]]
            guests += by_runtime[runtime]
        print(f"runtimes: one-shot ({runs} runs each)…", file=sys.stderr)
        times = rotate(
            runs,
            guests,
            lambda g: spawn_ms([pipework, bridge, g, addr]),
            lambda: clear_ports(bridge),
        )
        result["oneshot"] = {g: round(statistics.median(t), 2) for g, t in times.items()}
        if not by_runtime:
            return result
        print(f"runtimes: lookup with 0 and {others} others ({runs} runs each)…", file=sys.stderr)
        tmp = tempfile.mkdtemp(prefix="pwb-rtstate-")
        stack.callback(shutil.rmtree, tmp, True)
        sleeper = subprocess.Popen(["sleep", "86400"])
        stack.callback(sleeper.wait, 10)
        stack.callback(sleeper.kill)
        mounts = []
        if "podman" in by_runtime:
            mounts.append(_podman_others(stack, tmp, others))
        if "containerd" in by_runtime:
            mounts.append(_containerd_others(stack, tmp, others, sleeper.pid))
        real_target = f"{CTR_TASKS}/{CTR_NS}/{CTR_ID}"
        config = {
            "runs": runs,
            "guests": [ref for refs in by_runtime.values() for ref in refs],
            "mounts": mounts,
            "target": [real_target, f"{tmp}/{CTR_NS}/{CTR_ID}"]
            if "containerd" in by_runtime
            else None,
            "argv": [pipework, bridge, "GUEST", addr],
            "bridge": bridge,
            "present": [
                f"{CTR_TASKS}/{CTR_NS}/{name}/init.pid"
                for name in (CTR_ID, "pwb-cto0")
                if "containerd" in by_runtime and others
            ],
            "contains": [[f"{mounts[0][1]}/containers.json", '"pwb-pmo0"']]
            if "podman" in by_runtime and others
            else [],
        }
        child = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, __file__, "lookup"],
            input=json.dumps(config).encode(),
            capture_output=True,
            timeout=3600,
            check=False,
        )
        clear_ports(bridge)
        if child.returncode != 0:
            raise RuntimeError(f"runtimes lookup child: {child.stderr.decode()[-800:]}")
        result["lookup"] = {**json.loads(child.stdout), "others": others}
    return result


def _lookup_child() -> int:
    """In a private mount namespace: the attaches with the copies mounted and without,
    round by round."""
    config = json.load(sys.stdin)
    sh("mount", "--make-rprivate", "/")
    if config["target"]:  # the real task directory inside the copy (before it is mounted)
        sh("mount", "--rbind", *config["target"])
    argv = config["argv"]
    slot = argv.index("GUEST")
    mounted = False

    def mount(on: bool) -> None:
        nonlocal mounted
        if on != mounted:
            for src, dst in config["mounts"]:
                sh(*(["mount", "--rbind", src, dst] if on else ["umount", "-R", dst]))
            mounted = on
            if on:  # the others are there, and so is the target
                for path in config["present"]:
                    if not os.path.exists(path):
                        raise RuntimeError(f"{path} is not visible through the mounts")
                for path, text in config["contains"]:
                    with open(path) as f:
                        if text not in f.read():
                            raise RuntimeError(f"{path} has no {text} through the mounts")

    def attach(guest: str) -> float:
        clear_ports(config["bridge"])
        return spawn_ms([*argv[:slot], guest, *argv[slot + 1 :]])

    phases = {"0": False, "others": True}
    guests = config["guests"]
    times: dict[str, list[float]] = {f"{p} {g}": [] for p in phases for g in guests}
    # Each round both phases, in turns (0 first, then others first: one switch a round),
    # the guests shifted within; after a switch one untimed attach of each guest, so
    # that no timed run pays for the first look through fresh mounts.
    for round_no in range(config["runs"]):
        order = list(phases) if round_no % 2 == 0 else list(reversed(phases))
        shift = round_no % len(guests)
        for phase in order:
            if phases[phase] != mounted:
                mount(phases[phase])
                for guest in guests:
                    attach(guest)
            for guest in guests[shift:] + guests[:shift]:
                times[f"{phase} {guest}"].append(attach(guest))
    out: dict[str, dict[str, float]] = {
        guest: {p: round(statistics.median(times[f"{p} {guest}"]), 2) for p in phases}
        for guest in config["guests"]
    }
    for phase, on in phases.items():  # the resolver alone: what more state entries cost
        mount(on)
        for guest in config["guests"]:
            out[guest][f"resolve {phase}"] = round(_resolve_ms(guest, config["runs"] * 2), 3)
    mount(False)
    json.dump(out, sys.stdout)
    return 0


def _resolve_ms(name: str, runs: int) -> float:
    from pipework import guests, parse_guest_ref

    ref = parse_guest_ref(name)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        guests.resolve(ref).close()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def markdown(r: dict[str, object]) -> str:
    one = r["oneshot"]
    assert isinstance(one, dict)
    lines = [
        "**Runtimes, one-shot** (median ms; a prefixed name against `netns:NAME`, "
        "a bare name against the bare netns name)",
        "",
        "| guest | median | / netns | target |",
        "| --- | ---: | ---: | --- |",
    ]
    for guest, ms in one.items():
        base = one[f"netns:{NETNS}"] if ":" in guest else one[NETNS]
        target = "" if guest.endswith(NETNS) else f"<= {ONESHOT_LIMIT}"
        lines.append(f"| {guest} | {ms:.1f} | {ms / base:.2f} | {target} |")
    look = r["lookup"]
    assert isinstance(look, dict)
    if look:
        n = look["others"]
        lines += [
            "",
            f"**Runtimes, lookup** (median ms with {n} other containers' state entries and "
            "with none)",
            "",
            f"| guest | 0 others | {n} others | ratio | target "
            f"| resolver alone, in process: 0 / {n} others |",
            "| --- | ---: | ---: | ---: | --- | ---: |",
        ]
        for guest, v in look.items():
            if guest == "others":
                continue
            lines.append(
                f"| {guest} | {v['0']:.1f} | {v['others']:.1f} | "
                f"{v['others'] / v['0']:.2f} | <= {LOOKUP_LIMIT} "
                f"| {v['resolve 0']:.2f} / {v['resolve others']:.2f} |"
            )
    for runtime in r["skipped"] or []:  # type: ignore[union-attr]
        lines.append(f"\n({runtime} skipped: not installed or not running)")
    return "\n".join(lines)


def targets(r: dict[str, object]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    one = r["oneshot"]
    look = r["lookup"]
    assert isinstance(one, dict) and isinstance(look, dict)
    for guest, ms in one.items():
        if guest.endswith(NETNS):
            continue
        base = one[f"netns:{NETNS}"] if ":" in guest else one[NETNS]
        ratio = ms / base
        out[f"one-shot {guest} / netns <= {ONESHOT_LIMIT}"] = {
            "value": round(ratio, 3),
            "limit": ONESHOT_LIMIT,
            "met": ratio <= ONESHOT_LIMIT,
        }
    for guest, v in look.items():
        if guest == "others":
            continue
        ratio = v["others"] / v["0"]
        out[f"lookup {guest} with {look['others']} others / with 0 <= {LOOKUP_LIMIT}"] = {
            "value": round(ratio, 3),
            "limit": LOOKUP_LIMIT,
            "met": ratio <= LOOKUP_LIMIT,
        }
    return out


if __name__ == "__main__" and sys.argv[1:] == ["lookup"]:
    with suppress(KeyboardInterrupt):
        sys.exit(_lookup_child())
