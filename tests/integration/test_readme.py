"""The README is the user's manual: its Usage examples run as written, in order."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

from .conftest import BIN, PIPEWORK, have, link, require, sh

README = Path(__file__).resolve().parents[2] / "README.md"
NAMES = ("demo1", "demo2")
BRIDGES = ("br1", "lab0")


def _fenced(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block of ``text``, in order."""
    blocks: list[tuple[str, str]] = []
    current: list[str] | None = None
    current_lang = ""
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, current_lang = [], line[3:].strip()
            else:
                blocks.append((current_lang, "\n".join(current) + "\n"))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def _blocks(text: str, lang: str) -> list[str]:
    """The fenced code blocks of ``text`` whose info string is ``lang``."""
    return [body for info, body in _fenced(text) if info == lang]


def _usage_section() -> str:
    text = README.read_text()
    return text[text.index("## Usage") : text.index("## DHCP")]


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

    # The error example prints what the README shows: each runtime's part in the same
    # order (what each saw depends on the host: the cgroup mount, the daemons running).
    error_block = next(b for b in _blocks(_readme(), "") if "$ pipework br1 nosuch" in b)
    cmd, expected = error_block.splitlines()[:2]
    res = subprocess.run(_argv(cmd[2:]), capture_output=True, text=True, check=False)
    assert res.returncode == 1

    def runtimes(line: str) -> list[str]:
        return re.findall(r"(?:^|; )([a-z0-9]+(?: \([a-z ]+\))?):", line.split(": ", 2)[2])

    assert runtimes(res.stderr.strip()) == runtimes(expected)
    assert res.stderr.split("; check the name")[1] == expected.split("; check the name")[1] + "\n"

    # The Python API example.
    code = _blocks(_readme(), "python")[0]
    res = subprocess.run(
        [str(BIN / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "['192.0.2.40/24', '2001:db8::40/64']" in res.stdout


def _readme() -> str:
    return README.read_text()


def test_readme_dhcp_examples_run_as_written(cleanup):
    """The DHCP section: its own dnsmasq, then every mode, as written."""
    require(have("dnsmasq"), "dnsmasq is not installed")
    for name in ("dhcpsrv", "web"):
        require(not Path(f"/run/netns/{name}").exists(), f"netns {name} exists; not touching it")
    for name in ("br3", "srv0"):
        require(link(name) is None, f"{name} exists on this host; not touching it")
    pid_file = Path("/run/pwdhcp-dnsmasq.pid")
    require(not pid_file.exists(), f"{pid_file} exists; not touching it")

    def stop_dnsmasq() -> None:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        for path in (pid_file, Path("/run/pwdhcp-dnsmasq.leases")):
            path.unlink(missing_ok=True)

    cleanup.add("/etc/netns/web", lambda: shutil.rmtree("/etc/netns/web", True))
    cleanup.add("br3", lambda: sh("ip", "link", "del", "br3", check=False))
    for name in ("dhcpsrv", "web"):
        cleanup.add(f"netns {name}", lambda n=name: sh("ip", "netns", "del", n, check=False))
    cleanup.add("dnsmasq", stop_dnsmasq)

    text = _readme()
    section = text[text.index("## DHCP") : text.index("## Host-side kinds")]
    commands = [line for body in _blocks(section, "sh") for line in body.splitlines() if line]
    assert len(commands) >= 20
    for line in commands:
        res = subprocess.run(_argv(line), capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0, f"README example failed: {line}\n{res.stdout}{res.stderr}"
        if "resolv.conf" in line:
            assert "nameserver 203.0.113.1" in res.stdout


KINDS_NETNS = ("red", "blue")
KINDS_LINKS = ("nic0", "nic1", "nic2", "br2")


def run_kinds_examples(cleanup, langs: tuple[str, ...]) -> int:
    """Run the "Host-side kinds" examples in fenced blocks of ``langs``, in order;
    everything they make is removed afterwards whatever happens. Returns how many
    commands ran."""
    for name in KINDS_NETNS:
        require(not Path(f"/run/netns/{name}").exists(), f"netns {name} exists; not touching it")
    for name in KINDS_LINKS:
        require(link(name) is None, f"{name} exists on this host; not touching it")
    cleanup.add("ovs0", lambda: sh("ovs-vsctl", "--if-exists", "del-br", "ovs0", check=False))
    for name in KINDS_LINKS:
        cleanup.add(f"link {name}", lambda n=name: sh("ip", "link", "del", n, check=False))
    for name in KINDS_NETNS:
        cleanup.add(f"netns {name}", lambda n=name: sh("ip", "netns", "del", n, check=False))

    text = _readme()
    section = text[text.index("## Host-side kinds") : text.index("## What pipework changes")]
    commands = [
        line
        for info, body in _fenced(section)
        if info in langs
        for line in body.splitlines()
        if line.strip()
    ]
    for line in commands:
        res = subprocess.run(_argv(line), capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, f"README example failed: {line}\n{res.stdout}{res.stderr}"
    return len(commands)


def test_readme_kinds_examples_run_as_written(cleanup):
    """The examples of the kinds this kernel has (the stock-kernel ones: tests/kernel)."""
    require(
        sh("ovs-vsctl", "--timeout=5", "show", check=False).returncode == 0,
        "Open vSwitch is not running (scripts/test starts it)",
    )
    assert run_kinds_examples(cleanup, ("sh",)) >= 20


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
