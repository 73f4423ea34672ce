"""Start-up: a one-shot attach by the single file (``pipework.pyz``) and by the installed
command, against the CNI reference ``bridge`` plugin (Go) on the same guest kind, with
the interpreter's own start in the same rotation.

Contenders, in turns run by run (the order shifts each round, so drift hits all alike),
each one process spawned the same way (posix_spawn, stdout to /dev/null):

* ``python -c pass`` — the installed command's interpreter (the bench venv's python,
  with ``site``), doing nothing;
* ``python -I -S -c pass`` — the interpreter as the .pyz starts it, doing nothing;
* ``pipework.pyz --version`` and ``installed pipework --version`` — start-up and the
  command line, no kernel work;
* ``pipework.pyz``, ``installed pipework`` and ``CNI bridge + static`` — a one-shot
  attach of a named netns to an existing bridge with one address; every attach starts
  from a guest without eth1.

The .pyz is built by scripts/build-pyz from this tree for /usr/bin/python3 (the
interpreter of the bench venv), into a temporary directory. bench/run installs the
same tree into the bench venv first; run bench.py by hand only right after it, or
the two contenders are not the same code.

    bench/run --only startup
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CNI_BRIDGE = "/usr/lib/cni/bridge"
BRIDGE = "brpwbs0"
NETNS = "pwbs-ns1"
ADDR = "198.51.100.10/24"
PYZ, INSTALLED, CNI = "pipework.pyz", "installed pipework", "CNI bridge + static"
PASS, PASS_IS = "python -c pass", "python -I -S -c pass"


def _spawn_ms(argv: list[str], env: dict[str, str], stdin: str = os.devnull) -> float:
    """Wall time of one child, which must succeed."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _pid, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter() - start) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        raise RuntimeError(f"{' '.join(argv)} failed: {res.stderr[-400:]}")
    return elapsed


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], capture_output=True, check=check)


def _clear() -> None:
    _ip("-n", NETNS, "link", "del", "eth1", check=False)


def _cni_config(directory: str) -> str:
    path = os.path.join(directory, "cni.json")
    config = {
        "cniVersion": "1.0.0",
        "name": "pwbs",
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": False,
        "ipMasq": False,
        "ipam": {"type": "static", "addresses": [{"address": ADDR}]},
    }
    Path(path).write_text(json.dumps(config))
    return path


def scenario(runs: int, installed: str) -> dict[str, dict[str, float]]:
    """Median and min milliseconds per contender; the attaches' ratios to CNI."""
    tmp = tempfile.mkdtemp(prefix="pwbs-")
    try:
        pyz = os.path.join(tmp, "pipework")  # as installed: the file copied as pipework
        subprocess.run(
            [str(HERE.parent / "scripts" / "build-pyz"), "--python", "/usr/bin/python3", pyz],
            check=True,
            capture_output=True,
        )
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("link", "set", BRIDGE, "up")
        _ip("netns", "add", NETNS)
        return _measure(runs, pyz, installed, _cni_config(tmp))
    finally:
        _clear()
        _ip("link", "del", BRIDGE, check=False)
        _ip("netns", "del", NETNS, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(runs: int, pyz: str, installed: str, cni_config: str) -> dict[str, dict[str, float]]:
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    cni_env = {
        **env,
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "pwbs",
        "CNI_NETNS": f"/run/netns/{NETNS}",
        "CNI_IFNAME": "eth1",
        "CNI_PATH": os.path.dirname(CNI_BRIDGE),
    }
    attach = [BRIDGE, f"netns:{NETNS}", ADDR]
    contenders = {
        PASS: lambda: _spawn_ms([sys.executable, "-c", "pass"], env),
        PASS_IS: lambda: _spawn_ms(["/usr/bin/python3", "-I", "-S", "-c", "pass"], env),
        f"{PYZ} --version": lambda: _spawn_ms([pyz, "--version"], env),
        f"{INSTALLED} --version": lambda: _spawn_ms([installed, "--version"], env),
        PYZ: lambda: _spawn_ms([pyz, *attach], env),
        INSTALLED: lambda: _spawn_ms([installed, *attach], env),
        CNI: lambda: _spawn_ms([CNI_BRIDGE], cni_env, stdin=cni_config),
    }
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            _clear()
            samples[name].append(contenders[name]())
    cni = statistics.median(samples[CNI])
    return {
        name: {
            "median_ms": round(statistics.median(values), 2),
            "min_ms": round(min(values), 2),
            "x_cni": round(statistics.median(values) / cni, 2),
            "runs": len(values),
        }
        for name, values in samples.items()
    }


def targets(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, object]]:
    def check(name: str, limit: float) -> dict[str, object]:
        value = rows[name]["x_cni"]
        return {"value": value, "limit": limit, "met": value <= limit}

    return {
        "one-shot attach, pipework.pyz / CNI bridge (x)": check(PYZ, 1.2),
        "one-shot attach, installed pipework / CNI bridge (x)": check(INSTALLED, 1.4),
    }


def markdown(rows: dict[str, dict[str, float]]) -> str:
    runs = next(iter(rows.values()))["runs"]
    out = [
        f"### Start-up: one-shot attach of a named netns, single file and installed ({runs} runs)",
        "",
        "| contender | median ms | min ms | x CNI |",
        "|---|---:|---:|---:|",
    ]
    out += [
        f"| {name} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['x_cni']:.2f} |"
        for name, r in rows.items()
    ]
    out += ["", "**Targets**", ""]
    for what, t in targets(rows).items():
        out.append(f"- {what}: {t['value']} (<= {t['limit']}): {'met' if t['met'] else 'MISSED'}")
    return "\n".join(out)


if __name__ == "__main__":
    result = scenario(
        int(sys.argv[1]) if len(sys.argv) > 1 else 40, str(Path(sys.executable).parent / "pipework")
    )
    print(markdown(result))
