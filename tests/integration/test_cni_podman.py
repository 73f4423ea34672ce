"""Real Podman (Debian's 4.3, runc) with its CNI backend running pipework as a CNI plugin.

Podman is pointed at a plugin directory holding ``pipework cni install``'s launcher and
at a directory of conflists by a containers.conf named in ``CONTAINERS_CONF``; its state
(``--root``, ``--runroot``, ``tmp_dir``) is private to this module, with an image
imported from the host's busybox-static (never pulled), so nothing here touches the
containers and images of the other Podman tests.

What this proves, each through effects seen in the kernel and in host-local's files:

- Podman loads a ``"type": "pipework"`` network: libcni validates every plugin of a
  conflist with VERSION before using it, run with ``CNI_NETNS=dummy``,
  ``CNI_IFNAME=dummy`` and ``CNI_PATH=dummy``.
- ``podman run --network NAME`` runs ADD (``CNI_NETNS=/run/netns/netns-UUID``): the
  container has the address (the one ``podman inspect`` reports, so Podman read the
  1.0.0 result), pings a second container of the network, and the host end of its
  veth carries pipework's ``cni:NETWORK/CONTAINERID`` mark; with IPAM delegated to
  host-local, with pipework's built-in IPAM, and as a macvlan on a NIC.
- ``podman stop`` runs DEL (``podman rm`` of a stopped container runs nothing more):
  the host end, the reservation and Podman's own netns file and libcni cache go.
- ``podman network reload`` runs DEL then ADD in the same netns, with
  ``CNI_ARGS`` ``MAC=`` and ``IP=`` naming what the container had, and the container
  keeps both; ``podman restart`` runs DEL then ADD in a new netns.
- Podman 4.3 never runs CHECK: its CNI backend (containers/common libnetwork/cni) has
  Setup and Teardown only, and a container's whole life (run with a healthcheck,
  ``healthcheck run``, exec, inspect, ``network reload``, restart, stop, rm) shows
  VERSION, ADD and DEL alone. test_cni_conformance.py runs CHECK directly.

The commands Podman sends are recorded by a tap: a second plugin directory whose
``pipework`` is a two-line shell script that notes ``CNI_COMMAND`` and execs the
launcher unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import PIPEWORK, Cleanup, link, require, sh, unique, wait_until
from .test_runtime_podman import RUN, _busybox_tar

IMAGE = "localhost/pwt-busybox:cni"
#: test_runtime_podman's run flags (never pull, runc, NET_RAW, the ulimits this host
#: allows) without its --network none: each test names its CNI network
RUN_ARGS = [a for i, a in enumerate(RUN) if a != "--network" and RUN[i - 1] != "--network"]
LIBCNI_CACHE = Path("/var/lib/cni/results")
HOSTLOCAL = Path(__file__).resolve().parents[2] / "src" / "pipework" / "cni" / "hostlocal.py"
IPAMS = ["host-local", "pipework"]


@dataclass
class CniPodman:
    """Podman with private state, its CNI backend reading ``netdir``."""

    base: Path
    netdir: Path
    conf: Path
    tapped_conf: Path
    tap_log: Path

    def argv(self) -> list[str]:
        return ["podman", "--root", str(self.base / "root"), "--runroot",
                str(self.base / "runroot")]  # fmt: skip

    def __call__(
        self, *args: str, check: bool = True, tapped: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, CONTAINERS_CONF=str(self.tapped_conf if tapped else self.conf))
        return sh(*self.argv(), *args, check=check, env=env, timeout=timeout)

    def commands(self) -> list[str]:
        """The CNI_COMMANDs the tap saw since the last call (and forgets them)."""
        try:
            seen = self.tap_log.read_text().split()
        except FileNotFoundError:
            return []
        self.tap_log.unlink()
        return seen


def _containers_conf(path: Path, plugin_dir: Path, netdir: Path, tmp: Path) -> None:
    path.write_text(
        "[network]\n"
        'network_backend = "cni"\n'
        f'cni_plugin_dirs = ["{plugin_dir}", "/usr/lib/cni"]\n'
        f'network_config_dir = "{netdir}"\n'
        "[engine]\n"
        f'tmp_dir = "{tmp}"\n'
    )


@pytest.fixture(scope="module")
def cni_podman() -> Iterator[CniPodman]:
    require(shutil.which("podman"), "podman is not installed (scripts/test installs it)")
    require(os.path.exists("/bin/busybox"), "busybox-static is not installed")
    require(os.path.exists("/usr/lib/cni/host-local"), "containernetworking-plugins missing")
    base = Path(tempfile.mkdtemp(prefix="pwt-cni-podman-", dir="/tmp"))  # runroot: < 50 bytes
    bindir, tapdir, netdir = base / "bin", base / "tap", base / "net"
    for d in (bindir, tapdir, netdir, base / "tmp"):
        d.mkdir()
    res = subprocess.run([PIPEWORK, "cni", "install", "--dir", str(bindir)],
                         capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr
    tap_log = base / "commands"
    tap = tapdir / "pipework"
    tap.write_text(f'#!/bin/sh\necho "$CNI_COMMAND" >> {tap_log}\nexec {bindir / "pipework"}\n')
    tap.chmod(0o755)
    pm = CniPodman(base, netdir, base / "containers.conf", base / "tapped.conf", tap_log)
    _containers_conf(pm.conf, bindir, netdir, base / "tmp")
    _containers_conf(pm.tapped_conf, tapdir, netdir, base / "tmp")
    try:
        tar = base / "busybox.tar"
        tar.write_bytes(_busybox_tar())
        res = pm("import", str(tar), IMAGE, check=False)
        assert res.returncode == 0, res.stderr
        yield pm
    finally:
        pm("rm", "-a", "-f", "-t", "0", check=False)
        # removes the private root, runroot and tmp_dir (and unmounts what it mounted)
        pm("system", "reset", "-f", check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def network(cni_podman: CniPodman, cleanup: Cleanup) -> Callable[[dict[str, object]], str]:
    """Save one plugin's configuration as a 1.0.0 conflist; the file goes after the test."""

    def save(plugin: dict[str, object]) -> str:
        name = unique("pwtnet")
        path = cni_podman.netdir / f"{name}.conflist"
        cleanup.add(f"conflist {path}", lambda: path.unlink(missing_ok=True))
        path.write_text(
            json.dumps({"cniVersion": "1.0.0", "name": name, "plugins": [plugin]}, indent=1)
        )
        return name

    return save


@pytest.fixture
def data_dir(tmp_path: Path, cleanup: Cleanup) -> str:
    """An IPAM dataDir, removed after the test whatever it holds."""
    path = tmp_path / "ipam"
    cleanup.add(f"dataDir {path}", lambda: shutil.rmtree(path, ignore_errors=True))
    return str(path)


@pytest.fixture
def run(cni_podman: CniPodman, cleanup: Cleanup) -> Callable[..., str]:
    """``podman run -d --network NETWORK``; the container is removed after the test."""

    def start(net: str, *extra: str, tapped: bool = False) -> str:
        name = unique("pwt-cp")
        cleanup.add(f"podman {name}", lambda: cni_podman("rm", "-f", "-t", "0", name, check=False))
        res = cni_podman("run", "-d", *RUN_ARGS, "--network", net, "--name", name, *extra,
                         IMAGE, "/bin/sleep", "600", check=False, tapped=tapped)  # fmt: skip
        assert res.returncode == 0, f"podman run --network {net}: {res.stderr}"
        return name

    return start


def host_local(subnet: str, data_dir: str) -> dict[str, object]:
    return {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": data_dir}


def ipam_of(kind: str, subnet: str, data_dir: str) -> dict[str, object]:
    """Delegated host-local, or pipework's built-in IPAM on host-local's files."""
    if kind == "pipework":
        require(HOSTLOCAL.exists(), f"pipework's built-in IPAM ({HOSTLOCAL}) is not there yet")
    return {"type": kind, "ranges": [[{"subnet": subnet}]], "dataDir": data_dir}


def inspect(pm: CniPodman, name: str, template: str) -> str:
    return pm("inspect", "-f", template, name).stdout.strip()


def container_ipv4(pm: CniPodman, name: str, ifname: str = "eth0") -> list[str]:
    """The container's global IPv4 addresses on ``ifname``, seen from inside it."""
    out = pm("exec", name, "ip", "-o", "-4", "addr", "show", ifname, check=False).stdout
    return [f.split()[3] for f in out.splitlines() if " scope global" in f]


def podman_ip(pm: CniPodman, name: str, net: str) -> str:
    return inspect(pm, name, f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}')


def marked(net: str, cid: str | None = None) -> list[dict[str, object]]:
    """Host links whose alias is pipework's CNI mark for ``net`` (and container ``cid``)."""
    label = f"pipework guest=cni:{net}/{cid or ''}"
    data = json.loads(sh("ip", "-j", "-d", "link", "show").stdout)
    return [entry for entry in data if str(entry.get("ifalias", "")).startswith(label)]


def reservations(data_dir: str, net: str) -> dict[str, str]:
    """host-local's reserved IPs of ``net``: IP -> the container ID in its file."""
    store = Path(data_dir) / net
    if not store.is_dir():
        return {}
    return {
        p.name: p.read_text().splitlines()[0].strip()
        for p in store.iterdir()
        if p.name[0].isdigit()
    }


def pings(pm: CniPodman, name: str, address: str) -> bool:
    res = pm("exec", name, "ping", "-c", "1", "-W", "3", address, check=False)
    return res.returncode == 0


def libcni_cached(net: str, cid: str) -> bool:
    return (LIBCNI_CACHE / f"{net}-{cid}-eth0").exists()


def test_podman_loads_a_pipework_network(cni_podman, network, bridge_name, data_dir):
    # libcni asks every plugin VERSION before it lists the network, with the
    # placeholders CNI_NETNS=dummy, CNI_IFNAME=dummy, CNI_PATH=dummy
    net = network({"type": "pipework", "bridge": bridge_name(),
                   "ipam": host_local("198.51.100.0/24", data_dir)})  # fmt: skip
    res = cni_podman("network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert f"{net} pipework" in res.stdout.splitlines(), res.stderr
    assert "Error validating CNI config file" not in res.stderr, res.stderr


def test_run_gets_a_host_local_address_pings_a_peer_and_stop_removes_it(
    cni_podman, network, bridge_name, data_dir, run
):
    br = bridge_name()
    net = network({"type": "pipework", "bridge": br,
                   "ipam": host_local("198.51.100.0/24", data_dir)})  # fmt: skip
    a, b = run(net), run(net)
    cid = inspect(cni_podman, a, "{{.Id}}")
    sandbox = inspect(cni_podman, a, "{{.NetworkSettings.SandboxKey}}")
    assert sandbox.startswith("/run/netns/")
    addr = podman_ip(cni_podman, a, net)
    assert container_ipv4(cni_podman, a) == [f"{addr}/24"]
    assert addr in reservations(data_dir, net)
    assert reservations(data_dir, net)[addr] == cid
    assert pings(cni_podman, b, addr)
    host_ends = marked(net, cid)
    assert len(host_ends) == 1
    host_end = host_ends[0]
    assert host_end["master"] == br
    assert host_end["ifalias"] == (
        f"pipework guest=cni:{net}/{cid} if=eth0 ns={os.stat(sandbox).st_ino}"
    )
    assert libcni_cached(net, cid)

    cni_podman("stop", "-t", "0", a)
    assert link(str(host_end["ifname"])) is None
    assert addr not in reservations(data_dir, net)
    cni_podman("rm", a)
    assert marked(net, cid) == []
    assert not os.path.exists(sandbox)
    assert not libcni_cached(net, cid)
    # the other container's attachment is untouched
    assert len(marked(net, inspect(cni_podman, b, "{{.Id}}"))) == 1


def test_builtin_ipam_allocates_for_podman_and_stop_releases(
    cni_podman, network, bridge_name, data_dir, run
):
    br = bridge_name()
    ipam = ipam_of("pipework", "203.0.113.0/24", data_dir)
    net = network({"type": "pipework", "bridge": br, "ipam": ipam})
    a, b = run(net), run(net)
    cid = inspect(cni_podman, a, "{{.Id}}")
    addr = podman_ip(cni_podman, a, net)
    assert container_ipv4(cni_podman, a) == [f"{addr}/24"]
    assert reservations(data_dir, net)[addr] == cid
    assert pings(cni_podman, b, addr)
    [host_end] = marked(net, cid)
    assert host_end["master"] == br

    cni_podman("stop", "-t", "0", a)
    cni_podman("rm", a)
    assert link(str(host_end["ifname"])) is None
    assert addr not in reservations(data_dir, net)
    assert not libcni_cached(net, cid)


def test_macvlan_on_a_nic_for_podman_and_rm_removes_it(cni_podman, network, nic, data_dir, run):
    card = nic()
    net = network({"type": "pipework", "master": card, "mode": "bridge",
                   "ipam": host_local("192.0.2.0/24", data_dir)})  # fmt: skip
    a, b = run(net), run(net)
    cid = inspect(cni_podman, a, "{{.Id}}")
    sandbox = inspect(cni_podman, a, "{{.NetworkSettings.SandboxKey}}")
    addr = podman_ip(cni_podman, a, net)
    assert container_ipv4(cni_podman, a) == [f"{addr}/24"]
    [inside] = json.loads(
        sh("nsenter", f"--net={sandbox}", "ip", "-j", "-d", "link", "show", "eth0").stdout
    )
    assert inside["linkinfo"]["info_kind"] == "macvlan"
    assert inside["linkinfo"]["info_data"]["mode"] == "bridge"
    nic_link = link(card)
    assert nic_link is not None
    assert inside["link_index"] == nic_link["ifindex"]
    assert pings(cni_podman, b, addr)  # macvlan bridge mode: siblings on one NIC talk

    cni_podman("rm", "-f", "-t", "0", a)
    assert not os.path.exists(sandbox)
    assert addr not in reservations(data_dir, net)
    assert link(card) is not None  # the NIC itself stays
    assert not libcni_cached(net, cid)


@pytest.mark.parametrize("ipam", IPAMS)
def test_network_reload_runs_del_then_add_and_keeps_address_and_mac(
    cni_podman, network, bridge_name, data_dir, run, ipam
):
    net = network({"type": "pipework", "bridge": bridge_name(),
                   "ipam": ipam_of(ipam, "198.51.100.0/24", data_dir)})  # fmt: skip
    ct = run(net, tapped=True)
    cid = inspect(cni_podman, ct, "{{.Id}}")
    addr = podman_ip(cni_podman, ct, net)
    mac = inspect(cni_podman, ct, f'{{{{(index .NetworkSettings.Networks "{net}").MacAddress}}}}')
    assert mac
    [before] = marked(net, cid)
    cni_podman.commands()

    cni_podman("network", "reload", ct, tapped=True)
    assert [c for c in cni_podman.commands() if c != "VERSION"] == ["DEL", "ADD"]
    assert container_ipv4(cni_podman, ct) == [f"{addr}/24"]
    shown = cni_podman("exec", ct, "cat", "/sys/class/net/eth0/address").stdout.strip()
    assert shown == mac
    [after] = marked(net, cid)
    assert after["ifindex"] != before["ifindex"]  # a new veth: the old one went
    assert list(reservations(data_dir, net)) == [addr]


@pytest.mark.parametrize("ipam", IPAMS)
def test_restart_runs_del_then_add_in_a_new_netns(
    cni_podman, network, bridge_name, data_dir, run, ipam
):
    net = network({"type": "pipework", "bridge": bridge_name(),
                   "ipam": ipam_of(ipam, "198.51.100.0/24", data_dir)})  # fmt: skip
    ct = run(net, tapped=True)
    cid = inspect(cni_podman, ct, "{{.Id}}")
    old_sandbox = inspect(cni_podman, ct, "{{.NetworkSettings.SandboxKey}}")
    [before] = marked(net, cid)
    cni_podman.commands()

    cni_podman("restart", "-t", "0", ct, tapped=True)
    assert [c for c in cni_podman.commands() if c != "VERSION"] == ["DEL", "ADD"]
    sandbox = inspect(cni_podman, ct, "{{.NetworkSettings.SandboxKey}}")
    assert sandbox != old_sandbox and not os.path.exists(old_sandbox)
    addr = podman_ip(cni_podman, ct, net)
    assert container_ipv4(cni_podman, ct) == [f"{addr}/24"]
    [after] = marked(net, cid)
    assert str(after["ifalias"]).endswith(f"ns={os.stat(sandbox).st_ino}")
    assert after["ifindex"] != before["ifindex"]
    assert list(reservations(data_dir, net)) == [addr]  # the old address went back


def test_podman_never_runs_check_in_a_containers_life(
    cni_podman, network, bridge_name, data_dir, run
):
    net = network({"type": "pipework", "bridge": bridge_name(),
                   "ipam": host_local("198.51.100.0/24", data_dir)})  # fmt: skip
    cni_podman.commands()
    ct = run(net, "--health-cmd", "sleep 0", "--health-interval", "disable", tapped=True)
    seen = cni_podman.commands()
    cni_podman("healthcheck", "run", ct, tapped=True)
    cni_podman("exec", ct, "sleep", "0", tapped=True)
    cni_podman("inspect", ct, tapped=True)
    cni_podman("network", "inspect", net, tapped=True)
    seen += cni_podman.commands()
    cni_podman("network", "reload", ct, tapped=True)
    cni_podman("restart", "-t", "0", ct, tapped=True)
    cni_podman("stop", "-t", "0", ct, tapped=True)
    cni_podman("rm", ct, tapped=True)
    seen += cni_podman.commands()
    assert set(seen) == {"VERSION", "ADD", "DEL"}
    assert [c for c in seen if c != "VERSION"] == ["ADD", "DEL", "ADD", "DEL", "ADD", "DEL"]
    assert marked(net) == [] and reservations(data_dir, net) == {}


def test_time_podman_run_pipework_against_the_reference_bridge(
    cni_podman, network, bridge_name, data_dir, run
):
    """Measured, not asserted (shared hosts are noisy); interleaved so a change in
    the host's load hits both alike."""
    ours = network({"type": "pipework", "bridge": bridge_name(),
                    "ipam": host_local("198.51.100.0/24", data_dir)})  # fmt: skip
    reference = network({"type": "bridge", "bridge": bridge_name(),
                         "ipam": host_local("203.0.113.0/24", data_dir)})  # fmt: skip
    times: dict[str, list[float]] = {"pipework": [], "bridge": []}
    for _ in range(5):
        for what, net in (("pipework", ours), ("bridge", reference)):
            start = time.perf_counter()
            ct = run(net)
            times[what].append(time.perf_counter() - start)
            assert container_ipv4(cni_podman, ct)
            cni_podman("rm", "-f", "-t", "0", ct)
    wait_until(lambda: not marked(ours), 10, "the host ends to go")
    ms = {what: statistics.median(t) * 1000 for what, t in times.items()}
    print(
        "\npodman run -d, median of 5: "
        + ", ".join(
            f"{what} {v:.0f} ms (min {min(times[what]) * 1000:.0f})" for what, v in ms.items()
        )
    )
