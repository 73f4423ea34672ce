"""The soak script at a reduced count, so that it runs in CI (the full run: scripts/soak)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[1] / "soak" / "soak.py"


def test_soak_at_reduced_count_loses_nothing():
    res = subprocess.run(
        [sys.executable, str(SOAK), "--cycles", "70", "--minutes", "5"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(res.stdout)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "failures: 0" in res.stdout
    assert "leaked or lost: nothing" in res.stdout
    assert "pre-existing interfaces touched: no" in res.stdout
