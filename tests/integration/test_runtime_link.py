"""``pipework link`` with a guest of every runtime here at one end (issue 11: every
runtime's guest works with every existing feature; test_runtime_matrix.py has the
host kinds this kernel has, this the veth between two guests).

The runtime's guest is named with its prefix, whose ``:`` the link end's
``GUEST:IFNAME`` must not be confused by.
"""

from __future__ import annotations

from .conftest import in_ns, link, pipework
from .test_runtime_containerd import task  # noqa: F401 (fixtures, asked for by name)
from .test_runtime_lxd import lxd_container, lxd_image, lxd_pid, lxd_socket  # noqa: F401
from .test_runtime_matrix import Guest, guest  # noqa: F401
from .test_runtime_nspawn import machine  # noqa: F401
from .test_runtime_podman import podman, podman_image  # noqa: F401


def test_a_link_joins_a_runtimes_guest_and_a_netns(guest: Guest, make_netns):  # noqa: F811
    peer = make_netns()
    res = pipework(
        "link", f"{guest.ref}:p2p0", f"{peer}:p2p0",
        "--ip-a", "198.51.100.101/30", "--ip-b", "198.51.100.102/30",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert guest.addresses("p2p0") == ["198.51.100.101/30"]
    assert guest.pings("198.51.100.102")
    assert in_ns(peer, "ping", "-c", "1", "-W", "3", "198.51.100.101").returncode == 0
    res = pipework("detach", guest.ref, "--ifname", "p2p0")
    assert res.returncode == 0, res.stderr
    assert guest.link("p2p0") is None
    assert link("p2p0", netns=peer) is None, "the pair's other end outlived it"
