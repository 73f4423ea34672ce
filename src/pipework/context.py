"""What the steps of one attach share: the request, the guest, and the sockets.

The guest-side sockets are opened lazily and together, in one short visit to the
guest's namespace; the host socket may be shared by many attaches (the batch API).
"""

from __future__ import annotations

from _socket import AF_INET6, SOCK_CLOEXEC, SOCK_RAW, socket

from .netlink.socket import NetlinkSocket
from .netns import NetNS, inside

TYPE_CHECKING = False
IPPROTO_ICMPV6 = 58

if TYPE_CHECKING:
    from .dhcp.client import Lease, Session
    from .model import AttachSpec, Guest
    from .netlink.messages import Link


class AttachContext:
    __slots__ = (
        "_guest_nl",
        "_home",
        "_icmp6",
        "arp_from_host",
        "arp_notify_before",
        "created_bridge",
        "dhcp_session",
        "dns",
        "guest",
        "guest_index",
        "guest_link",
        "host",
        "host_ifname",
        "host_link",
        "kind",
        "lease",
        "ovs_userspace",
        "parent_link",
        "spec",
        "unchanged",
        "uplink",
    )

    def __init__(self, spec: AttachSpec, guest: Guest, host: NetlinkSocket) -> None:
        self.spec = spec
        self.guest = guest
        self.host = host
        #: the host interface the guest hangs off: a bridge, an OVS bridge, a parent NIC
        self.uplink: Link | None = None
        #: the lower device of an interface made in the guest (a NIC, or its VLAN)
        self.parent_link: Link | None = None
        self.created_bridge = False
        #: the driver kind (drivers.KINDS), set when chosen
        self.kind = ""
        #: the built-in DHCP client's session and lease (dhcp/steps.py)
        self.dhcp_session: Session | None = None
        self.lease: Lease | None = None
        #: DNS servers and search domain of a DHCPv6 lease, for --dns
        self.dns: tuple[list[str], str | None] | None = None
        #: the OVS bridge uses the userspace datapath (drivers/ovs.py, ethtool.py)
        self.ovs_userspace = False
        self.host_ifname = ""
        self.unchanged = False  # the same attachment already existed (idempotency)
        self.host_link: Link | None = None
        self.guest_link: Link | None = None
        #: the guest end's ifindex (inside the guest), as the kernel reported it
        self.guest_index: int | None = None
        self.arp_notify_before: int | None = None
        #: attach_many sends the gratuitous ARPs from the host (announce.HostAnnouncer)
        self.arp_from_host = False
        self._guest_nl: NetlinkSocket | None = None
        self._home: NetNS | None = None
        self._icmp6: socket | None = None

    def _open_guest_sockets(self) -> None:
        """Everything the attach needs inside the guest, in one visit to its namespace."""
        with inside(self.guest.netns):
            self._guest_nl = NetlinkSocket(self.guest.label)
            if any(a.family == 6 for a in self.spec.addressing.addresses):
                # for the unsolicited neighbour advertisements (announce.py); a
                # kernel booted without IPv6 refuses it, and then there is nothing
                # to announce anyway
                try:
                    self._icmp6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6)
                except OSError:
                    self._icmp6 = None

    @property
    def guest_nl(self) -> NetlinkSocket:
        if self._guest_nl is None:
            self._open_guest_sockets()
        assert self._guest_nl is not None
        return self._guest_nl

    @property
    def icmp6(self) -> socket:
        """The guest's raw ICMPv6 socket; OSError when the guest has no IPv6."""
        if self._guest_nl is None:
            self._open_guest_sockets()
        if self._icmp6 is None:
            raise OSError(97, "IPv6 is not available in the guest")  # EAFNOSUPPORT
        return self._icmp6

    def in_guest(self, command: str) -> str:
        """Render a command as run inside the guest, for ``-v`` output."""
        guest = self.guest
        if guest.runtime == "netns" and not guest.name.startswith("/"):
            if command.startswith("ip "):
                return command.replace("ip ", f"ip -n {guest.name} ", 1)
            return f"ip netns exec {guest.name} {command}"
        if guest.pid is not None:
            return f"nsenter -t {guest.pid} -n {command}"
        return f"nsenter --net={guest.netns.path} {command}"

    def home_netns(self) -> NetNS:
        """Our own namespace (where interfaces go back to), opened once."""
        if self._home is None:
            self._home = NetNS.current()
        return self._home

    def close(self) -> None:
        if self.dhcp_session is not None:
            self.dhcp_session.close()
            self.dhcp_session = None
        if self._home is not None:
            self._home.close()
            self._home = None
        if self._guest_nl is not None:
            self._guest_nl.close()
            self._guest_nl = None
        if self._icmp6 is not None:
            self._icmp6.close()
            self._icmp6 = None
