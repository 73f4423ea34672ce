"""A NETLINK_ROUTE socket: send a request and wait for its ack, or dump a table; and the
typed operations over it (``link(name) -> Link | None``, ``delete_link(...)``...), so no
caller slices a reply, and what counts as "already gone" is decided here once.

Built on the C ``_socket`` module: the ``socket`` wrapper imports ``enum`` and
``selectors``, which cost more than every netlink request of an attach together.
Kernel errors become ``NetlinkError`` carrying the errno, the operation and the
object, plus the kernel's own extended-ack message when it sends one.
"""

from __future__ import annotations

import os
from _socket import SOCK_CLOEXEC, SOCK_RAW, socket
from _struct import Struct
from errno import EEXIST, EINTR, EINVAL, ENOBUFS, ENODEV, ENOENT

from ..errors import NetlinkError
from . import messages as m
from .codec import NLMSGHDR, DecodeError, pack_message, split_attrs, split_messages

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..inet import IPInterface
    from ..netns import NetNS
    from .messages import Address, Link, Request, Route

    #: one reply: its message type, and where its body lies in the datagram
    Reply = tuple[int, bytes, int, int]

_S32 = Struct("=i")
AF_NETLINK = 16
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_DUMP_INTR = 0x10
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200
NLMSGERR_ATTR_MSG = 1
MSG_TRUNC = 0x20
RECV_SIZE = 1 << 16  # larger than any skb the kernel builds for a dump (32 KiB)
_DUMP_RETRIES = 5
#: errnos of a link that is not there
LINK_GONE = (ENODEV,)
#: ... and of a peer namespace (IFLA_TARGET_NETNSID) that is being torn down
PEER_GONE = (ENODEV, ENOENT, EINVAL)


class NetlinkSocket:
    """One rtnetlink socket, bound to the namespace it was created in."""

    __slots__ = ("_seq", "_sock", "label")

    def __init__(self, label: str = "host", groups: int = 0, *, strict: bool = False) -> None:
        """``strict`` turns on the kernel's strict checking of requests, which is also
        what makes it honour filters and target namespaces in dump requests."""
        self._sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)
        self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        if strict:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
        self._sock.bind((0, groups))
        self._seq = int.from_bytes(os.urandom(2), "big") << 8
        self.label = label

    @classmethod
    def inside(cls, ns: NetNS) -> NetlinkSocket:
        """A socket living in ``ns`` (it stays there after we return to our own)."""
        from ..netns import inside

        with inside(ns):
            return cls(ns.label)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> NetlinkSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, msg_type: int, flags: int, body: bytes) -> int:
        self._seq += 1
        self._sock.sendto(pack_message(msg_type, flags, self._seq, body), (0, 0))
        return self._seq

    def _recv(self) -> bytes:
        data, _anc, msg_flags, _addr = self._sock.recvmsg(RECV_SIZE)
        if msg_flags & MSG_TRUNC:
            raise DecodeError("netlink reply truncated")
        return data

    def drain(self) -> None:
        """Read and drop one datagram (multicast notifications a waiter only counts).

        ENOBUFS means notifications were lost while we were not reading: for a
        waiter that only looks again, that is one more reason to look again.
        """
        try:
            self._recv()
        except OSError as exc:
            if exc.errno != ENOBUFS:
                raise

    def request(self, req: Request, *, op: str, obj: str) -> list[Reply]:
        """Send one request with NLM_F_ACK and wait for its ack.

        Returns the replies that came before the ack (a GET answers with one).
        """
        msg_type, flags, body = req
        seq = self._send(msg_type, flags | m.NLM_F_ACK, body)
        replies: list[Reply] = []
        while True:
            data = self._recv()
            for rtype, rflags, rseq, start, end in split_messages(data):
                if rseq != seq:
                    continue  # a late answer to an earlier request; not ours
                if rtype == NLMSG_ERROR:
                    self._check_error(data, rflags, start, end, op, obj)
                    return replies
                replies.append((rtype, data, start, end))

    def dump(self, req: Request, *, op: str, obj: str = "") -> list[Reply]:
        """Run a dump to NLMSG_DONE; restart it if the kernel says it was interrupted."""
        msg_type, flags, body = req
        for _attempt in range(_DUMP_RETRIES):
            seq = self._send(msg_type, flags | m.NLM_F_DUMP, body)
            replies: list[Reply] = []
            interrupted = False
            done = False
            while not done:
                data = self._recv()
                for rtype, rflags, rseq, start, end in split_messages(data):
                    if rseq != seq:
                        continue
                    if rflags & NLM_F_DUMP_INTR:
                        interrupted = True
                    if rtype == NLMSG_DONE:
                        done = True
                        break
                    if rtype == NLMSG_ERROR:
                        self._check_error(data, rflags, start, end, op, obj)
                        done = True
                        break
                    replies.append((rtype, data, start, end))
            if not interrupted:
                return replies
        raise NetlinkError(
            EINTR, op, obj, hint="the table kept changing during the dump; try again"
        )

    def _check_error(
        self, data: bytes, flags: int, start: int, end: int, op: str, obj: str
    ) -> None:
        if end - start < 4:
            raise DecodeError("truncated netlink error message")
        code = _S32.unpack_from(data, start)[0]  # host byte order, like all of netlink
        if code == 0:
            return
        message = None
        if flags & NLM_F_ACK_TLVS:
            # error code, then the original header (CAP_ACK: header only), then TLVs
            inner_len = NLMSGHDR.unpack_from(data, start + 4)[0] if end - start >= 20 else 16
            tlv_start = start + 4 + (16 if flags & NLM_F_CAPPED else inner_len)
            if tlv_start <= end:
                try:
                    raw = split_attrs(data, tlv_start, end).get(NLMSGERR_ATTR_MSG)
                except DecodeError:
                    raw = None
                if raw:
                    message = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        raise NetlinkError(-code, op, obj, kernel_message=message)

    # -- typed operations: one call, one record, or None when the object is gone

    def link(
        self,
        name: str | None = None,
        *,
        index: int = 0,
        netnsid: int | None = None,
        obj: str | None = None,
    ) -> Link | None:
        """The link called ``name`` (or with ``index``), or None when there is none.

        ``netnsid`` reads it from another namespace, named by its id as the socket's
        namespace knows it (IFLA_LINK_NETNSID of a veth's host end)."""
        try:
            replies = self.request(
                m.get_link(name, index, netnsid=netnsid),
                op="look up",
                obj=obj or name or f"interface {index}",
            )
        except NetlinkError as exc:
            if exc.errno in (LINK_GONE if netnsid is None else PEER_GONE):
                return None
            raise
        return m.parse_link(*replies[0][1:]) if replies else None

    def nsid(self, netns_fd: int, *, obj: str, assign: bool = False) -> int | None:
        """The id this socket's namespace has for the namespace ``netns_fd`` (what
        IFLA_LINK_NETNSID says of links pointing there); None when it has none, unless
        ``assign``: then one is assigned now."""
        replies = self.request(m.get_nsid(netns_fd), op="look up the namespace id of", obj=obj)
        nsid = m.parse_nsid(*replies[0][1:]) if replies else None
        if nsid is None and assign:
            try:
                self.request(m.new_nsid(netns_fd), op="assign a namespace id to", obj=obj)
            except NetlinkError as exc:
                if exc.errno != EEXIST:  # assigned meanwhile (by the kernel, for a dump)
                    raise
            return self.nsid(netns_fd, obj=obj)
        return nsid

    def links(self, *, obj: str = "") -> list[Link]:
        """Every link of the socket's namespace."""
        return [m.parse_link(*r[1:]) for r in self.dump(m.dump_links(), op="list links", obj=obj)]

    def addresses(
        self, family: int = m.AF_UNSPEC, *, netnsid: int | None = None, obj: str = ""
    ) -> list[Address]:
        """Every address of the socket's namespace (or of the peer namespace ``netnsid``,
        empty when that namespace is going away)."""
        try:
            replies = self.dump(
                m.dump_addresses(family, netnsid=netnsid), op="list addresses", obj=obj
            )
        except NetlinkError as exc:
            if netnsid is None or exc.errno not in PEER_GONE:
                raise
            return []
        return [m.parse_address(*r[1:]) for r in replies]

    def routes(self, family: int = m.AF_UNSPEC, *, obj: str = "") -> list[Route]:
        return [
            m.parse_route(*r[1:])
            for r in self.dump(m.dump_routes(family), op="list routes", obj=obj)
        ]

    def default_routes(self, family: int, *, obj: str) -> list[tuple[Route, Request]]:
        """The unicast default routes of the main table, each with the request that puts
        it back exactly as it was (every attribute: metrics, nexthops, expiry...)."""
        found = []
        for _type, data, start, end in self.dump(m.dump_routes(family), op="list routes", obj=obj):
            route = m.parse_route(data, start, end)
            if (
                route.dst_len == 0
                and route.table == m.RT_TABLE_MAIN
                and route.type == m.RTN_UNICAST
            ):
                found.append((route, m.replay_route(data, start, end)))
        return found

    def ensure_address(self, index: int, iface: IPInterface, *, obj: str) -> bool:
        """Put ``iface`` on link ``index`` (IPv4 with its broadcast, IPv6 without DAD:
        an address asked for works at once); False when it was there already."""
        try:
            self.request(address_request(index, iface), op="add address", obj=obj)
        except NetlinkError as exc:
            if exc.errno != EEXIST:
                raise
            return False
        return True

    def create_link(self, req: Request, *, name: str, op: str, obj: str) -> Link | None:
        """Create a link and read it back in the same round trip (NLM_F_ECHO, kernel >= 6.1),
        on older kernels with one more request by name; None if it is already gone."""
        msg_type, flags, body = req
        replies = self.request((msg_type, flags | m.NLM_F_ECHO, body), op=op, obj=obj)
        for rtype, data, start, end in replies:
            if rtype == m.RTM_NEWLINK:
                return m.parse_link(data, start, end)
        return self.link(name)

    def delete_link(
        self,
        index: int = 0,
        *,
        name: str | None = None,
        obj: str,
        missing_ok: bool = True,
    ) -> bool:
        """Delete a link by index (or by name); False when it was gone already (a guest
        that exited takes its interfaces with it), unless ``missing_ok`` is False."""
        req = m.delete_link_by_name(name) if name is not None else m.delete_link(index)
        try:
            self.request(req, op="delete", obj=obj)
        except NetlinkError as exc:
            if not missing_ok or exc.errno not in LINK_GONE:
                raise
            return False
        return True


def address_request(index: int, iface: IPInterface) -> m.Request:
    """RTM_NEWADDR for ``iface`` on link ``index``: IPv4 with its broadcast, IPv6
    without DAD (an address asked for works at once)."""
    brd = iface.broadcast()
    return m.add_address(
        index,
        iface.address.af,
        iface.address.packed,
        iface.prefixlen,
        broadcast=brd.packed if brd else None,
        nodad=iface.family == 6,
    )
