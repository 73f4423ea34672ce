"""CNI: ADD and DEL latency of pipework as a CNI plugin against the reference ``bridge``
plugin, the same network configuration, in the same run.

Contenders (each a runtime's invocation: the plugin run with the CNI_* environment and
the configuration on stdin, ADD then DEL, in turns run by run so drift hits all alike):

* ``bridge + host-local``: Debian's containernetworking-plugins, the anchor;
* ``pipework + host-local``: the same IPAM delegated the same way (a second process);
* ``pipework + built-in IPAM``: ``"ipam": {"type": "pipework"}``, host-local's files
  kept in process (no second process).

pipework is the plugin ``pipework cni install`` writes (its launcher starts the
interpreter with ``-IS``), run from a plugin directory as a runtime runs it.

Each contender has its own bridge, netns and IPAM data dir (``pwb…``, removed at the
end); the configuration differs only in ``type`` (and ``ipam.type``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack

CNI_DIR = "/usr/lib/cni"
SUBNETS = ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24")


def _config(kind: str, ipam: str, bridge: str, subnet: str, data_dir: str) -> bytes:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": f"pwb{bridge[-1]}",
            "type": kind,
            "bridge": bridge,
            "isDefaultGateway": True,
            "mtu": 1500,
            "ipam": {"type": ipam, "dataDir": data_dir, "ranges": [[{"subnet": subnet}]]},
        }
    ).encode()


def _run(program: str, config: bytes, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([program], input=config, capture_output=True, env=env, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{program} {env['CNI_COMMAND']} failed: {proc.stdout[-400:]!r}")
    return elapsed


def scenario(runs: int, command: str) -> dict[str, dict[str, float]]:
    """Median ADD and DEL milliseconds per contender. pipework runs as a runtime runs
    it: the plugin ``pipework cni install`` put into a plugin directory."""
    reference = os.path.join(CNI_DIR, "bridge")
    bin_dir = tempfile.mkdtemp(prefix="pwb-cnibin-")
    try:
        subprocess.run(
            [command, "cni", "install", "--dir", bin_dir], check=True, capture_output=True
        )
        return _measure(runs, reference, os.path.join(bin_dir, "pipework"))
    finally:
        shutil.rmtree(bin_dir, True)


def _measure(runs: int, reference: str, pipework: str) -> dict[str, dict[str, float]]:
    contenders = [
        ("bridge + host-local", reference, "bridge", "host-local"),
        ("pipework + host-local", pipework, "pipework", "host-local"),
        ("pipework + built-in IPAM", pipework, "pipework", "pipework"),
    ]
    samples: dict[str, dict[str, list[float]]] = {c[0]: {"add": [], "del": []} for c in contenders}
    with ExitStack() as stack:
        setups = []
        for number, (name, program, kind, ipam) in enumerate(contenders):
            bridge, netns = f"pwbcni{number}", f"pwb-cni{number}"
            data_dir = tempfile.mkdtemp(prefix="pwb-cni-")
            stack.callback(shutil.rmtree, data_dir, True)
            subprocess.run(["ip", "netns", "add", netns], check=True)
            stack.callback(subprocess.run, ["ip", "netns", "del", netns], check=False)
            stack.callback(subprocess.run, ["ip", "link", "del", bridge], check=False)
            config = _config(kind, ipam, bridge, SUBNETS[number], data_dir)
            env = {
                "PATH": os.environ.get("PATH", ""),
                "CNI_CONTAINERID": f"pwbcni{number}",
                "CNI_NETNS": f"/run/netns/{netns}",
                "CNI_IFNAME": "eth0",
                "CNI_PATH": CNI_DIR,
            }
            # one ADD/DEL first: the bridge exists from then on, as on a host in use
            _run(program, config, dict(env, CNI_COMMAND="ADD"))
            _run(program, config, dict(env, CNI_COMMAND="DEL"))
            setups.append((name, program, config, env))
        for _ in range(runs):
            for name, program, config, env in setups:
                samples[name]["add"].append(_run(program, config, dict(env, CNI_COMMAND="ADD")))
                samples[name]["del"].append(_run(program, config, dict(env, CNI_COMMAND="DEL")))
    return {
        name: {
            "add_median_ms": statistics.median(s["add"]),
            "del_median_ms": statistics.median(s["del"]),
        }
        for name, s in samples.items()
    }


def targets(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, object]]:
    anchor = rows["bridge + host-local"]
    out: dict[str, dict[str, object]] = {}
    for name, limit in (("pipework + host-local", 1.3), ("pipework + built-in IPAM", 1.0)):
        for verb in ("add", "del"):
            ratio = rows[name][f"{verb}_median_ms"] / anchor[f"{verb}_median_ms"]
            out[f"CNI {verb.upper()}: {name} / bridge + host-local <= {limit}"] = {
                "value": round(ratio, 3),
                "limit": limit,
                "met": ratio <= limit,
            }
    return out


def markdown(rows: dict[str, dict[str, float]]) -> str:
    anchor = rows["bridge + host-local"]
    lines = [
        "| CNI plugin, same netconf | ADD median (ms) | ADD ratio | DEL median (ms) | DEL ratio |",
        "|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        add, delete = row["add_median_ms"], row["del_median_ms"]
        lines.append(
            f"| {name} | {add:.1f} | {add / anchor['add_median_ms']:.2f} | "
            f"{delete:.1f} | {delete / anchor['del_median_ms']:.2f} |"
        )
    return "\n".join(lines)
