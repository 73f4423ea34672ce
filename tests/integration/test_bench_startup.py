"""``bench.py --only startup --quick`` runs end to end and reports every contender and
both targets, leaving nothing behind. No timing is checked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .conftest import link, require

ROOT = Path(__file__).resolve().parents[2]
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"


def test_bench_startup_quick_runs_and_reports(tmp_path):
    require(BENCH_PYTHON.exists(), "no .venv-bench (scripts/test and bench/run make it)")
    require(os.path.exists("/usr/lib/cni/bridge"), "containernetworking-plugins not installed")
    require(link("brpwbs0") is None, "brpwbs0 exists on this host; not touching it")
    res = subprocess.run(
        [str(BENCH_PYTHON), str(ROOT / "bench" / "bench.py"), "--only", "startup", "--quick",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((tmp_path / "latest.json").read_text())["startup"]
    assert set(rows) == {
        "python -c pass",
        "python -I -S -c pass",
        "pipework.pyz --version",
        "installed pipework --version",
        "pipework.pyz",
        "installed pipework",
        "CNI bridge + static",
    }
    assert all(r["runs"] == 3 and r["median_ms"] > 0 for r in rows.values())
    assert rows["CNI bridge + static"]["x_cni"] == 1.0
    assert "pipework.pyz / CNI bridge" in res.stdout
    assert link("brpwbs0") is None
    assert not os.path.exists("/run/netns/pwbs-ns1")
