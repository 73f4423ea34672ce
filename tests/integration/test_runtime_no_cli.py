"""No runtime CLI on the attach path (issue 11, Performance): a one-shot attach to a
guest of every runtime here starts no process an attach to a named netns does not.

pipework runs as the installed command does (``cli.main``), under a Python audit
hook that reports every process it would start (subprocess, posix_spawn, exec,
system, fork): ``ctr``, ``podman``, ``lxc``, ``machinectl`` or any other. The
guests are the runtime matrix's (test_runtime_matrix.py), named with their prefix
and, where the runtime has one, by the bare name a user would type.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import pipework
from .test_runtime_containerd import task  # noqa: F401 (fixtures, asked for by name)
from .test_runtime_lxd import lxd_container, lxd_image, lxd_pid, lxd_socket  # noqa: F401
from .test_runtime_matrix import Guest, guest  # noqa: F401
from .test_runtime_nspawn import machine  # noqa: F401
from .test_runtime_podman import podman, podman_image  # noqa: F401

ADDRESS = "198.51.100.41/24"

_AUDITED = r"""
import os, sys
def program(event, args):
    if event == "os.system":
        return str(args[0]).split()[0]
    if event == "os.spawn":  # (mode, path, argv, env)
        return os.path.basename(os.fsdecode(args[1]))
    if event in ("subprocess.Popen", "os.posix_spawn", "os.exec"):  # (path, argv, ...)
        argv = args[1] if args[1] else [args[0]]
        return os.path.basename(os.fsdecode(argv[0]))
    return event  # os.fork, os.forkpty, pty.spawn
def hook(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.system", "os.spawn",
                 "os.fork", "os.forkpty", "pty.spawn"):
        os.write(2, f"SPAWNED {program(event, args)}\n".encode())
sys.addaudithook(hook)
from pipework.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _spawned_by_attach(bridge: str, ref: str, address: str) -> set[str]:
    """The programs a one-shot attach of ``ref`` to ``bridge`` started."""
    res = subprocess.run(
        [sys.executable, "-c", _AUDITED, bridge, ref, address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return {
        line.split(" ", 1)[1] for line in res.stderr.splitlines() if line.startswith("SPAWNED ")
    }


def _bare(g: Guest) -> str:
    """The name without its prefix (and a containerd task's namespace), as a user
    would type it."""
    return g.ref.split(":", 1)[1].rsplit("/", 1)[-1]


def _attached_as_a_netns_is(g: Guest, bridge: str, ref: str, netns: str) -> None:
    """The runtime's guest costs no process a named netns does not: the host side
    may start some (with br_netfilter on, the bridge's firewall is read with
    iptables-legacy-save), the same for both."""
    baseline = _spawned_by_attach(bridge, f"netns:{netns}", "198.51.100.42/24")
    spawned = _spawned_by_attach(bridge, ref, ADDRESS)
    assert spawned == baseline, f"{ref} started {sorted(spawned - baseline)}"
    assert g.addresses() == [ADDRESS]
    assert pipework("detach", g.ref).returncode == 0
    assert g.link() is None


def test_a_prefixed_attach_starts_no_process(guest: Guest, make_bridge, make_netns):  # noqa: F811
    _attached_as_a_netns_is(guest, make_bridge(), guest.ref, make_netns())


# a pod is named with its prefix only (README, Guests); an incus: guest here is an
# LXD container asked through LXD's socket, whose bare name is LXD's
@pytest.mark.parametrize("guest", ["podman", "containerd", "nspawn", "lxd"], indirect=True)
def test_a_bare_name_attach_starts_no_process(guest: Guest, make_bridge, make_netns):  # noqa: F811
    _attached_as_a_netns_is(guest, make_bridge(), _bare(guest), make_netns())
