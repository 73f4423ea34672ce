"""docs/doctor.md's example runs as written, in a network namespace standing in for a
host whose FORWARD policy is DROP (iptables-legacy, br_netfilter on in it).

The only changes to the example: the guests' and the bridge's names (unique pwt
ones), and where it runs: each line in the "host" namespace, from a private mount
namespace whose /usr/lib/systemd/network is empty (this machine's 99-default.link
would otherwise be a finding of its own, the udev one).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from .conftest import PIPEWORK, have, in_ns, pings, require, unique

DOCS = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"


def example() -> list[str]:
    text = DOCS.read_text()
    section = text[text.index("### Example") :]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()


def test_the_example_runs_as_written(make_netns: Callable[..., str]) -> None:
    require(have("iptables-legacy") and have("unshare"), "iptables and util-linux")
    host = make_netns(unique("pwt-dd"))
    names = {"web1": make_netns(unique("pwt-w1")), "web2": make_netns(unique("pwt-w2"))}
    names["br1"] = unique("brpwt")
    in_ns(host, "iptables-legacy", "-P", "FORWARD", "DROP")
    before = rules(host)

    def run(line: str) -> subprocess.CompletedProcess[str]:
        words = [names.get(w, w) for w in shlex.split(line)]
        assert words[0] == "pipework"
        script = (
            "mount -t tmpfs pwt /usr/lib/systemd/network && "
            f'exec nsenter --net=/run/netns/{host} "$@"'
        )
        return subprocess.run(
            ["unshare", "--mount", "sh", "-c", script, "sh", PIPEWORK, *words[1:]],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    lines = example()
    assert len(lines) == 6
    first = run(lines[0])
    assert first.returncode == 0, first.stderr
    assert f"the firewall drops traffic within bridge {names['br1']}" in first.stderr
    doctor = run(lines[1])
    assert doctor.returncode == 1 and doctor.stdout.startswith("firewall: "), doctor.stdout
    assert run(lines[2]).returncode == 0
    assert pings(names["web1"], "203.0.113.12")
    clean = run(lines[3])
    assert (clean.returncode, clean.stdout) == (0, "no trap found\n"), clean.stdout
    for line in lines[4:]:
        assert run(line).returncode == 0
    assert rules(host) == before


def rules(host: str) -> list[str]:
    """The host's legacy ruleset, without the dated comments."""
    out = in_ns(host, "iptables-legacy-save").stdout
    return [line for line in out.splitlines() if not line.startswith("#")]
