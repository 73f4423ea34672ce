"""The stdlib netlink core against an independent oracle (pyroute2), on real kernel objects."""

from __future__ import annotations

import pytest

from pipework.errors import NetlinkError
from pipework.netlink import messages as m
from pipework.netlink.socket import NetlinkSocket
from pipework.netns import NetNS

from .conftest import sh

pyroute2 = pytest.importorskip("pyroute2")


@pytest.fixture
def populated_ns(make_netns):
    """A namespace with a veth pair, addresses and routes to read back."""
    ns = make_netns()
    sh("ip", "-n", ns, "link", "add", "pwt-a", "type", "veth", "peer", "name", "pwt-b")
    sh("ip", "-n", ns, "link", "set", "pwt-a", "up", "mtu", "1400")
    sh("ip", "-n", ns, "link", "set", "pwt-a", "alias", "pipework test")
    sh("ip", "-n", ns, "addr", "add", "198.51.100.5/24", "dev", "pwt-a")
    sh("ip", "-n", ns, "addr", "add", "2001:db8::5/64", "dev", "pwt-a", "nodad")
    sh("ip", "-n", ns, "route", "add", "203.0.113.0/24", "via", "198.51.100.1")
    return ns


def _ours(ns: str) -> NetlinkSocket:
    handle = NetNS.open(f"/run/netns/{ns}", ns)
    try:
        return NetlinkSocket.inside(handle)
    finally:
        handle.close()


def test_link_dump_matches_pyroute2(populated_ns):
    with _ours(populated_ns) as nl, pyroute2.NetNS(populated_ns) as oracle:
        ours = {
            link.name: link
            for link in (
                m.parse_link(d, a, b) for _t, d, a, b in nl.dump(m.dump_links(), op="dump")
            )
        }
        theirs = {msg.get_attr("IFLA_IFNAME"): msg for msg in oracle.get_links()}
        assert set(ours) == set(theirs)
        for name, msg in theirs.items():
            link = ours[name]
            assert link.index == msg["index"]
            assert link.flags == msg["flags"]
            assert link.mtu == msg.get_attr("IFLA_MTU")
            assert (link.address or b"").hex(":") == (msg.get_attr("IFLA_ADDRESS") or "")
        assert ours["pwt-a"].alias == "pipework test"
        assert ours["pwt-a"].kind == "veth"


def test_address_dump_matches_pyroute2(populated_ns):
    with _ours(populated_ns) as nl, pyroute2.NetNS(populated_ns) as oracle:
        ours = sorted(
            (addr.index, bytes(addr.address or b"").hex(), addr.prefixlen)
            for addr in (
                m.parse_address(d, a, b) for _t, d, a, b in nl.dump(m.dump_addresses(), op="dump")
            )
        )
        import socket

        theirs = sorted(
            (
                msg["index"],
                socket.inet_pton(
                    socket.AF_INET6 if msg["family"] == 10 else socket.AF_INET,
                    msg.get_attr("IFA_ADDRESS"),
                ).hex(),
                msg["prefixlen"],
            )
            for msg in oracle.get_addr()
        )
        assert ours == theirs


def test_route_dumps_see_what_ip_added(populated_ns):
    with _ours(populated_ns) as nl:
        routes = nl.routes(m.AF_INET)
        via = [r for r in routes if r.dst == bytes([203, 0, 113, 0])]
        assert via and via[0].dst_len == 24 and via[0].gateway == bytes([198, 51, 100, 1])


def test_kernel_errors_name_errno_operation_object_and_kernel_message(populated_ns):
    with _ours(populated_ns) as nl, pytest.raises(NetlinkError) as info:
        nl.request(m.create_bridge("pwt-a", up=True), op="create bridge", obj="pwt-a")
    err = info.value
    assert err.errno == 17 and err.exit_code == 1
    assert str(err).startswith("create bridge pwt-a: EEXIST (File exists)")
