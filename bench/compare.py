"""A one-shot attach of this tree against the same attach by another revision.

    sudo .venv-bench/bin/python bench/compare.py REV [--rounds 60]

For work that must not slow the one-shot path (a restructuring, a new import):
both trees are installed as a user gets them (``pip install .``, byte-compiled, no
setuptools), REV from a ``git worktree`` in a temporary directory, and measured
on the same named-netns attach to a bridge:

- user-space instructions of one whole process under ``valgrind --tool=callgrind``
  (deterministic to a few instructions: the figure to compare), with ``python -c
  pass`` as the interpreter's own share;
- wall time, the two trees (first one, then the other) and ``python -c pass`` in
  turn, round after round, so that the drift of the machine hits all three alike.

Everything it makes is named ``pwc…`` and removed at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
BRIDGE = "brpwc0"


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        list(argv), check=True, capture_output=True, text=True, cwd=cwd, timeout=600
    ).stdout


def install(source: Path, venv: Path) -> Path:
    """``pip install SOURCE`` into a fresh venv; its ``pipework`` command."""
    sh("/usr/bin/python3", "-m", "venv", str(venv))
    sh(str(venv / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", str(source))
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"],
        capture_output=True,
        check=False,
    )
    return venv / "bin/pipework"


def instructions(argv: list[str]) -> float:
    """User-space instructions of one run of ``argv`` (callgrind's "Collected")."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    ).stderr
    found = re.search(r"Collected : (\d+)", out)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind: {out[-500:]}")
    return float(found.group(1))


def wall_ms(argv: list[str]) -> float:
    """Wall time of one run of ``argv``, in ms."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return (time.perf_counter() - start) * 1000


class Guests:
    """Named network namespaces pwc<n>, each attached once and removed."""

    def __init__(self) -> None:
        self.count = 0

    def attach(self, pipework: Path, measure: Callable[[list[str]], float]) -> float:
        """``measure`` the attach of a fresh guest to the bridge."""
        self.count += 1
        name = f"pwc{self.count}"
        sh("ip", "netns", "add", name)
        try:
            return measure([str(pipework), BRIDGE, name, f"198.51.100.{10 + self.count % 200}/24"])
        finally:
            sh("ip", "netns", "del", name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the revision to compare with (a commit, a tag, HEAD~3)")
    parser.add_argument("--rounds", type=int, default=60, help="wall-time rounds (default 60)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("bench/compare.py needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="pwc"))
    guests = Guests()
    try:
        sh("git", "worktree", "add", "-q", "--detach", str(work / "tree"), args.rev, cwd=TREE)
        contenders = {
            args.rev: install(work / "tree", work / "venv-rev"),
            "this tree": install(TREE, work / "venv-this"),
        }
        python = work / "venv-this/bin/python"
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "link", "set", BRIDGE, "up")
        print("user-space instructions of one one-shot attach (callgrind):")
        floor = instructions([str(python), "-c", "pass"])
        counts: dict[str, float] = {}
        for name, pipework in contenders.items():
            runs = [guests.attach(pipework, instructions) for _ in range(3)]
            counts[name] = statistics.median(runs)
            print(f"  {name:12} {counts[name] / 1e6:8.2f} M  (pipework's own: "
                  f"{(counts[name] - floor) / 1e6:.2f} M)")  # fmt: skip
        print(f"  {'python -c pass':12} {floor / 1e6:8.2f} M")
        rev, this = counts[args.rev], counts["this tree"]
        print(f"  this tree / {args.rev}: {this / rev:.4f}; pipework's own share: "
              f"{(this - floor) / (rev - floor):.4f}")  # fmt: skip
        walls: dict[str, list[float]] = {name: [] for name in [*contenders, "python -c pass"]}
        order = list(contenders.items())
        for _round in range(args.rounds):
            order.reverse()  # who goes first changes every round: no bias from the order
            for name, pipework in order:
                walls[name].append(guests.attach(pipework, wall_ms))
            walls["python -c pass"].append(wall_ms([str(python), "-c", "pass"]))
        medians = {name: statistics.median(values) for name, values in walls.items()}
        print(f"wall time, {args.rounds} alternating rounds (median ms):")
        for name, value in medians.items():
            print(f"  {name:14} {value:7.2f}")
        base = medians["python -c pass"]
        print(f"  this tree / {args.rev}: {medians['this tree'] / medians[args.rev]:.3f}; "
              f"minus python -c pass: "
              f"{(medians['this tree'] - base) / (medians[args.rev] - base):.3f}")  # fmt: skip
    finally:
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)
        for n in range(1, guests.count + 1):
            subprocess.run(["ip", "netns", "del", f"pwc{n}"], capture_output=True, check=False)
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(work / "tree")],
            cwd=TREE,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
