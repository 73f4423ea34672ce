"""Host traps that made the original "not work" (issue 16, items 2, 3, 4 and 6), for real.

IPv6 in a Docker ``--network none`` container, the host reaching its macvlan guests
through a shim, the wireless check on a macvlan parent, and announcements on a
bridge that runs STP. See docs/traps.md.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from .conftest import PIPEWORK, in_ns, pipework, sh, wait_until
from .test_dhcp import POOL6, lan  # noqa: F401 - the DHCP server fixture


def _pid(container: str) -> str:
    return sh("docker", "inspect", "-f", "{{.State.Pid}}", container).stdout.strip()


def _ipv6_settings(pid: str, *names: str) -> dict[str, str]:
    out = sh(
        "nsenter",
        "-t",
        pid,
        "-n",
        "cat",
        *(f"/proc/sys/net/ipv6/conf/{n}/disable_ipv6" for n in names),
    ).stdout.split()
    return dict(zip(names, out))


# -- item 2: IPv6 in a container whose namespace has it off ----------------------------


def test_ipv6_address_in_a_docker_network_none_container(container, bridge_name, make_netns):
    ct = container()
    pid = _pid(ct)
    assert _ipv6_settings(pid, "all", "default") == {"all": "1", "default": "1"}  # Docker's
    br = bridge_name()
    peer = make_netns()
    res = pipework("attach", ct, "--to", br, "--ip", "2001:db8:16::5/64", "-v")
    assert res.returncode == 0, res.stderr
    assert "-n sysctl -w net.ipv6.conf.eth1.disable_ipv6=0" in res.stderr
    assert (
        pipework("attach", f"netns:{peer}", "--to", br, "--ip", "2001:db8:16::1/64").returncode == 0
    )
    # the peer's address, and the DAD of the guests' link-local ones, settle first
    wait_until(
        lambda: (
            in_ns(
                peer, "ping", "-6", "-c", "1", "-W", "1", "2001:db8:16::5", check=False
            ).returncode
            == 0
        ),
        10,
        "the container to answer ping6",
    )
    assert _ipv6_settings(pid, "all", "default", "eth1") == {
        "all": "1",
        "default": "1",
        "eth1": "0",
    }


def test_dhcpv6_in_a_docker_network_none_container(container, lan):  # noqa: F811
    net = lan()
    ct = container()
    res = pipework("attach", ct, "--to", net.bridge, "--dhcp6")
    assert res.returncode == 0, res.stderr
    pid = _pid(ct)
    out = sh("nsenter", "-t", pid, "-n", "ip", "-6", "-o", "addr", "show", "dev", "eth1").stdout
    assert [a for a in out.split() if POOL6.match(a)], out
    assert _ipv6_settings(pid, "all", "default") == {"all": "1", "default": "1"}


# -- item 6: announcements on a bridge that runs STP -----------------------------------

FORWARD_DELAY_CS = 200  # the smallest the kernel allows with STP on: 2 s


def _stp_host(make_netns) -> tuple[str, str]:
    """A netns standing in for the host, with a bridge running STP (forward delay 2 s)."""
    host = make_netns()
    br = "pwtstp0"
    in_ns(
        host,
        "ip",
        "link",
        "add",
        br,
        "type",
        "bridge",
        "stp_state",
        "1",
        "forward_delay",
        str(FORWARD_DELAY_CS),
    )
    in_ns(host, "ip", "link", "set", br, "up")
    return host, br


def _port_states(host: str, br: str) -> list[str]:
    out = in_ns(host, "bridge", "-j", "link", "show", "master", br).stdout
    return [str(p.get("state")) for p in json.loads(out or "[]")]


def _neighbour_mac(ns: str, address: str) -> str | None:
    out = in_ns(ns, "ip", "-j", "neigh", "show", address).stdout
    entries = json.loads(out or "[]")
    return str(entries[0].get("lladdr")) if entries else None


def _guest_mac(ns: str) -> str:
    return str(json.loads(in_ns(ns, "ip", "-j", "link", "show", "eth1").stdout)[0]["address"])


def _peer_forwarding(make_netns, host: str, br: str) -> str:
    peer = make_netns()
    res = in_ns(
        host,
        PIPEWORK,
        "attach",
        f"netns:{peer}",
        "--to",
        br,
        "--ip",
        "198.51.100.1/24",
        "--ip",
        "2001:db8:16::1/64",
        check=False,
    )
    assert res.returncode == 0, res.stderr
    wait_until(lambda: _port_states(host, br) == ["forwarding"], 8, "the peer's port to forward")
    return peer


def test_stp_port_announces_again_when_it_forwards(make_netns):
    host, br = _stp_host(make_netns)
    peer = _peer_forwarding(make_netns, host, br)
    # the peer still has the address's previous owner
    in_ns(
        peer,
        "ip",
        "neigh",
        "replace",
        "198.51.100.10",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth1",
        "nud",
        "stale",
    )
    guest = make_netns()
    started = time.monotonic()
    res = in_ns(
        host,
        PIPEWORK,
        "attach",
        f"netns:{guest}",
        "--to",
        br,
        "--ip",
        "198.51.100.10/24",
        check=False,
    )
    took = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    assert "again when it forwards" in res.stderr
    assert took < 2, f"the attach waited {took:.1f} s for STP"
    # the announcement of the attach itself was dropped by the listening port
    assert _neighbour_mac(peer, "198.51.100.10") == "02:00:00:00:00:99"
    mac = _guest_mac(guest)
    wait_until(
        lambda: _neighbour_mac(peer, "198.51.100.10") == mac,
        2 * FORWARD_DELAY_CS / 100 + 3,
        "the peer to learn the guest's MAC",
    )


def test_stp_port_advertises_an_ipv6_address_again_when_it_forwards(make_netns):
    host, br = _stp_host(make_netns)
    peer = _peer_forwarding(make_netns, host, br)
    old = ("lladdr", "02:00:00:00:00:98", "dev", "eth1", "nud", "stale")
    in_ns(peer, "ip", "-6", "neigh", "replace", "2001:db8:16::10", *old)
    guest = make_netns()
    res = in_ns(host, PIPEWORK, "attach", f"netns:{guest}", "--to", br,
                "--ip", "2001:db8:16::10/64", check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _neighbour_mac(peer, "2001:db8:16::10") == "02:00:00:00:00:98"
    mac = _guest_mac(guest)
    wait_until(
        lambda: _neighbour_mac(peer, "2001:db8:16::10") == mac,
        2 * FORWARD_DELAY_CS / 100 + 3,
        "the peer to learn the guest's MAC from the advertisement",
    )


def test_reattach_with_a_new_mac_updates_the_peer(make_netns):
    host, br = _stp_host(make_netns)
    peer = _peer_forwarding(make_netns, host, br)
    guest = make_netns()
    first = ("attach", f"netns:{guest}", "--to", br, "--ip", "198.51.100.11/24")
    assert in_ns(host, PIPEWORK, *first, "--mac", "02:00:00:00:01:01", check=False).returncode == 0
    wait_until(lambda: _port_states(host, br) == ["forwarding"] * 2, 8, "the guest's port")
    assert in_ns(peer, "ping", "-c", "1", "-W", "2", "198.51.100.11", check=False).returncode == 0
    assert _neighbour_mac(peer, "198.51.100.11") == "02:00:00:00:01:01"
    # within the peer's locktime of its last update: detach, attach with another MAC
    assert in_ns(host, PIPEWORK, "detach", f"netns:{guest}", check=False).returncode == 0
    res = in_ns(host, PIPEWORK, *first, "--mac", "02:00:00:00:01:02", check=False)
    assert res.returncode == 0, res.stderr
    wait_until(
        lambda: _neighbour_mac(peer, "198.51.100.11") == "02:00:00:00:01:02",
        2 * FORWARD_DELAY_CS / 100 + 3,
        "the peer to learn the new MAC",
    )


# -- item 3: the host reaches its macvlan guests through a shim -------------------------


def _macvlan_host(make_netns) -> tuple[str, str]:
    """A netns standing in for the host, its NIC a veth (the cable's far end in
    another netns), with the host's own address on it."""
    host, wire = make_netns(), make_netns()
    nic = "pwtnic0"
    in_ns(host, "ip", "link", "add", nic, "type", "veth", "peer", "name", "pwtcable", "netns", wire)
    in_ns(wire, "ip", "link", "set", "pwtcable", "up")
    in_ns(host, "ip", "link", "set", nic, "up")
    in_ns(host, "ip", "addr", "add", "198.51.100.1/24", "dev", nic)
    return host, nic


def _pw(host: str, *args: str):
    return in_ns(host, PIPEWORK, *args, check=False)


def _host_state(host: str) -> tuple[str, str, str]:
    """The host netns's links, addresses and routes, as ip prints them."""
    return (
        in_ns(host, "ip", "-br", "link").stdout,
        in_ns(host, "ip", "-br", "addr").stdout,
        in_ns(host, "ip", "route", "show", "table", "all").stdout,
    )


def _pings(host: str, address: str) -> bool:
    return in_ns(host, "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


def test_the_host_reaches_a_macvlan_guest_only_through_a_shim(make_netns):
    host, nic = _macvlan_host(make_netns)
    before, after = make_netns(), make_netns()
    assert (
        _pw(host, "attach", f"netns:{before}", "--to", nic, "--ip", "198.51.100.10/24").returncode
        == 0
    )
    assert not _pings(host, "198.51.100.10")  # the kernel's macvlan: no way from the parent
    res = _pw(host, "shim", nic, "198.51.100.2/32", "-v")
    assert res.returncode == 0, res.stderr
    res = _pw(host, "attach", f"netns:{after}", "--to", nic, "--ip", "198.51.100.11/24", "-v")
    assert res.returncode == 0, res.stderr
    assert "ip route add 198.51.100.11/32 dev pws-pwtnic0" in res.stderr
    assert _pings(host, "198.51.100.11")
    # a guest from before the shim: through the guests' subnet given with --route
    assert not _pings(host, "198.51.100.10")
    assert _pw(host, "shim", nic, "198.51.100.2/32", "--route", "198.51.100.8/30").returncode == 0
    assert _pings(host, "198.51.100.10")


def test_ls_lists_the_shim_with_its_routes(make_netns):
    host, nic = _macvlan_host(make_netns)
    guest = make_netns()
    assert _pw(host, "shim", nic, "198.51.100.2/32").returncode == 0
    assert (
        _pw(host, "attach", f"netns:{guest}", "--to", nic, "--ip", "198.51.100.12/24").returncode
        == 0
    )
    rows = json.loads(_pw(host, "ls", "--json").stdout)
    shims = [r for r in rows if r["runtime"] == "shim"]
    assert len(shims) == 1
    assert shims[0]["host_ifname"] == "pws-pwtnic0" and shims[0]["bridge"] == nic
    assert shims[0]["guest"] == f"shim:{nic}"  # what detach takes
    assert shims[0]["addresses"] == ["198.51.100.2/32"]
    assert shims[0]["segment"]["routes"] == ["198.51.100.12/32"]


def test_detach_and_shim_remove_leave_nothing(make_netns):
    host, nic = _macvlan_host(make_netns)
    guest = make_netns()
    clean = _host_state(host)
    assert _pw(host, "shim", nic, "198.51.100.2/32", "--route", "198.51.100.64/26").returncode == 0
    assert (
        _pw(host, "attach", f"netns:{guest}", "--to", nic, "--ip", "198.51.100.13/24").returncode
        == 0
    )
    assert "198.51.100.13 dev pws-pwtnic0" in _host_state(host)[2]
    assert _pw(host, "detach", f"netns:{guest}").returncode == 0
    assert "198.51.100.13" not in _host_state(host)[2]  # the guest's route went with it
    res = _pw(host, "detach", f"shim:{nic}", "-v")
    assert res.returncode == 0, res.stderr
    assert f"ip link del pws-{nic}" in res.stderr and f"removed pws-{nic}" in res.stdout
    assert _host_state(host) == clean
    res = _pw(host, "detach", f"shim:{nic}")  # gone already: nothing to do, not an error
    assert res.returncode == 0 and "nothing to do" in res.stdout


def test_shim_remove_is_the_same_as_detach(make_netns):
    host, nic = _macvlan_host(make_netns)
    clean = _host_state(host)
    assert _pw(host, "shim", nic, "198.51.100.2/32").returncode == 0
    assert _pw(host, "shim", nic, "--remove").returncode == 0
    assert _host_state(host) == clean


def test_host_shim_on_attach_is_made_and_goes_with_the_last_guest(make_netns):
    host, nic = _macvlan_host(make_netns)
    one, two = make_netns(), make_netns()
    clean = _host_state(host)
    for guest, address in ((one, "198.51.100.14/24"), (two, "198.51.100.15/24")):
        res = _pw(host, "attach", f"netns:{guest}", "--to", nic, "--ip", address, "--host-shim")
        assert res.returncode == 0, res.stderr
    assert _pings(host, "198.51.100.14") and _pings(host, "198.51.100.15")
    assert _pw(host, "detach", f"netns:{one}").returncode == 0
    assert "pws-pwtnic0" in _host_state(host)[0]  # another guest still uses it
    assert _pw(host, "detach", f"netns:{two}").returncode == 0
    assert _host_state(host) == clean


def test_host_shim_is_refused_on_a_bridge(make_netns):
    host, _nic = _macvlan_host(make_netns)
    guest = make_netns()
    res = _pw(
        host,
        "attach",
        f"netns:{guest}",
        "--to",
        "brpwt0",
        "--ip",
        "198.51.100.16/24",
        "--host-shim",
    )
    assert res.returncode == 2 and "--host-shim is for a macvlan" in res.stderr
    assert "brpwt0" not in _host_state(host)[0]


# -- item 4: a macvlan on a NIC that is not Wi-Fi gets no warning ----------------------


def test_a_macvlan_on_a_wired_nic_has_no_wireless_warning(make_netns):
    host, nic = _macvlan_host(make_netns)
    guest = make_netns()
    res = _pw(host, "attach", f"netns:{guest}", "--to", nic, "--ip", "198.51.100.17/24")
    assert res.returncode == 0, res.stderr
    assert "Wi-Fi" not in res.stderr


# -- docs/traps.md runs as written -------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "traps.md"


def _doc_lines(section: str) -> list[list[str]]:
    text = DOCS.read_text()
    body = text[text.index(section) :].split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in body.splitlines() if line.strip()]


def test_the_shim_example_of_the_docs_runs_as_written(make_netns):
    """The only changes: eth0 is the test's veth, web and db are named netns."""
    host, nic = _macvlan_host(make_netns)
    names = {"eth0": nic, "web": f"netns:{make_netns()}", "db": f"netns:{make_netns()}"}
    names["shim:eth0"] = f"shim:{nic}"
    clean = _host_state(host)
    lines = _doc_lines("## The host cannot reach its own macvlan guests")
    assert [w[0] for w in lines].count("ping") == 3
    for words in lines:
        argv = [PIPEWORK if w == "pipework" else names.get(w, w) for w in words]
        res = in_ns(host, *argv, check=False)
        assert res.returncode == 0, f"{' '.join(words)}: {res.stderr}"
    assert _host_state(host) == clean


def test_reattach_within_the_locktime_updates_the_peer_at_once(make_netns, make_bridge):
    """No STP: the attach's own gratuitous ARP, sent well within the peer's locktime
    (1 s) of its last update of the entry, is taken (docs/traps.md)."""
    br = make_bridge()
    peer, guest = make_netns(), make_netns()
    assert (
        pipework("attach", f"netns:{peer}", "--to", br, "--ip", "198.51.100.1/24").returncode == 0
    )
    first = ("attach", f"netns:{guest}", "--to", br, "--ip", "198.51.100.12/24")
    assert pipework(*first, "--mac", "02:00:00:00:01:03").returncode == 0
    assert in_ns(peer, "ping", "-c", "1", "-W", "2", "198.51.100.12", check=False).returncode == 0
    started = time.monotonic()
    assert pipework("detach", f"netns:{guest}").returncode == 0
    assert pipework(*first, "--mac", "02:00:00:00:01:04").returncode == 0
    assert time.monotonic() - started < 1.0
    assert _neighbour_mac(peer, "198.51.100.12") == "02:00:00:00:01:04"
