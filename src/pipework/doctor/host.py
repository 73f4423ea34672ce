"""The host's own settings around pipework's bridges: forwarding sysctls of a bridge
that is its guests' gateway, STP, the firewall (``forward``), and DHCP clients left
alone in the network namespace of a container that is gone."""

from __future__ import annotations

import os

from .finding import Finding, read_text, running

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..netlink.messages import Address, Link

DHCP_CLIENTS = ("udhcpc", "dhclient", "dhcpcd")


def _sysctl(path: str) -> str:
    return (read_text(path, 64) or "").strip()


def gateway_findings(bridge: Link, addresses: list[Address]) -> list[Finding]:
    """A bridge carrying an address is its guests' gateway: forwarding must be on for
    them to reach beyond it, and strict reverse-path filtering drops what they send
    from addresses routed elsewhere."""
    from ..netlink import messages as m

    # (a link-local address makes no gateway: every IPv6 bridge has one)
    families = {a.family for a in addresses if a.index == bridge.index and a.scope == 0}
    found = []
    name = bridge.name
    if m.AF_INET in families:
        if _sysctl("/proc/sys/net/ipv4/ip_forward") == "0":
            found.append(
                Finding(
                    "sysctl",
                    (name,),
                    f"bridge {name} carries an IPv4 address (its guests' gateway) but "
                    "net.ipv4.ip_forward is 0: guests reach the host and nothing beyond",
                    "sysctl -w net.ipv4.ip_forward=1",
                )
            )
        modes = [_sysctl(f"/proc/sys/net/ipv4/conf/{c}/rp_filter") for c in ("all", name)]
        if max(modes, default="0") == "1":
            found.append(
                Finding(
                    "sysctl",
                    (name,),
                    f"strict reverse-path filtering (rp_filter=1) on bridge {name}, a "
                    "gateway: packets of its guests from addresses routed through another "
                    "interface are dropped",
                    f"sysctl -w net.ipv4.conf.{name}.rp_filter=2 "
                    "net.ipv4.conf.all.rp_filter=2 (loose)",
                )
            )
    if m.AF_INET6 in families and _sysctl("/proc/sys/net/ipv6/conf/all/forwarding") == "0":
        found.append(
            Finding(
                "sysctl",
                (name,),
                f"bridge {name} carries an IPv6 address (its guests' gateway) but "
                "net.ipv6.conf.all.forwarding is 0",
                "sysctl -w net.ipv6.conf.all.forwarding=1",
            )
        )
    return found


def stp_findings(bridge: Link) -> list[Finding]:
    from ..netlink import messages as m

    data = m.kind_data(bridge)
    if data is None or not data.get_int("IFLA_BR_STP_STATE"):
        return []
    return [
        Finding(
            "stp",
            (bridge.name,),
            f"bridge {bridge.name} runs STP: a new port forwards only after twice the "
            "forward delay, and what a guest sends before (its announcements) is lost",
            f"ip link set {bridge.name} type bridge stp_state 0 (when the bridge closes "
            "no loop), or a shorter forward_delay",
        )
    ]


def firewall_findings(bridge: str) -> list[Finding]:
    from .forward import blockers

    return [
        Finding(
            "firewall",
            (bridge,),
            f"br_netfilter is on and {b.where} drops traffic within bridge {bridge} "
            f"({b.reason}): its guests cannot reach each other or the gateway",
            f"attach with --allow-forward, or {b.fix()}",
        )
        for b in blockers(bridge)
    ]


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _named_netns() -> set[int]:
    """The namespaces a name in /run/netns holds on purpose (``ip netns add``)."""
    inodes: set[int] = set()
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return inodes
    for name in names:
        try:
            inodes.add(os.stat(f"/run/netns/{name}").st_ino)
        except OSError:
            continue
    return inodes


def dhcp_findings() -> list[Finding]:
    """A DHCP client whose network namespace holds no other process and no name: its
    container is gone, and the client alone keeps the namespace (and the address it
    renews) alive."""
    clients = running(*DHCP_CLIENTS)
    if not clients:
        return []
    own = _netns_inode(os.getpid())
    members: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            inode = _netns_inode(int(entry))
            if inode is not None:
                members.setdefault(inode, []).append(int(entry))
    named = _named_netns()
    alone: dict[int, list[int]] = {}  # namespace -> the clients that alone hold it
    for pid in clients:
        inode = _netns_inode(pid)
        if inode is None or inode == own or inode in named:
            continue
        if all(p in clients for p in members.get(inode, [])):
            alone.setdefault(inode, []).append(pid)
    found = []
    for inode, pids in sorted(alone.items()):
        names = sorted({(read_text(f"/proc/{p}/comm", 64) or "?").strip() for p in pids})
        listed = " ".join(str(p) for p in pids)
        found.append(
            Finding(
                "dhcp",
                (f"netns:{inode}", *(f"pid:{p}" for p in pids)),
                f"{'/'.join(names)} (pid {listed}) is all that is left in network namespace "
                f"{inode}: its container is gone, and the client keeps the namespace and "
                "its address alive",
                f"kill {listed} (pipework gc stops the clients pipework started)",
            )
        )
    return found
