"""``pipework doctor [GUEST | HOSTIF] [--json]``: the host traps around pipework.

Every check reads the host as it is (the kernel, /proc, configuration files, and the
firewall tools' listings, each bounded by a timeout) and changes nothing. One line per
finding, with its fix; exit status 1 when there is one, 0 when the host is clean.
With HOSTIF (a host interface) or GUEST, only what concerns it: its bridge(s), its
host ends, its namespace.
"""

from __future__ import annotations

import sys

from ..errors import UsageError
from ..marks import BRIDGE_MARK, parse_veth_mark
from .agents import (
    DEFAULT_PROBES,
    Probe,
    networkd_findings,
    networkmanager_findings,
    udev_link_findings,
)
from .finding import Finding
from .host import dhcp_findings, firewall_findings, gateway_findings, stp_findings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..netlink.messages import Link

USAGE = """\
usage: pipework doctor [GUEST | HOSTIF] [--json]

Check this host for the traps that break pipework's attachments without an error:
br_netfilter with a firewall dropping traffic within a bridge (iptables-legacy,
iptables-nft, nftables), NetworkManager / systemd-networkd taking over pipework's
interfaces, udev rewriting their MACs, forwarding sysctls of a gateway bridge, STP,
DHCP clients keeping a dead container's namespace alive. One line per finding with
its fix; exit status 1 when something is wrong. See docs/doctor.md.

  --json     print {"findings": [{"check", "subjects", "problem", "fix"}...]}
"""


def run_doctor_verb(args: list[str]) -> int:
    if any(a in ("-h", "--help") for a in args):
        sys.stdout.write(USAGE)
        return 0
    as_json = "--json" in args
    rest = [a for a in args if a != "--json"]
    if len(rest) > 1 or any(a.startswith("-") for a in rest):
        raise UsageError("pipework doctor takes at most one GUEST or HOSTIF, and --json")
    findings = diagnose(rest[0] if rest else None)
    if as_json:
        from .._lowlevel.jsonlite import dumps

        sys.stdout.write(dumps({"findings": [f.as_dict() for f in findings]}) + "\n")
    else:
        from .._lowlevel.terminal import printable

        for finding in findings:
            sys.stdout.write(printable(finding.line()) + "\n")
        if not findings:
            sys.stdout.write("no trap found\n")
    return 1 if findings else 0


def diagnose(target: str | None = None) -> list[Finding]:
    """Every finding on this host; with ``target``, those about it."""
    from ..netlink.socket import NetlinkSocket

    with NetlinkSocket() as nl:
        links = nl.links(obj="for doctor")
        addresses = nl.addresses(obj="for doctor")
    by_index = {link.index: link for link in links}
    subjects: set[str] | None = None
    if target is not None:
        subjects = _subjects(target, links, by_index)
    bridges = _pipework_bridges(links, by_index, subjects)
    probes = _probes(links, by_index, subjects)
    found: list[Finding] = []
    for bridge in bridges:
        found += firewall_findings(bridge.name)
        found += gateway_findings(bridge, addresses)
        found += stp_findings(bridge)
    found += networkmanager_findings(probes)
    found += networkd_findings(probes)
    found += udev_link_findings(probes)
    found += dhcp_findings()
    if subjects is not None:
        found = [f for f in found if subjects.intersection(f.subjects)]
    return found


def _subjects(target: str, links: list[Link], by_index: dict[int, Link]) -> set[str]:
    """The names a target stands for: a host interface (and its bridge, or its ports);
    a guest: its host ends, their bridges, its namespace."""
    for link in links:
        if link.name == target:
            names = {link.name}
            if link.master in by_index:
                names.add(by_index[link.master].name)
            names.update(p.name for p in links if p.master == link.index)
            return names
    from ..guests import resolve
    from ..names import parse_guest_ref

    with resolve(parse_guest_ref(target)) as guest:
        inode = guest.netns.inode
    names = {f"netns:{inode}"}
    for link in links:
        mark = parse_veth_mark(link.alias)
        if mark is not None and mark[2] == inode:
            names.add(link.name)
            if link.master in by_index:
                names.add(by_index[link.master].name)
    return names


def _is_pipework_port(link: Link) -> bool:
    return parse_veth_mark(link.alias) is not None


def _pipework_bridges(
    links: list[Link], by_index: dict[int, Link], subjects: set[str] | None
) -> list[Link]:
    """Linux bridges pipework made or put a guest on (or the target's bridge)."""
    wanted = {link.master for link in links if _is_pipework_port(link) and link.master}
    bridges = [
        link
        for link in links
        if link.kind == "bridge"
        and (link.alias == BRIDGE_MARK or link.index in wanted or
             (subjects is not None and link.name in subjects))
    ]  # fmt: skip
    return bridges


def _probes(links: list[Link], by_index: dict[int, Link], subjects: set[str] | None) -> list[Probe]:
    """pipework's interfaces (or the target's) that host agents are judged against;
    names pipework would use when there are none yet."""
    probes = []
    for link in links:
        ours = link.alias == BRIDGE_MARK or _is_pipework_port(link)
        if subjects is not None:
            ours = link.name in subjects
        if ours and link.kind in ("bridge", "veth"):
            probes.append(Probe(link.name, str(link.kind)))
    if probes or subjects is not None:
        return probes
    return list(DEFAULT_PROBES)
