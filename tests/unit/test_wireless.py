"""The Wi-Fi check is a function of sysfs: a recorded tree of a Wi-Fi NIC says yes,
the kernel's own tree for an interface that is not Wi-Fi says no.

No Wi-Fi hardware (nor mac80211_hwsim) is on the test machines: the positive cases
are a sysfs tree recorded from a laptop's iwlwifi NIC and an old wireless-extensions
driver, rebuilt here with the same links.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipework.drivers.wireless import direct_refusal, macvlan_warning, wireless_phy


def _recorded_tree(root: Path, *, phy: bool = True) -> str:
    """class/net/wlp2s0 -> ../../devices/pci0000:00/0000:00:14.3/net/wlp2s0, with
    wireless/ and (cfg80211 drivers) phy80211 -> ../../ieee80211/phy0."""
    device = root / "devices/pci0000:00/0000:00:14.3"
    netdev = device / "net/wlp2s0"
    (netdev / "wireless").mkdir(parents=True)
    if phy:
        (device / "ieee80211/phy0").mkdir(parents=True)
        (device / "ieee80211/phy0/name").write_text("phy0\n")
        os.symlink("../../ieee80211/phy0", netdev / "phy80211")
    (root / "class/net").mkdir(parents=True)
    os.symlink("../../devices/pci0000:00/0000:00:14.3/net/wlp2s0", root / "class/net/wlp2s0")
    return str(root / "class/net")


def test_a_cfg80211_nic_is_wireless_with_its_phy(tmp_path):
    assert wireless_phy("wlp2s0", _recorded_tree(tmp_path)) == "phy0"


def test_a_wireless_extensions_only_nic_is_wireless_without_a_phy_name(tmp_path):
    assert wireless_phy("wlp2s0", _recorded_tree(tmp_path, phy=False)) == ""


def test_the_loopback_of_this_kernel_is_not_wireless():
    assert wireless_phy("lo") is None
    assert macvlan_warning("lo") is None


def test_the_macvlan_warning_names_the_ipvlan_way_out(tmp_path):
    warning = macvlan_warning("wlp2s0", _recorded_tree(tmp_path))
    assert warning is not None and "--ipvlan-mode l2" in warning and "wlp2s0" in warning


def test_direct_phys_refusal_says_how_to_move_the_phy():
    text = direct_refusal("wlp2s0", "phy0")
    assert "iw phy phy0 set netns" in text and "--ipvlan-mode l2" in text
