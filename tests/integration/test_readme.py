"""The README is the user's manual: its Usage examples run as written, in order."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from .conftest import PIPEWORK, link, require, sh

README = Path(__file__).resolve().parents[2] / "README.md"
NAMES = ("demo1", "demo2")
BRIDGES = ("br1", "lab0")


def _blocks(text: str, lang: str) -> list[str]:
    """The fenced code blocks of ``text`` whose info string is ``lang``."""
    blocks: list[str] = []
    current: list[str] | None = None
    current_lang = ""
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, current_lang = [], line[3:].strip()
            else:
                if current_lang == lang:
                    blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _usage_section() -> str:
    text = README.read_text()
    return text[text.index("## Usage") : text.index("## What pipework changes")]


def _argv(line: str) -> list[str]:
    words = shlex.split(line)
    return [PIPEWORK if w == "pipework" else w for w in words]


def test_readme_usage_examples_run_as_written(cleanup):
    for name in NAMES:
        require(not Path(f"/run/netns/{name}").exists(), f"netns {name} exists; not touching it")
    for br in BRIDGES:
        require(link(br) is None, f"{br} exists on this host; not touching it")
    for br in BRIDGES:
        cleanup.add(f"bridge {br}", lambda b=br: sh("ip", "link", "del", b, check=False))
    for name in NAMES:
        cleanup.add(f"netns {name}", lambda n=name: sh("ip", "netns", "del", n, check=False))
        sh("ip", "netns", "add", name)

    section = _usage_section()
    commands = [
        line
        for block in _blocks(section, "sh")
        for line in block.splitlines()
        if line.strip() and "devenv" not in line  # the LXC example has its own test
    ]
    assert len(commands) >= 10
    for line in commands:
        res = subprocess.run(_argv(line), capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, f"README example failed: {line}\n{res.stderr}"

    # The -v transcript: same commands, whatever the namespace numbers are.
    transcript = next(b for b in _blocks(section, "") if "$ pipework -v" in b).splitlines()
    res = subprocess.run(_argv(transcript[0][2:]), capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr

    def shape(lines: list[str]) -> list[str]:
        return [re.sub(r"\d+", "N", line) for line in lines]

    assert shape(res.stderr.splitlines()) == shape(transcript[1:])

    # The error example prints what the README shows (modulo the cgroup mount point).
    error_block = next(b for b in _blocks(_readme(), "") if "$ pipework br1 nosuch" in b)
    cmd, expected = error_block.splitlines()[:2]
    res = subprocess.run(_argv(cmd[2:]), capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert res.stderr.split("lxc:")[0] == expected.split("lxc:")[0]

    # The Python API example.
    code = _blocks(_readme(), "python")[0]
    res = subprocess.run(
        [str(Path(PIPEWORK).parent / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "['192.0.2.40/24', '2001:db8::40/64']" in res.stdout


def _readme() -> str:
    return README.read_text()


def test_the_demo_command_runs_and_cleans_up():
    """`sudo scripts/demo`, the README's first command: two guests ping over a bridge."""
    root = README.parent
    for name in ("pwdemo-a", "pwdemo-b"):
        require(not Path(f"/run/netns/{name}").exists(), f"netns {name} exists; not touching it")
    require(link("brpwdemo") is None, "brpwdemo exists on this host; not touching it")
    res = subprocess.run(
        [str(root / "scripts" / "demo")], capture_output=True, text=True, timeout=600, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 packets transmitted, 3 received" in res.stdout
    assert "198.51.100.10/24" in res.stdout
    assert link("brpwdemo") is None
    assert not Path("/run/netns/pwdemo-a").exists()
