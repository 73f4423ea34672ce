"""``--direct-phys`` of a Wi-Fi NIC, for real: mac80211_hwsim makes a radio (a wiphy
and its ``wlan`` netdev) under Debian's stock kernel. pipework moves the wiphy into
the guest and renames the netdev there; ``detach`` (or a rollback) gives the phy back
with the netdev's original name. Checks read sysfs (``ip netns exec`` mounts the
guest's own), never ``iw``.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.conftest import addresses, in_ns, pipework, require, sh

HWSIM = "mac80211_hwsim"


def _wifi_netdevs() -> dict[str, str]:
    """The host's Wi-Fi netdevs: name -> name of their wiphy."""
    found = {}
    for netdev in Path("/sys/class/net").iterdir():
        phy = netdev / "phy80211" / "name"
        if phy.exists():
            found[netdev.name] = phy.read_text().strip()
    return found


def _module_present() -> bool:
    base = Path("/lib/modules") / os.uname().release / "kernel/drivers/net/wireless"
    return any(base.glob(f"{HWSIM}.ko*"))


@pytest.fixture
def radio() -> Iterator[tuple[str, str]]:
    """One simulated radio: (its netdev, its wiphy); the module goes afterwards."""
    require(_module_present(), f"{HWSIM} is not built for kernel {os.uname().release}")
    require(not Path(f"/sys/module/{HWSIM}").exists(), f"{HWSIM} is loaded already")
    before = set(_wifi_netdevs())
    sh("modprobe", HWSIM, "radios=1")
    try:
        deadline = time.monotonic() + 10
        new: dict[str, str] = {}
        while time.monotonic() < deadline and not new:
            new = {k: v for k, v in _wifi_netdevs().items() if k not in before}
            time.sleep(0.05)
        assert len(new) == 1, f"{HWSIM} radios=1 made {new}"
        yield next(iter(new.items()))
    finally:
        sh("modprobe", "-r", HWSIM, check=False)


def _records() -> list[str]:
    try:
        return os.listdir("/run/pipework/direct")
    except FileNotFoundError:
        return []


def _guest_phy(ns: str, ifname: str) -> str | None:
    res = in_ns(ns, "cat", f"/sys/class/net/{ifname}/phy80211/name", check=False)
    return res.stdout.strip() if res.returncode == 0 else None


def _host_state(nic: str) -> tuple[str, str, str]:
    base = Path("/sys/class/net") / nic
    return (
        (base / "phy80211" / "name").read_text().strip(),
        (base / "address").read_text().strip(),
        (base / "ifalias").read_text().strip(),
    )


def test_direct_phys_moves_a_wifi_nic_with_its_phy_and_detach_gives_it_back(make_netns, radio):
    nic, phy = radio
    ns = make_netns()
    before = _host_state(nic)

    res = pipework("-v", "--direct-phys", nic, "-i", "eth1", ns, "198.51.100.41/24")
    assert res.returncode == 0, res.stderr
    assert f"iw phy {phy} set netns name {ns}" in res.stderr
    assert nic not in _wifi_netdevs() and phy not in _wifi_netdevs().values()
    assert _guest_phy(ns, "eth1") == phy, "the netdev is in the guest, renamed, on its phy"
    assert addresses("eth1", netns=ns) == ["198.51.100.41/24"]

    res = pipework("detach", ns, "--ifname", "eth1")
    assert res.returncode == 0, res.stderr
    assert _guest_phy(ns, "eth1") is None
    assert _wifi_netdevs().get(nic) == phy, "back on the host under its own name"
    assert _host_state(nic) == before
    assert not _records()


def test_a_failed_attach_gives_the_phy_back_as_it_was(make_netns, radio):
    nic, phy = radio
    ns = make_netns()
    before = _host_state(nic)
    # steps: move the phy, rename the netdev in the guest, set its MAC; fail after them
    res = pipework(
        "--direct-phys", nic, "-i", "eth1", ns, "198.51.100.42/24", "02:00:c6:33:64:2a",
        env={"PIPEWORK_INJECT_FAULT": "4"},
    )  # fmt: skip
    assert res.returncode == 1 and "injected fault at step 4" in res.stderr, res.stderr
    assert _guest_phy(ns, "eth1") is None
    assert _wifi_netdevs().get(nic) == phy
    assert _host_state(nic) == before
    assert not _records(), "the record of the move went with the rollback"


#: what root in the guest may do with a phy that is its own now: send it on elsewhere
_SEND_PHY_ON = """
import os, sys
from pipework.nl80211 import Nl80211
fd = os.open(sys.argv[2], os.O_RDONLY)
with Nl80211() as wifi:
    wifi.move_wiphy(int(sys.argv[1]), fd, obj="the phy")
"""


def test_detach_moves_nothing_for_a_forged_mark_at_the_moved_nics_index(make_netns, radio):
    """The guest sends the phy on to a namespace of its own, then gives a dummy the
    moved NIC's index and pipework's mark: the host-side record matches that index,
    but the recorded wiphy is not in the guest, so nothing is moved or renamed."""
    nic, phy = radio
    ns, elsewhere = make_netns(), make_netns()
    res = pipework("--direct-phys", nic, "-i", "eth1", ns, "198.51.100.43/24")
    assert res.returncode == 0, res.stderr
    index = in_ns(ns, "cat", "/sys/class/net/eth1/ifindex").stdout.strip()
    wiphy = in_ns(ns, "cat", "/sys/class/net/eth1/phy80211/index").stdout.strip()
    mark = in_ns(ns, "cat", "/sys/class/net/eth1/ifalias").stdout.strip()
    in_ns(ns, sys.executable, "-c", _SEND_PHY_ON, wiphy, f"/run/netns/{elsewhere}")
    assert _guest_phy(elsewhere, "eth1") == phy
    in_ns(ns, "ip", "link", "add", "eth1", "index", index, "type", "dummy")
    in_ns(ns, "ip", "link", "set", "eth1", "alias", mark)

    res = pipework("detach", ns, "--ifname", "eth1")
    assert res.returncode == 1, res.stderr
    assert "is not in the guest" in res.stderr and "stays in the guest" in res.stderr
    assert in_ns(ns, "cat", "/sys/class/net/eth1/ifindex").stdout.strip() == index
    assert _guest_phy(elsewhere, "eth1") == phy and nic not in _wifi_netdevs()


DOCS = Path(__file__).resolve().parents[2] / "docs" / "traps.md"


def test_the_wifi_example_of_the_docs_runs_as_written(make_netns, radio):
    """The only changes: wlan0 is the simulated radio's netdev, red a named netns."""
    nic, phy = radio
    red = make_netns()
    text = DOCS.read_text()
    block = text[text.index("* **Wi-Fi.**") :].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [shlex.split(line) for line in block.splitlines() if line.strip()]
    assert [w[:2] for w in lines] == [["pipework", "--direct-phys"], ["pipework", "detach"]]
    names = {"wlan0": nic, "red": red}
    attach, detach = ([names.get(w, w) for w in words[1:]] for words in lines)
    res = pipework(*attach)
    assert res.returncode == 0, res.stderr
    assert _guest_phy(red, nic) == phy
    res = pipework(*detach)
    assert res.returncode == 0, res.stderr
    assert _wifi_netdevs().get(nic) == phy and _guest_phy(red, nic) is None
