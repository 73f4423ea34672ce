"""Announce a guest's addresses again once its port on an STP bridge forwards.

A port of a bridge that runs STP spends the forward delay in *listening* and again
in *learning* before it forwards, and drops the guest's frames meanwhile: the
gratuitous ARP and unsolicited NA that ``announce.py`` sends at the end of the
attach never reach the peers, whose neighbour entries for a re-used address keep
the old MAC until they time out.

pipework does not make the attach wait those seconds (2 x forward_delay, 30 s with
the kernel's default of 15 s). It starts a small background process instead, in a
session of its own and holding only the guest's namespace fd: it watches the port
(by index, bounded by 2 x forward_delay + 1 s), and once the port forwards, sends
the announcements from inside the guest, twice: at once, and again after a peer's
default neighbour ``locktime`` (1 s), as RFC 5227 repeats its announcement. The
attach command returns with a warning saying so.

Run as ``python -m pipework.engine.reannounce PORT_INDEX WAIT_S NETNS_FD IFINDEX MAC
ADDR...`` by ``schedule``; nothing else should start it.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .context import AttachContext

#: how often the background process reads the port's state
POLL_S = 0.1
#: a peer's default net.ipv4.neigh.*.locktime (100 centiseconds)
LOCKTIME_S = 1.0
#: the port states of an STP bridge before forwarding (BR_STATE_LISTENING, _LEARNING)
WAITING_STATES = {1: "listening", 2: "learning"}


def forward_delay(ctx: AttachContext) -> float:
    """The bridge's forward delay in seconds (the kernel reports centiseconds)."""
    from ..netlink import messages as m

    bridge = ctx.host.link(index=ctx.uplink.index) if ctx.uplink is not None else None
    data = m.kind_data(bridge) if bridge is not None else None
    value = data.get_int("IFLA_BR_FORWARD_DELAY") if data is not None else None
    return (value if value is not None else 1500) / 100.0


def schedule(ctx: AttachContext, mac: bytes) -> str | None:
    """When the attach's bridge port is still listening or learning (STP), start the
    background process that announces again once it forwards. A note for the user,
    or None when the port forwards already (or is no bridge port)."""
    import subprocess

    from ..mac import format_mac

    port = ctx.host.link(index=ctx.host_link.index) if ctx.host_link is not None else None
    if port is None or port.port_state not in WAITING_STATES or ctx.guest_link is None:
        return None
    addresses = [str(a.address) for a in ctx.spec.addressing.addresses]
    if not addresses:
        return None
    wait = 2 * forward_delay(ctx) + 1
    fd = ctx.guest.netns.fd
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package, env.get("PYTHONPATH"))))
    argv = [sys.executable, "-m", "pipework.engine.reannounce", str(port.index), f"{wait:g}"]
    argv += [str(fd), str(ctx.guest_link.index), format_mac(mac), *addresses]
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(fd,),
            start_new_session=True,
            env=env,
        )
    except OSError as exc:
        return (
            f"bridge port {port.name} is {WAITING_STATES[port.port_state or 1]} (STP), and "
            f"the announcement for when it forwards could not be scheduled: {exc.strerror}"
        )
    return (
        f"bridge port {port.name} is {WAITING_STATES[port.port_state or 1]} (the bridge "
        f"runs STP): process {child.pid} announces {', '.join(addresses)} again when it "
        f"forwards (within {wait:g} s)"
    )


def _wait_forwarding(port_index: int, wait: float) -> bool:
    from ..netlink import messages as m
    from ..netlink.socket import NetlinkSocket

    deadline = time.monotonic() + wait
    with NetlinkSocket() as nl:
        while True:
            port = nl.link(index=port_index)
            if port is None or port.port_state is None:
                return False  # the attach was undone, or the port left the bridge
            if port.port_state == m.BR_STATE_FORWARDING:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)


def _send(ifindex: int, mac: bytes, addresses: Sequence[str]) -> None:
    from _socket import (
        AF_INET,
        AF_INET6,
        AF_PACKET,
        SOCK_CLOEXEC,
        SOCK_RAW,
        if_indextoname,
        inet_pton,
        socket,
    )

    from .announce import (
        ALL_NODES,
        ETH_P_ARP,
        IPV6_MULTICAST_HOPS,
        arp_announcement,
        neighbour_advertisement,
    )

    name = if_indextoname(ifindex)
    v4 = [inet_pton(AF_INET, a) for a in addresses if ":" not in a]
    v6 = [inet_pton(AF_INET6, a) for a in addresses if ":" in a]
    if v4:
        packet = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)
        try:
            for ip in v4:
                packet.sendto(arp_announcement(mac, ip), (name, ETH_P_ARP))
        finally:
            packet.close()
    if v6:
        icmp6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, 58)  # IPPROTO_ICMPV6
        try:
            icmp6.setsockopt(41, IPV6_MULTICAST_HOPS, 255)  # IPPROTO_IPV6; RFC 4861
            for ip in v6:
                icmp6.sendto(neighbour_advertisement(mac, ip), (ALL_NODES, 0, 0, ifindex))
        finally:
            icmp6.close()


def main(argv: Sequence[str]) -> int:
    from ..mac import parse_mac
    from ..netns import setns

    port_index, wait, netns_fd, ifindex, mac = argv[:5]
    if not _wait_forwarding(int(port_index), float(wait)):
        return 1
    packed = parse_mac(mac)
    setns(int(netns_fd))  # nothing more to do on the host
    os.close(int(netns_fd))
    try:
        _send(int(ifindex), packed, argv[5:])
        time.sleep(LOCKTIME_S + POLL_S)
        _send(int(ifindex), packed, argv[5:])
    except OSError:
        return 1  # the interface went meanwhile (detached): nothing to announce
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
