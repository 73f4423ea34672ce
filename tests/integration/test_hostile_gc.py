"""``pipework gc`` in a hostile or busy host (issue 10, items 6 and 7).

gc removes only what pipework made: an OVS port is pipework's when its external-ids
have pipework's keys exactly (never a value or another key that contains the text),
and a bridge when it carries pipework's creation mark exactly, has no port and
nobody configured it. One failure does not stop the rest, and a bridge an attach
is about to use is never pulled from under it. Open vSwitch here has no kernel
datapath: its bridges use the userspace one (datapath_type=netdev).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from .conftest import (
    PIPEWORK,
    ip_json,
    link,
    ovs_ports,
    pipework,
    require,
    sh,
    unique,
    wait_until,
)

MARK = "pipework bridge"


def _netdev_bridge(ovs_bridge) -> str:
    name = str(ovs_bridge())
    sh("ovs-vsctl", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
    return name


def _gc_json(netns: str | None = None, **env: str) -> tuple[int, dict[str, list[str]], str]:
    """``pipework gc --json``, or ``ip netns exec NETNS pipework gc --json``."""
    if netns is None:
        res = pipework("gc", "--json", env=env or None)
    else:
        res = sh("ip", "netns", "exec", netns, PIPEWORK, "gc", "--json", check=False)
    report = json.loads(res.stdout) if res.stdout.strip() else {}
    for key in ("removed", "bridges", "failed"):
        report.setdefault(key, [])
    return res.returncode, report, res.stderr


def _port_of(bridge: str, ns: str) -> str:
    """The OVS port pipework added for the guest ``ns`` (its external-ids name it)."""
    for port in ovs_ports(bridge):
        ids = sh("ovs-vsctl", "get", "interface", port, "external-ids").stdout
        if ns in ids:
            return port
    raise AssertionError(f"no port of {ns} on {bridge}")


def _attached_then_gone(bridge: str, make_netns, *addresses: str) -> list[str]:
    """Attach a guest per address to ``bridge``, then let them all go: their OVS ports
    outlive them. (All are attached before any goes: a namespace's inode, and with it
    the host veth's name, is reused as soon as it is free.)"""
    guests = []
    for address in addresses:
        ns = make_netns()
        res = pipework(bridge, ns, address)
        assert res.returncode == 0, res.stderr
        guests.append((ns, _port_of(bridge, ns)))
    for ns, port in guests:
        sh("ip", "netns", "del", ns)
        wait_until(lambda p=port: link(p) is None, 10, "the veth to go with its namespace")
    return [port for _ns, port in guests]


def _mine(items: list[str], *names: str) -> list[str]:
    """The entries of a gc report about our own objects (others' tests run meanwhile)."""
    return sorted(i for i in items if any(i == n or i.startswith(f"{n}:") for n in names))


# --- item 6: OVS ports -------------------------------------------------------------


# Ports on the same bridge, with no interface behind them (as a stale port), whose
# external-ids contain pipework's keys as text but are not pipework's keys.
LOOKALIKES = {
    "pwtlkvalue": ['external-ids:note="pipework.bridge={br}"'],
    "pwtlkprefix": [
        'external-ids:"xpipework.bridge"="{br}"',
        "external-ids:xpipework.interface=eth1",
    ],
    "pwtlksuffix": [
        'external-ids:"pipework.bridgex"="{br}"',
        "external-ids:pipework.interfacex=eth1",
    ],
    "pwtlkcomma": [
        'external-ids:"a, pipework.bridge"="{br}"',
        'external-ids:note="x, pipework.interface=eth1, pipework.bridge={br}"',
    ],
    "pwtlkquote": ['external-ids:"pipework.bridge=\\"{br}\\""="pipework.interface=eth1"'],
}


def test_gc_removes_pipework_ports_whose_guest_is_gone_and_no_lookalike(make_netns, ovs_bridge):
    br = _netdev_bridge(ovs_bridge)
    alive = make_netns()
    assert pipework(br, alive, "203.0.113.51/24").returncode == 0
    alive_port = _port_of(br, alive)
    (gone,) = _attached_then_gone(br, make_netns, "203.0.113.52/24")
    for name, ids in LOOKALIKES.items():
        sh("ovs-vsctl", "add-port", br, name, "--", "set", "interface", name,
           *(i.format(br=br) for i in ids))  # fmt: skip
    for name in LOOKALIKES:  # no such device: OVS could not open them, as a stale port
        ofport = sh("ovs-vsctl", "get", "interface", name, "ofport").stdout.strip()
        assert ofport in ("-1", "[]"), (name, ofport)

    code, report, err = _gc_json()
    assert code == 0, err
    assert _mine(report["removed"], br) == [f"{br}:{gone}"]
    assert sorted(ovs_ports(br)) == sorted([alive_port, *LOOKALIKES])
    # the lookalikes' external-ids are untouched, read back exactly
    got = sh("ovs-vsctl", "get", "interface", "pwtlkcomma", "external-ids").stdout
    assert f'"a, pipework.bridge"={br},' in got, got


def test_one_failing_del_port_does_not_stop_the_others(make_netns, ovs_bridge, tmp_path):
    br = _netdev_bridge(ovs_bridge)
    failing, other = _attached_then_gone(br, make_netns, "203.0.113.61/24", "203.0.113.62/24")
    # ovs-vsctl as pipework finds it on PATH: it refuses to remove the one port
    real = shutil.which("ovs-vsctl")
    assert real is not None
    wrapper = tmp_path / "bin" / "ovs-vsctl"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" del-port "*" {failing} "*)\n'
        '  echo "ovs-vsctl: transaction error: simulated refusal" >&2; exit 1;;\n'
        "esac\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    path = f"{wrapper.parent}:{os.environ['PATH']}"

    code, report, err = _gc_json(PATH=path)
    assert code == 1, err
    assert _mine(report["removed"], br) == [f"{br}:{other}"]  # the other went all the same
    mine = [f for f in report["failed"] if failing in f]
    assert len(mine) == 1 and "simulated refusal" in mine[0], report["failed"]
    assert f"remove stale OVS port {failing} from {br}" in mine[0]
    assert ovs_ports(br) == [failing]

    # as text: one line on stderr names the port and the error, exit status 1
    text = pipework("gc", env={"PATH": path})
    assert text.returncode == 1
    assert (
        f"pipework: gc: remove stale OVS port {failing} from {br}: ovs-vsctl failed: "
        "ovs-vsctl: transaction error: simulated refusal" in text.stderr
    ), text.stderr
    code, report, err = _gc_json()
    assert code == 0, err
    assert ovs_ports(br) == []


def test_a_stale_port_of_a_gone_guest_does_not_block_its_name(make_netns, ovs_bridge):
    # A new guest's host veth gets the name a gone guest's stale OVS port still has
    # (netns inodes, and with them the derived names, are reused): the stale port is
    # replaced in the same transaction, not an error ("a port named ... already exists").
    br = _netdev_bridge(ovs_bridge)
    first, second = make_netns(), make_netns()
    assert pipework(br, "-l", "pwtreuse0", first, "203.0.113.71/24").returncode == 0
    sh("ip", "netns", "del", first)
    wait_until(lambda: link("pwtreuse0") is None, 10, "the veth to go with its namespace")
    assert ovs_ports(br) == ["pwtreuse0"]  # stale: no interface behind it
    res = pipework(br, "-l", "pwtreuse0", second, "203.0.113.72/24")
    assert res.returncode == 0, res.stderr
    assert ovs_ports(br) == ["pwtreuse0"]
    assert second in sh("ovs-vsctl", "get", "interface", "pwtreuse0", "external-ids").stdout
    assert link("pwtreuse0") is not None


def test_a_port_of_that_name_that_is_not_pipeworks_is_left_alone(make_netns, ovs_bridge):
    br = _netdev_bridge(ovs_bridge)
    ns = make_netns()
    sh("ovs-vsctl", "add-port", br, "pwtreuse1")  # someone's, waiting for its interface
    res = pipework(br, "-l", "pwtreuse1", ns, "203.0.113.73/24")
    assert res.returncode == 1 and "already exists" in res.stderr
    assert ovs_ports(br) == ["pwtreuse1"] and link("pwtreuse1") is None  # rolled back


# --- item 7: bridges pipework created ------------------------------------------------


def _alias(name: str) -> str | None:
    info = link(name)
    assert info is not None, f"{name} is gone"
    return info.get("ifalias")  # type: ignore[return-value]


def _killed_after_the_bridge_step(br: str, ns: str) -> None:
    """An attach SIGKILLed right after creating the bridge: made, marked, never used."""
    proc = subprocess.Popen(
        [PIPEWORK, br, ns, "198.51.100.71/24"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPEWORK_INJECT_PAUSE": "2"},
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == "pipework: paused before step 2\n"
    finally:
        proc.kill()
        proc.communicate(timeout=20)


def test_gc_removes_a_bridge_pipework_created_and_never_used(make_netns, bridge_name):
    br = bridge_name()
    _killed_after_the_bridge_step(br, make_netns())
    assert _alias(br) == MARK
    code, report, err = _gc_json()
    assert code == 0, err
    assert _mine(report["bridges"], br) == [br]
    assert link(br) is None


def test_gc_removes_a_bridge_pipework_created_once_its_guests_are_gone(make_netns, bridge_name):
    br = bridge_name()
    ns = make_netns()
    assert pipework(br, ns, "198.51.100.72/24").returncode == 0
    # the kernel gave the bridge an IPv6 link-local address when the port came up
    wait_until(
        lambda: any(
            a.get("scope") == "link"
            for e in ip_json("addr", "show", "dev", br)
            for a in e.get("addr_info", [])  # type: ignore[attr-defined]
        ),
        10,
        "the kernel's link-local address on the bridge",
    )
    code, report, err = _gc_json()
    assert code == 0, err
    assert _mine(report["bridges"], br) == [], "gc removed a bridge with a guest on it"
    sh("ip", "netns", "del", ns)
    wait_until(lambda: ip_json("link", "show", "master", br) == [], 10, "the port to go")
    res = pipework("gc")
    assert res.returncode == 0, res.stderr
    assert "removed unused bridges pipework created: " in res.stdout
    assert br in res.stdout
    assert link(br) is None


def _marked_bridge(cleanup, alias: str = MARK) -> str:
    name = unique("brpwtg")[:15]
    cleanup.add(f"bridge {name}", lambda: sh("ip", "link", "del", name, check=False))
    sh("ip", "link", "add", name, "type", "bridge")
    sh("ip", "link", "set", name, "alias", alias, "up")
    return name


def _veth(cleanup) -> tuple[str, str]:
    a, b = unique("pwtv")[:15], unique("pwtv")[:15]
    cleanup.add(f"veth {a}", lambda: sh("ip", "link", "del", a, check=False))
    sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
    return a, b


def test_gc_keeps_a_marked_bridge_that_is_used_or_configured(cleanup, make_bridge):
    """Each of these bridges carries pipework's mark (as pipework made it), but has a
    port, something on it, an address or a route someone added: none is removed.
    Nor is an unmarked empty bridge, or one whose alias only looks like the mark."""
    kept = {}
    br = kept["port"] = _marked_bridge(cleanup)
    port, _peer = _veth(cleanup)
    sh("ip", "link", "set", port, "master", br)
    br = kept["macvlan on it"] = _marked_bridge(cleanup)
    upper = unique("pwtmv")[:15]
    cleanup.add(f"macvlan {upper}", lambda: sh("ip", "link", "del", upper, check=False))
    sh("ip", "link", "add", "link", br, "name", upper, "type", "macvlan")
    for what, address in (
        ("IPv4 address", "198.51.100.81/32"),  # no subnet route on the host
        ("IPv6 address", "2001:db8:81::1/64"),
        ("user's link-local address", "fe80::81/64"),
    ):
        br = kept[what] = _marked_bridge(cleanup)
        sh("ip", "addr", "add", address, "dev", br)
    br = kept["route"] = _marked_bridge(cleanup)
    sh("ip", "route", "add", "198.51.100.128/25", "dev", br)
    br = kept["multipath route"] = _marked_bridge(cleanup)
    other, _peer = _veth(cleanup)
    sh("ip", "link", "set", other, "up")
    sh("ip", "route", "add", "203.0.113.128/25", "nexthop", "dev", other, "nexthop", "dev", br)
    cleanup.add("route", lambda: sh("ip", "route", "del", "203.0.113.128/25", check=False))
    br = kept["nexthop object"] = _marked_bridge(cleanup)
    nhid = str(int(unique("")[:6], 16) + 1_000_000)
    cleanup.add("nexthop", lambda: sh("ip", "nexthop", "del", "id", nhid, check=False))
    sh("ip", "nexthop", "add", "id", nhid, "dev", br)
    kept["unmarked"] = make_bridge()
    for alias in ("pipework bridgex", "xpipework bridge", "pipework bridge "):
        kept[f"alias {alias!r}"] = _marked_bridge(cleanup, alias)

    code, report, err = _gc_json()
    assert code == 0, err
    assert _mine(report["bridges"], *kept.values()) == []
    for what, name in kept.items():
        assert link(name) is not None, f"gc removed the bridge with a {what}"


@pytest.mark.parametrize("kind", ["bridge", "ovs"])
def test_gc_never_removes_a_bridge_an_attach_is_about_to_use(
    kind, make_netns, bridge_name, ovs_bridge, tmp_path
):
    """An attach holds the bridge lock from creating the bridge until its port exists:
    paused in between, the bridge is made, marked and empty. gc waits for the lock,
    then finds the port and keeps the bridge; the attach succeeds."""
    ns = make_netns()
    if kind == "bridge":
        br, extra = bridge_name(), []
    else:
        br, extra = str(ovs_bridge()), ["--ovs-datapath", "netdev"]
    resume = tmp_path / "resume"
    attach = subprocess.Popen(
        [PIPEWORK, "attach", ns, "--to", br, "--ip", "198.51.100.91/24", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPEWORK_INJECT_PAUSE": "2", "PIPEWORK_INJECT_RESUME": str(resume)},
    )
    try:
        assert attach.stderr is not None
        assert attach.stderr.readline() == "pipework: paused before step 2\n"
        gc = subprocess.Popen(
            [PIPEWORK, "gc", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(1.0)
        assert gc.poll() is None, "gc did not wait for the attach that holds the bridge"
        resume.touch()
        _out, err = attach.communicate(timeout=30)
        assert attach.returncode == 0, err
        gc_out, gc_err = gc.communicate(timeout=30)
    finally:
        attach.kill()
        attach.communicate(timeout=10)
    assert gc.returncode == 0, gc_err
    assert _mine(json.loads(gc_out)["bridges"], br) == []
    if kind == "bridge":
        assert [e["ifname"] for e in ip_json("link", "show", "master", br)] != []
    else:
        assert len(ovs_ports(br)) == 1


def test_an_attach_to_a_bridge_gc_removed_meanwhile_makes_it_again(
    make_netns, bridge_name, tmp_path
):
    """The bridge existed (pipework's, empty) when the attach looked it up, and gc
    removed it before the attach's first step: the attach makes it again."""
    br = bridge_name()
    _killed_after_the_bridge_step(br, make_netns())
    assert _alias(br) == MARK
    ns = make_netns()
    resume = tmp_path / "resume"
    attach = subprocess.Popen(
        [PIPEWORK, br, ns, "198.51.100.92/24"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPEWORK_INJECT_PAUSE": "1", "PIPEWORK_INJECT_RESUME": str(resume)},
    )
    try:
        assert attach.stderr is not None
        assert attach.stderr.readline() == "pipework: paused before step 1\n"
        code, report, err = _gc_json()  # the attach holds nothing yet
        assert code == 0, err
        assert _mine(report["bridges"], br) == [br]
        assert link(br) is None
        resume.touch()
        _out, err = attach.communicate(timeout=30)
    finally:
        attach.kill()
        attach.communicate(timeout=10)
    assert attach.returncode == 0, err
    assert _alias(br) == MARK
    assert [e["ifname"] for e in ip_json("link", "show", "master", br)] != []


def test_gc_removes_an_ovs_bridge_pipework_created_once_unused(make_netns, ovs_bridge):
    br = str(ovs_bridge())
    ns = make_netns()
    res = pipework("attach", ns, "--to", br, "--ovs-datapath", "netdev", "--ip", "203.0.113.95/24")
    assert res.returncode == 0, res.stderr
    mark = sh("ovs-vsctl", "get", "bridge", br, "external-ids:pipework").stdout.strip()
    assert mark.strip('"') == "bridge"
    code, report, err = _gc_json()
    assert code == 0, err
    assert _mine(report["bridges"], br) == []
    sh("ip", "netns", "del", ns)
    wait_until(lambda: all(link(p) is None for p in ovs_ports(br)), 10, "the veth to go")
    code, report, err = _gc_json()
    assert code == 0, err
    assert len(_mine(report["removed"], br)) == 1
    assert _mine(report["bridges"], br) == [br]
    assert sh("ovs-vsctl", "br-exists", br, check=False).returncode == 2


def test_gc_keeps_an_ovs_bridge_someone_else_created(ovs_bridge):
    br = _netdev_bridge(ovs_bridge)
    code, report, err = _gc_json()
    assert code == 0, err
    assert _mine(report["bridges"], br) == []
    assert sh("ovs-vsctl", "br-exists", br, check=False).returncode == 0


# --- item 6, the namespace gc runs in: OVS is host-wide, links are per namespace -------


def test_gc_in_another_namespace_keeps_the_ports_of_live_guests(make_netns, ovs_bridge):
    """gc run inside a network namespace sees none of the host's links, but OVS's
    ports are the host's: a port whose veth is alive on the host stays."""
    br = _netdev_bridge(ovs_bridge)
    guest, elsewhere = make_netns(), make_netns()
    assert pipework(br, guest, "203.0.113.101/24").returncode == 0
    port = _port_of(br, guest)
    assert link(port) is not None

    code, report, err = _gc_json(elsewhere)
    assert code == 0, err
    assert _mine(report["removed"], br) == [], "gc removed a live guest's port"
    assert ovs_ports(br) == [port]
    assert pipework("ls").stdout.count(port) >= 1


def test_gc_in_another_namespace_still_removes_stale_ports(make_netns, ovs_bridge):
    """Judged in OVS's own namespace, a gone guest's port is stale wherever gc runs."""
    br = _netdev_bridge(ovs_bridge)
    alive = make_netns()
    assert pipework(br, alive, "203.0.113.102/24").returncode == 0
    alive_port = _port_of(br, alive)
    (gone,) = _attached_then_gone(br, make_netns, "203.0.113.103/24")

    code, report, err = _gc_json(make_netns())
    assert code == 0, err
    assert _mine(report["removed"], br) == [f"{br}:{gone}"]
    assert ovs_ports(br) == [alive_port]


def test_gc_in_another_namespace_keeps_a_configured_ovs_bridge(make_netns, ovs_bridge):
    """An OVS bridge pipework created, without ports but with an address on its host
    interface, is in use: gc run elsewhere does not find that interface, and keeps it."""
    br = str(ovs_bridge())
    sh("ovs-vsctl", "add-br", br, "--", "set", "bridge", br,
       "external-ids:pipework=bridge", "datapath_type=netdev")  # fmt: skip
    wait_until(lambda: link(br) is not None, 10, "the bridge's host interface")
    sh("ip", "addr", "add", "2001:db8:101::1/64", "dev", br)

    code, report, err = _gc_json(make_netns())
    assert code == 0, err
    assert _mine(report["bridges"], br) == []
    assert sh("ovs-vsctl", "br-exists", br, check=False).returncode == 0


def test_gc_judges_no_port_when_ovs_namespace_cannot_be_told(make_netns, ovs_bridge, tmp_path):
    """ovs-vswitchd's pidfile names a process that is not ovs-vswitchd (seen through a
    bind mount in a private mount namespace, the host's file untouched): gc cannot
    tell where the ports' interfaces live, so it removes none and says why."""
    br = _netdev_bridge(ovs_bridge)
    (gone,) = _attached_then_gone(br, make_netns, "203.0.113.104/24")
    fake = tmp_path / "ovs-vswitchd.pid"
    fake.write_text(f"{os.getpid()}\n")  # this test's own python
    pidfile = "/run/openvswitch/ovs-vswitchd.pid"
    require(os.path.exists(pidfile), f"no {pidfile} (scripts/lib.sh ensure_ovs writes it)")
    res = sh(
        "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
        'mount --bind "$1" "$2" && exec ip netns exec "$3" "$4" gc --json',
        "sh", str(fake), pidfile, make_netns(), PIPEWORK,
        check=False,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    assert _mine(report["removed"], br) == [] and _mine(report["bridges"], br) == []
    assert ovs_ports(br) == [gone]
    assert any(
        "cannot tell which network namespace ovs-vswitchd runs in" in line
        and f"pid {os.getpid()} of {pidfile} is not ovs-vswitchd" in line
        for line in report["failed"]
    ), report["failed"]
    with open(pidfile) as f:
        assert f.read().strip() != str(os.getpid())
