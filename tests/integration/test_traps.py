"""Host traps that made the original "not work" (issue 16, items 2, 3, 4 and 6), for real.

IPv6 in a Docker ``--network none`` container, the host reaching its macvlan guests
through a shim, the wireless check on a macvlan parent, and announcements on a
bridge that runs STP. See docs/traps.md.
"""

from __future__ import annotations

from .conftest import in_ns, pipework, sh, wait_until


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
