"""The smaller holes of issue 10 (item 8), each with the test that shows it closed."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import PIPEWORK, link, pipework, sh


def test_a_link_local_address_attach_is_idempotent(make_netns, bridge_name):
    ns, br = make_netns(), bridge_name()
    for address in ("fe80::5/64", "169.254.10.5/16"):
        res = pipework(br, "-i", f"eth{len(address)}", ns, address)
        assert res.returncode == 0, res.stderr
        again = pipework(br, "-i", f"eth{len(address)}", ns, address)
        assert again.returncode == 0, again.stderr
        assert "nothing changed" in again.stderr, again.stderr
        shown = sh("ip", "-n", ns, "addr", "show", "dev", f"eth{len(address)}").stdout
        assert f" {address} " in shown, shown


def test_version_takes_no_arguments():
    res = pipework("--version", "extra")
    assert res.returncode == 2
    assert res.stderr == "pipework: --version takes no arguments, got 'extra'\n"
    assert pipework("--version").returncode == 0


def test_detach_all_of_nothing_says_it_plainly(make_netns):
    ns = make_netns()
    res = pipework("detach", ns, "--all")
    assert res.returncode == 0
    assert res.stdout == f"{ns} has nothing attached by pipework; nothing to do\n"
    res = pipework("detach", ns)
    assert res.stdout == f"{ns} has no eth1 attached by pipework; nothing to do\n"


@pytest.mark.parametrize(
    ("ip_a", "ip_b", "message"),
    [
        ("192.0.2.1/24", "192.0.2.1/24", "192.0.2.1 is on both ends of the link"),
        ("2001:db8::1/64", "2001:db8::1/64", "2001:db8::1 is on both ends of the link"),
        ("192.0.2.1/24", "2001:db8::2/64", "one end has only IPv4 addresses, the other only IPv6"),
    ],
)
def test_link_refuses_ends_that_could_not_talk(make_netns, ip_a, ip_b, message):
    a, b = make_netns(), make_netns()
    res = pipework("link", a, b, "--ip-a", ip_a, "--ip-b", ip_b)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and res.stderr.count("\n") == 1
    assert link("eth1", netns=a) is None and link("eth1", netns=b) is None


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "{other}", "qdisc", "show"],
        ["-netns", "{other}", "qdisc", "show"],
        ["-ne", "{other}", "qdisc", "show"],  # tc takes any prefix of its option names
        ["--netns", "{other}", "qdisc", "show"],
        ["-b", "{file}"],
        ["-batch", "{file}"],
        ["-cf", "{file}", "qdisc", "show"],
        ["exec", "bpf", "dbg"],
    ],
)
def test_tc_passthrough_cannot_leave_the_guest(make_netns, tmp_path, args):
    guest, other = make_netns(), make_netns()
    batch = tmp_path / "batch"
    batch.write_text("qdisc add dev lo root handle 1: prio\n")
    argv = [a.format(other=other, file=batch) for a in args]
    res = pipework("tc", guest, *argv)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("pipework: ") and res.stderr.count("\n") == 1
    # nothing ran anywhere: the other namespace's loopback has no prio qdisc
    shown = sh("tc", "-n", other, "qdisc", "show", "dev", "lo").stdout
    assert "prio" not in shown
    # and output options still work
    assert pipework("tc", guest, "-s", "-j", "qdisc", "show").returncode == 0


def test_an_unreadable_namespace_is_not_called_missing(make_bridge):
    """As a user who may not read /proc/1/ns/net: the process exists, say so."""
    br = make_bridge()
    res = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
         PIPEWORK, br, "1", "192.0.2.10/24"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "process 1 exists, but its network namespace /proc/1/ns/net cannot be read" in (
        res.stderr
    )
    assert "Permission denied (EACCES)" in res.stderr


def test_identical_concurrent_attaches_both_succeed(make_netns, make_bridge):
    """Two identical attaches at once: one does it, the other waits for it and finds
    it done; neither fails with "attached differently", and the route is there."""
    br = make_bridge()
    for round_ in range(20):
        ns = make_netns()
        address = f"198.51.100.{10 + round_}/24"
        argv = [PIPEWORK, br, ns, f"{address}@198.51.100.1"]
        procs = [subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outcomes = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
        for p in procs:
            if p.stderr:
                p.stderr.close()
        assert [code for code, _ in outcomes] == [0, 0], outcomes
        assert sum("nothing changed" in err for _, err in outcomes) == 1, outcomes
        routes = sh("ip", "-n", ns, "route", "show", "default").stdout
        assert "via 198.51.100.1 dev eth1" in routes, (round_, routes)
        shown = sh("ip", "-n", ns, "addr", "show", "dev", "eth1").stdout
        assert address in shown
        sh("ip", "netns", "del", ns)
