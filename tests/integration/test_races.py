"""Pinning, guests that die, and many pipework processes at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from .conftest import PIPEWORK, exe_is, ip_json, link, pipework, sh, unique, wait_until


def _pid_guest(spawn) -> subprocess.Popen[str]:
    proc = spawn("unshare", "-n", "sleep", "600")
    wait_until(lambda: exe_is(proc.pid, "sleep"), 10, "exec")
    return proc


def test_a_guest_that_exits_mid_attach_gives_an_error_and_nothing_stays(
    spawn, bridge_name, tmp_path
):
    guest = _pid_guest(spawn)
    br = bridge_name()
    resume = tmp_path / "resume"
    proc = subprocess.Popen(
        [PIPEWORK, br, str(guest.pid), "198.51.100.160/24"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPEWORK_INJECT_PAUSE": "2", "PIPEWORK_INJECT_RESUME": str(resume)},
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == "pipework: paused before step 2\n"  # resolved and pinned
    guest.kill()
    guest.wait(10)
    resume.touch()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert f"pid:{guest.pid} exited while pipework was attaching it" in err
    assert link(br) is None, "the bridge this run created is gone again"
    assert link(f"veth1pl{guest.pid}") is None


def test_a_guest_that_dies_after_attach_leaves_nothing_on_the_host(spawn, make_bridge):
    guest = _pid_guest(spawn)
    br = make_bridge()
    assert pipework(br, str(guest.pid), "198.51.100.161/24").returncode == 0
    host = f"veth1pl{guest.pid}"
    assert link(host) is not None
    guest.kill()
    guest.wait(10)
    wait_until(lambda: link(host) is None, 20, "the kernel to remove the pair with the netns")
    assert ip_json("link", "show", "master", br) == []


def test_eight_processes_attach_800_guests_to_a_bridge_that_does_not_exist_yet(cleanup):
    n_proc, per_proc = 8, 100
    br = unique("brpwtc")[:15]
    names = [f"pwt-c{p}-{i}" for p in range(n_proc) for i in range(per_proc)]
    cleanup.add("bridge", lambda: sh("ip", "link", "del", br, check=False))
    cleanup.add(
        "namespaces",
        lambda: sh(
            "ip", "-batch", "-", check=False, input="".join(f"netns del {n}\n" for n in names)
        ),
    )
    sh("ip", "-batch", "-", input="".join(f"netns add {n}\n" for n in names))
    worker = (
        "import sys, pipework as pw\n"
        "p, n, br = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\n"
        "specs = [pw.AttachSpec(br, pw.parse_guest_ref(f'netns:pwt-c{p}-{i}'),\n"
        "         pw.Addressing((pw.parse_interface(f'198.18.{p}.{i + 1}/16'),)))\n"
        "         for i in range(n)]\n"
        "bad = [str(r) for r in pw.attach_many(specs) if isinstance(r, Exception)]\n"
        "print(len(bad), bad[:3])\n"
    )
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", worker, str(p), str(per_proc), br],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(n_proc)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    elapsed = time.monotonic() - start
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert out.startswith("0 "), out
    ports = ip_json("link", "show", "master", br)
    assert len(ports) == n_proc * per_proc
    assert len({p["ifname"] for p in ports}) == n_proc * per_proc
    bridges = [e for e in ip_json("-d", "link", "show", "type", "bridge") if e["ifname"] == br]
    assert len(bridges) == 1 and bridges[0].get("ifalias") == "pipework bridge"
    print(f"\n{n_proc}x{per_proc} attaches in {elapsed:.1f} s")


def test_concurrent_command_lines_onto_one_new_bridge(make_netns, cleanup):
    br = unique("brpwtd")[:15]
    cleanup.add("bridge", lambda: sh("ip", "link", "del", br, check=False))
    guests = [make_netns() for _ in range(16)]
    procs = [
        subprocess.Popen(
            [PIPEWORK, br, ns, f"198.51.100.{170 + i}/24"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, ns in enumerate(guests)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert len(ip_json("link", "show", "master", br)) == 16
