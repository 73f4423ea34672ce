"""The benchmark suite runs end to end at tiny sizes, so it cannot rot. No timing is checked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .conftest import link, require

ROOT = Path(__file__).resolve().parents[2]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"


def test_bench_quick_runs_and_reports_every_section(tmp_path):
    require(BENCH_PYTHON.exists(), "no .venv-bench (scripts/test and bench/run make it)")
    require(Path("/usr/lib/cni/bridge").exists(), "containernetworking-plugins not installed")
    require(link("brpwb0") is None, "brpwb0 exists on this host; not touching it")
    res = subprocess.run(
        [
            str(BENCH_PYTHON),
            str(ROOT / "bench" / "bench.py"),
            "--quick",
            "--runs",
            "2",
            "--sizes",
            "3,6",
            "--others",
            "4",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    for key in (
        "oneshot_netns",
        "oneshot_docker",
        "batch_seconds",
        "lookup",
        "peak_rss_kb",
        "dhcp",
        "runtimes",
        "targets",
    ):
        assert key in report
    assert "pipework dhcp (built-in client)" in report["dhcp"]
    assert "original pipework (vagrant-lxc), arping" in report["oneshot_docker"]
    assert set(report["batch_seconds"]) == {"3", "6"}
    assert "**Targets**" in res.stdout
    assert link("brpwb0") is None, "the bench removed its bridge"
    assert link("brpwbdhcp") is None, "the DHCP bench removed its bridge"


def test_bench_topology_quick_runs_and_reports(tmp_path):
    """``--only topology --quick``: 20 netns nodes, 40 links, every contender once."""
    require(BENCH_PYTHON.exists(), "no .venv-bench (scripts/test and bench/run make it)")
    require(
        not any(name.startswith("pwbt") for name in os.listdir("/run/netns")),
        "pwbt* namespaces exist on this host; not touching them",
    )
    res = subprocess.run(
        [str(BENCH_PYTHON), str(ROOT / "bench" / "bench.py"), "--only", "topology", "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert set(report["topology"]) == {
        "pipework up",
        "raw netlink floor",
        "create-then-move (netlink)",
        "create-then-move (ip -batch)",
    }
    assert all(row["links"] == 40 and row["seconds"] > 0 for row in report["topology"].values())
    assert len(report["targets"]) == 2
    assert "### Topology: up of 20 netns nodes, 40 point-to-point links" in res.stdout
    assert not any(name.startswith("pwbt") for name in os.listdir("/run/netns"))
