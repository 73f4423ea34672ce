"""Shell completion offers the host's names: bridges (Linux and OVS) where a host
interface goes, named network namespaces where a guest goes, through the real
bash and zsh running the scripts ``pipework completion`` prints."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.unit.test_cli_docs import bash_complete as bash
from tests.unit.test_cli_docs import completion_scripts
from tests.unit.test_cli_docs import zsh_complete as zsh

from pipework.cli import catalog

from .conftest import BIN, have, require, sh, unique

ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return completion_scripts(tmp_path_factory.mktemp("completion"), ENV)


def bash_complete(script: Path, *words: str) -> list[str]:
    return bash(script, *words, env=ENV)


def zsh_complete(script: Path, *words: str) -> list[str]:
    require(have("zsh"), "zsh is not installed (apt-get install zsh)")
    return zsh(script, *words, env=ENV)


def test_bash_offers_a_linux_bridge_for_attach_to(scripts, make_bridge):
    bridge = make_bridge()
    assert bridge in bash_complete(scripts["bash"], "pipework", "attach", "x", "--to", "")
    assert bash_complete(scripts["bash"], "pipework", "attach", "x", "--to", bridge[:9]) == [
        b for b in bash_complete(scripts["bash"], "pipework", "attach", "x", "--to", "")
        if b.startswith(bridge[:9])
    ]  # fmt: skip


def test_bash_offers_a_bridge_as_the_original_command_line_s_host_interface(scripts, make_bridge):
    bridge = make_bridge()
    assert bridge in bash_complete(scripts["bash"], "pipework", "")
    assert bridge in bash_complete(scripts["bash"], "pipework", "--direct-phys", "")


def test_bash_offers_an_ovs_bridge(scripts, cleanup):
    require(have("ovs-vsctl"), "Open vSwitch is not installed")
    bridge = unique("ovspwt")[:15]
    cleanup.add(f"ovs bridge {bridge}", lambda: sh("ovs-vsctl", "--if-exists", "del-br", bridge))
    sh("ovs-vsctl", "add-br", bridge)
    assert bridge in bash_complete(scripts["bash"], "pipework", "attach", "x", "--to", "")


def test_bash_offers_a_named_netns_where_a_guest_goes(scripts, make_netns, make_bridge):
    ns = make_netns()
    bridge = make_bridge()
    assert ns in bash_complete(scripts["bash"], "pipework", "attach", "")
    assert bash_complete(scripts["bash"], "pipework", "inspect", ns) == [ns]
    assert ns in bash_complete(scripts["bash"], "pipework", "link", ns, "")
    # the original command line: the guest after the host interface and its options
    assert ns in bash_complete(scripts["bash"], "pipework", bridge, "-i", "eth1", "")
    assert ns in bash_complete(scripts["bash"], "pipework", "route", "")


def test_bash_completes_a_guest_after_a_runtime_prefix_split_at_the_colon(scripts, make_netns):
    ns = make_netns()
    # bash splits "netns:pwt…" into "netns" ":" "pwt…" and replaces the last part only
    assert bash_complete(scripts["bash"], "pipework", "inspect", "netns", ":", ns[:6]) == [
        n for n in bash_complete(scripts["bash"], "pipework", "inspect", ns[:6])
    ]
    assert ns in bash_complete(scripts["bash"], "pipework", "inspect", "netns", ":", "")


def test_zsh_offers_bridges_and_netns_with_what_they_are(scripts, make_netns, make_bridge):
    ns = make_netns()
    bridge = make_bridge()
    assert f"{bridge}:Linux bridge" in zsh_complete(
        scripts["zsh"], "pipework", "attach", "x", "--to", ""
    )
    assert zsh_complete(scripts["zsh"], "pipework", "attach", ns) == [f"{ns}:network namespace"]


def test_the_pyz_completes_every_verb_and_prints_the_manual(tmp_path):
    """In the single-file build the catalogue reads main.py from inside the zip."""
    build = Path(__file__).resolve().parents[2] / "scripts" / "build-pyz"
    require(build.exists(), "scripts/build-pyz is not in this tree")
    pyz = tmp_path / "pipework"
    subprocess.run([sys.executable, str(build), str(pyz)], check=True, capture_output=True)
    env = {**ENV, "PATH": f"{tmp_path}:{ENV['PATH']}"}
    from_pyz = bash(completion_scripts(tmp_path, env)["bash"], "pipework", "", env=env)
    assert set(catalog.verb_names()) <= set(from_pyz)
    assert bash(completion_scripts(tmp_path, env)["bash"], "pipework", "cni", "", env=env) == [
        "install", "uninstall",
    ]  # fmt: skip
    page = subprocess.run([str(pyz), "man"], capture_output=True, text=True, check=True).stdout
    assert (
        page
        == subprocess.run(
            ["pipework", "man"], capture_output=True, text=True, env=ENV, check=True
        ).stdout
    )


def _zsh_tab(fpath: Path, typed: str, expect: str) -> str:
    """What an interactive zsh (compinit, our file autoloaded from ``fpath``) shows
    after ``typed`` and a TAB, read until ``expect`` appears or 5 s pass."""
    env = {**ENV, "TERM": "dumb", "HOME": str(fpath)}
    fd, tty = pty.openpty()
    shell = subprocess.Popen(
        ["zsh", "-f", "-i"], stdin=tty, stdout=tty, stderr=tty, env=env, start_new_session=True
    )
    os.close(tty)
    shown = b""
    try:
        setup = f"PS1='> '; fpath=({fpath} $fpath); autoload -U compinit; compinit -u -D\n"
        os.write(fd, setup.encode())
        os.write(fd, typed.encode() + b"\t")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and expect.encode() not in shown.split(b"\n")[-1]:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    shown += os.read(fd, 65536)
                except OSError:
                    break
    finally:
        shell.kill()
        shell.wait(timeout=10)
        os.close(fd)
    return shown.decode(errors="replace").split("\n")[-1]


def test_an_interactive_zsh_completes_a_netns_through_the_installed_file(tmp_path, make_netns):
    require(have("zsh"), "zsh is not installed (apt-get install zsh)")
    ns = make_netns()
    res = subprocess.run(
        ["pipework", "completion", "install", "--shell", "zsh", "--dir", str(tmp_path)],
        capture_output=True, text=True, env=ENV, check=True,
    )  # fmt: skip
    assert res.stdout == f"installed {tmp_path}/_pipework\n"
    line = _zsh_tab(tmp_path, f"pipework inspect {ns[:-1]}", f"inspect {ns} ")
    assert line.endswith(f"pipework inspect {ns} "), line
    line = _zsh_tab(tmp_path, "pipework attach x --ifn", "--ifname ")
    assert line.endswith("pipework attach x --ifname "), line
