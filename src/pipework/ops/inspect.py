"""Inspect: how a guest is found, which process and namespace are chosen, what it has.

The report of ``pipework inspect``: each resolver asked and what it saw, the
candidates, the process and namespace inode pinned, and the guest's interfaces
as its own namespace shows them (those pipework attached are marked).
"""

from __future__ import annotations

from ..errors import PipeworkError
from ..guests import pin, search
from ..mac import format_mac
from ..netlink.socket import NetlinkSocket
from .ls import list_attachments

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    from typing_extensions import NotRequired

    from ..names import GuestRef

    class CandidateReport(TypedDict):
        runtime: str
        name: str
        pid: int | None
        found: str

    class ResolverReport(TypedDict):
        resolver: str
        saw: list[str]
        candidates: list[CandidateReport]

    class ChosenReport(TypedDict):
        runtime: str
        name: str
        pid: int | None
        netns_inode: int
        netns_path: str
        found: str

    class InterfaceReport(TypedDict):
        name: str
        state: str
        mac: str
        mtu: int | None
        addresses: list[str]
        attached_by_pipework_via: str | None
        segment: NotRequired[dict[str, object]]  # the bridge's segment (VXLAN: VNI, remote)

    class InspectReport(TypedDict):
        """What ``pipework inspect --json`` prints."""

        guest: str
        resolvers: list[ResolverReport]
        error: NotRequired[str]  # the guest could not be resolved: why
        chosen: NotRequired[ChosenReport]
        interfaces: NotRequired[list[InterfaceReport]]
        warnings: NotRequired[list[str]]  # host traps breaking its attachments (doctor)


def inspect(ref: GuestRef) -> InspectReport:
    """The whole report as plain data (``--json`` prints it as is)."""
    findings = search(ref)
    report: InspectReport = {
        "guest": str(ref),
        "resolvers": [
            {
                "resolver": f.resolver,
                "saw": f.saw,
                "candidates": [
                    {"runtime": c.runtime, "name": c.name, "pid": c.pid, "found": c.detail}
                    for c in f.candidates
                ],
            }
            for f in findings
        ],
    }
    try:
        guest = pin(ref, findings)
    except PipeworkError as exc:
        report["error"] = str(exc)
        return report
    with guest:
        report["chosen"] = {
            "runtime": guest.runtime,
            "name": guest.name,
            "pid": guest.pid,
            "netns_inode": guest.netns.inode,
            "netns_path": guest.netns.path,
            "found": guest.detail,
        }
        attached = {
            s.container_ifname: s for s in list_attachments() if s.netns_inode == guest.netns.inode
        }
        with NetlinkSocket.inside(guest.netns) as nl:
            links = nl.links()
            addrs = nl.addresses()
        interfaces: list[InterfaceReport] = []
        for link in links:
            seen = attached.get(link.name)
            interface: InterfaceReport = {
                "name": link.name,
                "state": link.state,
                "mac": format_mac(link.address) if link.address else "",
                "mtu": link.mtu,
                "addresses": [str(a) for a in addrs if a.index == link.index],
                "attached_by_pipework_via": seen.host_ifname if seen else None,
            }
            if seen is not None and seen.segment is not None:
                interface["segment"] = seen.segment
            interfaces.append(interface)
        report["interfaces"] = interfaces
        warnings = _host_traps({s.bridge for s in attached.values() if s.bridge})
        if warnings:
            report["warnings"] = warnings
    return report


def _host_traps(bridges: set[str]) -> list[str]:
    """What in the host breaks the guest's attachments: the firewall dropping traffic
    within its bridges (br_netfilter; the same warning as attach's)."""
    from ..doctor import forward

    if not bridges or not forward.br_netfilter_on():
        return []
    found = [forward.warning(bridge) for bridge in sorted(bridges)]
    return [w for w in found if w]


def render(report: InspectReport) -> str:
    lines = [f"guest {report['guest']}:"]
    for r in report["resolvers"]:
        lines.append(f"  {r['resolver']}: {'; '.join(r['saw']) or 'nothing'}")
        for c in r["candidates"]:
            pid = f", pid {c['pid']}" if c["pid"] is not None else ""
            lines.append(f"    candidate {c['runtime']}:{c['name']}{pid} ({c['found']})")
    if "error" in report:
        lines.append(f"  not resolved: {report['error']}")
        return "\n".join(lines)
    chosen = report["chosen"]
    pid = f"pid {chosen['pid']}, " if chosen["pid"] is not None else ""
    lines.append(
        f"  chosen: {chosen['runtime']}:{chosen['name']} ({pid}"
        f"netns inode {chosen['netns_inode']}, {chosen['netns_path']})"
    )
    lines.append("  interfaces:")
    for i in report["interfaces"]:
        via = i["attached_by_pipework_via"]
        attached = f", attached by pipework via {via}" if via else ""
        if "segment" in i:
            attached += f" on {i['segment']['summary']}"
        addrs = ", ".join(i["addresses"]) or "no address"
        lines.append(f"    {i['name']}: {i['state']}, {i['mac'] or 'no MAC'}, {addrs}{attached}")
    lines += [f"  warning: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)
