"""The benchmark suite runs end to end at tiny sizes, so it cannot rot. No timing is checked."""

from __future__ import annotations

import json
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
