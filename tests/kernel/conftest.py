"""The kernel lane: tests that need kinds this machine's kernel lacks, run inside a
qemu VM booting Debian's stock kernel (tests/kernel/run; see vm.py).

They use the integration lane's fixtures, including the check that every test
leaves the (VM's) host as it found it. Outside the VM they refuse to run: on a
kernel without these kinds they would only fail.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from tests.integration.conftest import (  # noqa: F401  (fixtures, found by name)
    bridge_name,
    cleanup,
    make_bridge,
    make_netns,
    nic,
    ovs_bridge,
    root_and_host_unchanged,
)

IN_VM = os.environ.get("PIPEWORK_IN_VM") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if IN_VM:
        return
    skip = pytest.mark.skip(reason="kernel lane: run it with tests/kernel/run (boots a VM)")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def ovs_kernel_datapath() -> Iterator[None]:
    """Open vSwitch with the kernel datapath, started fresh in the VM."""
    # The VM sees the host's OVS database through its overlay; start from an empty one.
    for path in ("/etc/openvswitch/conf.db", "/var/lib/openvswitch/conf.db"):
        if os.path.exists(path):
            os.remove(path)
    # The userspace datapath's bridge ports are tap devices; without systemd nobody
    # made /dev/net/tun, whose first open would load the module.
    subprocess.run(["modprobe", "tun"], check=True, capture_output=True, timeout=60)
    subprocess.run(
        ["/usr/share/openvswitch/scripts/ovs-ctl", "start", "--system-id=random"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    yield
    subprocess.run(
        ["/usr/share/openvswitch/scripts/ovs-ctl", "stop"],
        check=False,
        capture_output=True,
        timeout=60,
    )
