"""What the steps of one attach share: the request, the guest, the sockets, and what
the steps have made so far; and how ``-v`` shows a step run inside the guest.

Everything a plan is built from is fixed when the context is made (the request
with its driver's defaults, the pinned guest, the driver, the host-side name), so
building a plan changes nothing. The fields after that are the steps' results,
each written by the one step that makes the thing it names. The guest-side sockets
are opened lazily and together, in one short visit to the guest's namespace; the
host socket may be shared by many attaches (the batch API).
"""

from __future__ import annotations

from _socket import AF_INET6, SOCK_CLOEXEC, SOCK_RAW, socket
from errno import EAFNOSUPPORT

from ..errors import HostStateError
from ..netlink.socket import NetlinkSocket
from ..netns import NetNS, inside

TYPE_CHECKING = False
IPPROTO_ICMPV6 = 58

if TYPE_CHECKING:
    from ..dhcp.client import Lease, Session
    from ..drivers.base import Driver
    from ..model import AttachSpec, Guest
    from ..netlink.messages import Link


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
        "driver",
        "finishing",
        "guest",
        "guest_index",
        "guest_link",
        "host",
        "host_ifname",
        "host_link",
        "lease",
        "spec",
        "unchanged",
        "uplink",
    )

    def __init__(
        self,
        spec: AttachSpec,
        guest: Guest,
        host: NetlinkSocket,
        driver: Driver,
        uplink: Link | None,
        *,
        arp_from_host: bool = False,
    ) -> None:
        # -- fixed before planning
        self.spec = driver.with_defaults(spec)
        self.guest = guest
        self.host = host
        self.driver = driver
        #: the host end's name, for kinds that have one
        self.host_ifname = driver.host_ifname(self.spec, guest)
        #: attach_many sends the gratuitous ARPs from the host (announce.HostAnnouncer)
        self.arp_from_host = arp_from_host
        # -- made by the steps
        #: the host interface the guest hangs off: a bridge, an OVS bridge, a parent NIC
        #: (the driver's step that creates a missing bridge sets it, and created_bridge)
        self.uplink = uplink
        self.created_bridge = False
        #: the host end of a veth and the peer's index in the guest (drivers/veth.py)
        self.host_link: Link | None = None
        self.guest_index: int | None = None
        #: the guest interface once looked up (guest_end)
        self.guest_link: Link | None = None
        #: arp_notify as it was before link-up turned it on (plan.py)
        self.arp_notify_before: int | None = None
        #: the built-in DHCP client's session and lease, DNS of a DHCPv6 lease (dhcp/steps.py)
        self.dhcp_session: Session | None = None
        self.lease: Lease | None = None
        self.dns: tuple[list[str], str | None] | None = None
        #: the same attachment already existed (idempotency): nothing was changed
        self.unchanged = False
        #: an attachment a killed run left half-done is being finished (drivers/veth.py):
        #: steps find some of their work done already
        self.finishing = False
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
            raise OSError(EAFNOSUPPORT, "IPv6 is not available in the guest")
        return self._icmp6

    def guest_end(self) -> Link:
        """The guest interface of this attach, found by the index the kernel gave it.

        By index, not by name: a name inside the guest could be renamed or replaced
        in between, and pipework must only ever configure the link it created.
        """
        if self.guest_link is not None:
            return self.guest_link
        name = self.spec.container_ifname
        obj = f"{name} in {self.guest.label}"
        # by index; by name only on kernels that do not report the peer's index
        if self.guest_index:
            link = self.guest_nl.link(index=self.guest_index, obj=obj)
        else:
            link = self.guest_nl.link(name, obj=obj)
        if link is None or link.name != name:
            raise HostStateError(
                f"{name} in {self.guest.label} is not the interface pipework just created "
                "(was it renamed?)"
            )
        self.guest_link = link
        self.guest_index = link.index
        return link

    def in_guest(self, command: str) -> str:
        """Render a command as run inside the guest, for ``-v`` output."""
        return in_guest(self.guest, command)

    @property
    def ns_word(self) -> str:
        """How ``ip link … netns WORD`` names the guest, for ``-v`` output."""
        return ns_word(self.guest)

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


# -- how ``-v`` shows the steps: each one as the ``ip`` command that would do the same.
# A step run inside a guest is shown the way a user would run it there: ``ip -n NAME``
# for a named netns, ``nsenter -t PID -n`` for a process, ``nsenter --net=PATH`` for a
# namespace file.


def in_guest(guest: Guest, command: str) -> str:
    """``command`` as run inside ``guest``."""
    if guest.runtime == "netns" and not guest.name.startswith("/"):
        if command.startswith("ip "):
            return command.replace("ip ", f"ip -n {guest.name} ", 1)
        return f"ip netns exec {guest.name} {command}"
    return f"{nsenter(guest)} {command}"


def nsenter(guest: Guest) -> str:
    """The ``nsenter`` words that enter the guest's network namespace."""
    if guest.pid is not None:
        return f"nsenter -t {guest.pid} -n"
    return f"nsenter --net={guest.netns.path}"


def ns_word(guest: Guest) -> str:
    """How ``ip link … netns WORD`` names the guest: its pid, or its netns name."""
    return str(guest.pid) if guest.pid is not None else guest.name
