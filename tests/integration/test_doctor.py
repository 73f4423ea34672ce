"""``pipework doctor``: each finding from a real condition, set up where it harms nothing.

Each test runs doctor in a sandbox: a network namespace standing in for the host
(its own bridge, sysctls and firewall), entered with ``nsenter --net`` from a
private mount and PID namespace (``unshare --mount --pid --fork --mount-proc``),
where /etc and /run are overlays on a tmpfs and /usr/lib/systemd/network is an
empty tmpfs. The configuration files a test writes (a networkd .network, a udev
.link, NetworkManager's configuration) exist only there; the processes it starts
(a DHCP client) die with the sandbox's PID namespace. The host's own files,
processes and namespaces are never seen or touched.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from .conftest import PIPEWORK, have, require, sh, unique

#: makes the sandbox's private /etc, /run and /usr/lib/systemd/network
PREAMBLE = """\
set -e
mount -t tmpfs pwt /mnt
mkdir -p /mnt/eu /mnt/ew /mnt/ru /mnt/rw
mount -t overlay pwt -o lowerdir=/etc,upperdir=/mnt/eu,workdir=/mnt/ew /etc
mount -t overlay pwt -o lowerdir=/run,upperdir=/mnt/ru,workdir=/mnt/rw /run
mount -t tmpfs pwt /usr/lib/systemd/network
rm -rf /etc/systemd/network/* /etc/NetworkManager /run/NetworkManager /run/udev
mkdir -p /etc/systemd/network
set +e
"""


class Host:
    """A namespace standing in for a host, with a bridge pipework made."""

    def __init__(self, make_netns: Callable[..., str]) -> None:
        self.ns = make_netns(unique("pwt-dr"))
        self.bridge = unique("brpwt")
        sh("ip", "-n", self.ns, "link", "add", self.bridge, "type", "bridge")
        sh("ip", "-n", self.ns, "link", "set", self.bridge, "alias", "pipework bridge", "up")

    def run(self, script: str) -> subprocess.CompletedProcess[str]:
        """``script`` (sh) in the sandbox; $PW is pipework, $BR the bridge."""
        return subprocess.run(
            ["unshare", "--mount", "--pid", "--fork", "--mount-proc",
             "nsenter", f"--net=/run/netns/{self.ns}", "sh", "-c", PREAMBLE + script],
            capture_output=True, text=True, timeout=60, check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PW": PIPEWORK, "BR": self.bridge},
        )  # fmt: skip

    def doctor(self, setup: str = "", *args: str) -> tuple[int, list[dict[str, object]]]:
        """doctor --json after ``setup``: its exit status and findings."""
        words = " ".join(args)
        res = self.run(f'{setup}\n"$PW" doctor {words} --json; echo "rc=$?"')
        out, _, status = res.stdout.rpartition("rc=")
        assert status.strip().isdigit() and out.strip(), res.stdout + res.stderr
        return int(status), json.loads(out)["findings"]


@pytest.fixture
def host(make_netns: Callable[..., str]) -> Host:
    require(have("unshare") and have("nsenter"), "util-linux's unshare and nsenter")
    return Host(make_netns)


def checks(findings: list[dict[str, object]]) -> list[object]:
    return [f["check"] for f in findings]


def test_a_clean_host_has_no_finding_and_exit_status_0(host: Host) -> None:
    res = host.run('"$PW" doctor; echo "rc=$?"')
    assert res.stdout.splitlines() == ["no trap found", "rc=0"], res.stderr
    assert host.doctor() == (0, [])


def test_a_forward_chain_dropping_bridged_traffic_is_a_finding(host: Host) -> None:
    require(have("iptables-legacy"), "iptables is needed")
    status, found = host.doctor("iptables-legacy -P FORWARD DROP")
    assert status == 1 and checks(found) == ["firewall"]
    assert found[0]["subjects"] == [host.bridge]
    assert "--allow-forward" in str(found[0]["fix"])


def test_an_nftables_forward_chain_dropping_it_is_a_finding(host: Host) -> None:
    require(have("nft"), "nftables is needed")
    setup = (
        "nft add table inet fw && nft add chain inet fw forward_filter "
        "'{ type filter hook forward priority 0; policy drop; }'"
    )
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["firewall"]
    assert "nftables inet fw chain forward_filter" in str(found[0]["problem"])


def test_a_catch_all_networkd_file_is_a_finding(host: Host) -> None:
    setup = r'printf "[Match]\nName=*\n[Network]\nDHCP=yes\n" > /etc/systemd/network/10-all.network'
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["networkd"]
    assert "/etc/systemd/network/10-all.network" in str(found[0]["problem"])


def test_a_networkd_file_without_match_is_a_finding(host: Host) -> None:
    setup = r'printf "[Network]\nDHCP=yes\n" > /run/systemd/network/50-any.network'
    status, found = host.doctor("mkdir -p /run/systemd/network\n" + setup)
    assert status == 1 and checks(found) == ["networkd"]
    assert "has no [Match]" in str(found[0]["problem"])


def test_a_networkd_file_for_other_names_is_not(host: Host) -> None:
    setup = (
        r'printf "[Match]\nName=en* eth*\n[Network]\nDHCP=yes\n" '
        "> /etc/systemd/network/10-en.network"
    )
    assert host.doctor(setup) == (0, [])


def test_a_persistent_mac_policy_for_bridges_is_a_finding(host: Host) -> None:
    setup = (
        r'printf "[Match]\nOriginalName=*\n[Link]\nMACAddressPolicy=persistent\n" '
        "> /usr/lib/systemd/network/99-default.link"
    )
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["udev"]
    assert "MACAddressPolicy=persistent" in str(found[0]["problem"])


def test_networkmanager_not_told_to_leave_them_alone_is_a_finding(host: Host) -> None:
    setup = (
        r'mkdir -p /etc/NetworkManager && printf "[main]\nplugins=keyfile\n" '
        "> /etc/NetworkManager/NetworkManager.conf"
    )
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["networkmanager"]


def test_networkmanager_with_unmanaged_devices_for_them_is_not(host: Host) -> None:
    setup = (
        r'mkdir -p /etc/NetworkManager/conf.d && printf "[main]\nplugins=keyfile\n" '
        "> /etc/NetworkManager/NetworkManager.conf && "
        r'printf "[keyfile]\nunmanaged-devices=interface-name:brpwt*;interface-name:veth*\n" '
        "> /etc/NetworkManager/conf.d/90-pw.conf"
    )
    assert host.doctor(setup) == (0, [])


def test_attach_with_networkmanager_writes_a_udev_rule_udev_applies(host: Host) -> None:
    """The rule attach writes, run by udev itself (``udevadm test``, no daemon needed):
    pipework's host end and bridge get NM_UNMANAGED=1, another bridge nothing."""
    require(have("udevadm"), "udev's udevadm")
    res = host.run(
        "mkdir -p /run/NetworkManager\n"
        "mount -t sysfs pwt /sys\n"  # (this namespace's interfaces, for udevadm)
        "unshare --net sleep 30 &\n"
        "sleep 0.2\n"
        '"$PW" attach "pid:$!" --to "$BR" --ip 203.0.113.7/24 --host-ifname pwtv0 || exit 9\n'
        "ip link add brpwtother type bridge\n"
        'for dev in pwtv0 "$BR" brpwtother; do\n'
        '  set -- $(udevadm test "/sys/class/net/$dev" 2>/dev/null | grep -c NM_UNMANAGED=1)\n'
        '  echo "== $dev $1"\n'
        "done\n"
        'ip link set pwtv0 alias ""'  # (the host end as any veth: the rule leaves it)
    )
    assert res.returncode == 0, res.stderr
    counts = dict(line[3:].split() for line in res.stdout.splitlines() if line.startswith("== "))
    assert counts == {"pwtv0": "1", host.bridge: "1", "brpwtother": "0"}, res.stdout


def test_a_gateway_bridge_without_forwarding_is_a_finding(host: Host) -> None:
    setup = "ip addr add 203.0.113.1/24 dev $BR && sysctl -qw net.ipv4.ip_forward=0"
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["sysctl"]
    assert "ip_forward" in str(found[0]["fix"])


def test_strict_reverse_path_filtering_on_a_gateway_bridge_is_a_finding(host: Host) -> None:
    setup = (
        "ip addr add 203.0.113.1/24 dev $BR && sysctl -qw net.ipv4.ip_forward=1 "
        "net.ipv4.conf.all.rp_filter=1"
    )
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["sysctl"]
    assert "rp_filter" in str(found[0]["problem"])


def test_an_stp_bridge_is_a_finding(host: Host) -> None:
    status, found = host.doctor("ip link set $BR type bridge stp_state 1")
    assert status == 1 and checks(found) == ["stp"]


def test_a_dhcp_client_alone_in_a_dead_namespace_is_a_finding(host: Host) -> None:
    """udhcpc in a namespace of its own, nothing else in it and no name holding it:
    a container's client after the container died. (It asks on a veth inside its own
    namespace: no DHCP message leaves it.)"""
    require(have("udhcpc"), "busybox's udhcpc")
    setup = (
        "unshare --net sh -c 'ip link add pwa type veth peer name pwb && ip link set pwa up "
        "&& exec udhcpc -f -i pwa -t 1000 -T 1 -s /bin/true -q' >/dev/null 2>&1 &\n"
        "sleep 0.5"
    )
    status, found = host.doctor(setup)
    assert status == 1 and checks(found) == ["dhcp"]
    assert "udhcpc" in str(found[0]["problem"])


def test_doctor_hostif_reports_only_what_concerns_it(host: Host) -> None:
    setup = "ip link add brpwtstp type bridge && ip link set brpwtstp type bridge stp_state 1"
    status, found = host.doctor(setup, "brpwtstp")
    assert status == 1 and checks(found) == ["stp"]
    assert host.doctor(setup, host.bridge) == (0, [])


def test_doctor_guest_reports_the_traps_of_its_bridge(host: Host) -> None:
    require(have("iptables-legacy"), "iptables is needed")
    setup = (
        "iptables-legacy -P FORWARD DROP\n"
        "ip link add brpwtstp type bridge && ip link set brpwtstp type bridge stp_state 1\n"
        "unshare --net sleep 30 &\n"
        "sleep 0.2\n"
        'G="pid:$!"; "$PW" attach "$G" --to "$BR" --ip 203.0.113.7/24 >/dev/null 2>&1'
    )
    status, found = host.doctor(setup, '"$G"')
    assert status == 1 and checks(found) == ["firewall"]
    assert host.bridge in found[0]["subjects"]  # type: ignore[operator]


def test_doctor_help_and_a_bad_argument() -> None:
    res = sh(PIPEWORK, "doctor", "--help", check=False)
    assert res.returncode == 0 and "usage: pipework doctor" in res.stdout
    assert sh(PIPEWORK, "doctor", "--bad", check=False).returncode == 2
