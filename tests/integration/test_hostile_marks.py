"""Hostile guests and pipework's marks (issue 10, item 3).

Root inside a guest can set any alias on its own interfaces, including one that
reads exactly like pipework's mark of a NIC moved in with --direct-phys, and can
rename, re-index and replace interfaces. What pipework does on the host side
(give an interface back, under a name, MAC and alias) must follow only the
host-side record, and only for the very interface it moved.
"""

from __future__ import annotations

import os

from .conftest import addresses, in_ns, link, pipework, sh, unique

STATE = "/run/pipework/direct"


def _inode(ns: str) -> int:
    return os.stat(f"/run/netns/{ns}").st_ino


def _forged_mark(ns: str, ifname: str, orig: str) -> str:
    # every field the old mark carried, chosen by the guest
    return (
        f"pipework kind=direct guest=netns:{ns} if={ifname} ns={_inode(ns)} "
        f"orig={orig} origmac=02:00:00:5e:00:66 origalias=owned"
    )


def test_a_forged_direct_mark_moves_nothing_to_the_host(make_netns, cleanup):
    ns = make_netns()
    host_name = unique("pwtevil")[:15]
    cleanup.add(f"link {host_name}", lambda: sh("ip", "link", "del", host_name, check=False))
    # the guest makes a veth pair of its own and marks one end as a NIC pipework moved
    in_ns(ns, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "back")
    in_ns(ns, "ip", "link", "set", "eth1", "alias", _forged_mark(ns, "eth1", host_name))

    res = pipework("detach", ns, "--all")
    assert res.returncode == 0, res.stderr
    assert "carries pipework's mark of a moved NIC, but pipework never moved it" in res.stderr
    assert link(host_name) is None, "a guest's own interface was moved onto the host"
    assert link("eth1", netns=ns) is not None, "the guest's interface was touched"

    # asked for by name, it is an error that says why
    res = pipework("detach", ns, "--ifname", "eth1")
    assert res.returncode == 1
    assert "pipework never moved it; it stays in the guest" in res.stderr
    assert link(host_name) is None


def test_a_nic_swapped_for_a_lookalike_is_not_given_back(make_netns, nic, cleanup):
    """The guest hides the NIC pipework moved in and puts in its place an interface
    with the same name, index, MAC and mark: the host-side record matches the index,
    but the kernel says the lookalike is linked elsewhere; it stays in the guest."""
    guest, hideout = make_netns(), make_netns()
    phys = nic(mac="02:00:00:5e:00:72")
    res = pipework("--direct-phys", phys, guest, "198.51.100.95/24")
    assert res.returncode == 0, res.stderr
    real = link("eth1", netns=guest)
    assert real is not None
    index, alias = str(real["ifindex"]), str(real["ifalias"])

    # the guest's moves: the real NIC into a namespace of its own, a veth in its place
    in_ns(guest, "ip", "link", "set", "eth1", "netns", hideout)
    in_ns(guest, "ip", "link", "add", "eth1", "index", index, "address", "02:00:00:5e:00:72",
          "type", "veth", "peer", "name", "back")  # fmt: skip
    in_ns(guest, "ip", "link", "set", "eth1", "alias", alias)
    assert str(link("eth1", netns=guest)["ifindex"]) == index  # type: ignore[index]

    res = pipework("detach", guest)
    assert res.returncode == 1
    assert "it is not linked where the NIC pipework moved was" in res.stderr
    assert link(phys) is None, "the lookalike was given back to the host as the NIC"
    assert link("eth1", netns=guest) is not None

    # the real one, back where pipework put it, is given back as it was
    in_ns(guest, "ip", "link", "del", "eth1")
    in_ns(hideout, "ip", "link", "set", "eth1", "netns", guest)
    res = pipework("detach", guest)
    assert res.returncode == 0, res.stderr
    back = link(phys)
    assert back is not None and back["address"] == "02:00:00:5e:00:72"
    assert not os.listdir(STATE) if os.path.isdir(STATE) else True


def test_the_record_is_the_truth_not_the_guests_alias(make_netns, nic):
    """The guest rewrites the mark's fields on the real NIC: the NIC still goes back
    under its own name, MAC and alias, from the host-side record."""
    guest = make_netns()
    phys = nic(mac="02:00:00:5e:00:73")
    sh("ip", "link", "set", phys, "alias", "uplink")
    assert pipework("--direct-phys", phys, guest, "198.51.100.96/24").returncode == 0
    in_ns(guest, "ip", "link", "set", "eth1", "alias", _forged_mark(guest, "eth1", "pwtother"))
    in_ns(guest, "ip", "link", "set", "eth1", "address", "02:00:00:5e:00:99")

    res = pipework("detach", guest)
    assert res.returncode == 0, res.stderr
    assert link("pwtother") is None
    back = link(phys)
    assert back is not None and back["ifalias"] == "uplink"
    assert addresses(phys) == []


def test_gc_forgets_records_of_guests_that_are_gone(make_netns, nic):
    guest = make_netns()
    phys = nic()
    assert pipework("--direct-phys", phys, guest, "198.51.100.97/24").returncode == 0
    inode = _inode(guest)
    records = [n for n in os.listdir(STATE) if n.startswith(f"{inode}-")]
    assert len(records) == 1
    sh("ip", "netns", "del", guest)  # the veth NIC goes with its namespace

    res = pipework("gc")
    assert res.returncode == 0, res.stderr
    assert not [n for n in os.listdir(STATE) if n.startswith(f"{inode}-")]
