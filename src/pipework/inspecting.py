"""Inspect: how a guest is found, which process and namespace are chosen, what it has.

The report of ``pipework inspect``: each resolver asked and what it saw, the
candidates, the process and namespace inode pinned, and the guest's interfaces
as its own namespace shows them (those pipework attached are marked).
"""

from __future__ import annotations

from .errors import PipeworkError
from .guests import pin, search
from .inventory import format_address, list_attachments
from .mac import format_mac
from .netlink import messages as m
from .netlink.socket import NetlinkSocket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import GuestRef


def inspect(ref: GuestRef) -> dict[str, object]:
    """The whole report as plain data (``--json`` prints it as is)."""
    findings = search(ref)
    report: dict[str, object] = {
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
            (s.container_ifname): s.host_ifname
            for s in list_attachments()
            if s.netns_inode == guest.netns.inode
        }
        with NetlinkSocket.inside(guest.netns) as nl:
            links = [m.parse_link(*r[1:]) for r in nl.dump(m.dump_links(), op="list links")]
            addrs = [m.parse_address(*r[1:]) for r in nl.dump(m.dump_addresses(), op="list")]
        report["interfaces"] = [
            {
                "name": link.name,
                "state": ("up" if link.has_carrier else "no carrier") if link.is_up else "down",
                "mac": format_mac(link.address) if link.address else "",
                "mtu": link.mtu,
                "addresses": [format_address(a) for a in addrs if a.index == link.index],
                "attached_by_pipework_via": attached.get(link.name),
            }
            for link in links
        ]
    return report


def render(report: dict[str, object]) -> str:
    lines = [f"guest {report['guest']}:"]
    for r in report["resolvers"]:  # type: ignore[attr-defined]
        lines.append(f"  {r['resolver']}: {'; '.join(r['saw']) or 'nothing'}")
        for c in r["candidates"]:
            pid = f", pid {c['pid']}" if c["pid"] is not None else ""
            lines.append(f"    candidate {c['runtime']}:{c['name']}{pid} ({c['found']})")
    if "error" in report:
        lines.append(f"  not resolved: {report['error']}")
        return "\n".join(lines)
    chosen = report["chosen"]
    pid = f"pid {chosen['pid']}, " if chosen["pid"] is not None else ""  # type: ignore[index]
    lines.append(
        f"  chosen: {chosen['runtime']}:{chosen['name']} ({pid}"  # type: ignore[index]
        f"netns inode {chosen['netns_inode']}, {chosen['netns_path']})"  # type: ignore[index]
    )
    lines.append("  interfaces:")
    for i in report["interfaces"]:  # type: ignore[attr-defined]
        via = (
            f", attached by pipework via {i['attached_by_pipework_via']}"
            if i["attached_by_pipework_via"]
            else ""
        )
        addrs = ", ".join(i["addresses"]) or "no address"
        lines.append(f"    {i['name']}: {i['state']}, {i['mac'] or 'no MAC'}, {addrs}{via}")
    return "\n".join(lines)
