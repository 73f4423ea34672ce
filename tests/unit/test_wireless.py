"""The Wi-Fi checks are a function of sysfs: a recorded tree of a Wi-Fi NIC says yes,
the kernel's own tree for an interface that is not Wi-Fi says no. And the nl80211
messages that move a wiphy (--direct-phys of a Wi-Fi NIC), byte for byte.

No Wi-Fi hardware (nor mac80211_hwsim) is on this machine: the positive cases are a
sysfs tree recorded from a laptop's iwlwifi NIC and an old wireless-extensions
driver, rebuilt here with the same links; tests/kernel/test_wifi_direct.py moves a
mac80211_hwsim radio for real under Debian's stock kernel.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipework.drivers import direct
from pipework.drivers.wireless import (
    macvlan_warning,
    phy_interfaces,
    phy_sharing_warning,
    wext_refusal,
    wireless_phy,
)
from pipework.errors import HostStateError
from pipework.netlink.genl import GENL_ID_CTRL, get_family
from pipework.nl80211 import (
    dump_wiphys_request,
    move_wiphy_request,
    parse_interface,
    parse_wiphys,
)


def _recorded_tree(root: Path, *, phy: bool = True, monitor: bool = False) -> str:
    """class/net/wlp2s0 -> ../../devices/pci0000:00/0000:00:14.3/net/wlp2s0, with
    wireless/ and (cfg80211 drivers) phy80211 -> ../../ieee80211/phy0; ``monitor``
    adds a second interface of phy0 (``iw phy phy0 interface add mon0 type monitor``),
    and there is always a wired NIC beside them."""
    device = root / "devices/pci0000:00/0000:00:14.3"
    (root / "class/net").mkdir(parents=True)
    if phy:
        (device / "ieee80211/phy0").mkdir(parents=True)
        (device / "ieee80211/phy0/name").write_text("phy0\n")
        (device / "ieee80211/phy0/index").write_text("0\n")
    for name in ("wlp2s0", "mon0") if monitor else ("wlp2s0",):
        netdev = device / "net" / name
        (netdev / "wireless").mkdir(parents=True)
        if phy:
            os.symlink("../../ieee80211/phy0", netdev / "phy80211")
        os.symlink(f"../../devices/pci0000:00/0000:00:14.3/net/{name}", root / "class/net" / name)
    wired = root / "devices/pci0000:00/0000:00:1f.6/net/eno1"
    wired.mkdir(parents=True)
    os.symlink("../../devices/pci0000:00/0000:00:1f.6/net/eno1", root / "class/net/eno1")
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


def test_a_wireless_extensions_only_nic_is_refused_naming_ipvlan():
    text = wext_refusal("wlp2s0")
    assert "wlp2s0" in text and "wireless extensions" in text and "--ipvlan-mode l2" in text


# -- the phy's other interfaces move with it -------------------------------------------


def test_the_interfaces_of_a_phy_are_read_from_sysfs(tmp_path):
    root = _recorded_tree(tmp_path, monitor=True)
    assert phy_interfaces("phy0", root) == ["mon0", "wlp2s0"]
    assert phy_interfaces("phy1", root) == []


def test_a_phy_with_one_interface_moves_without_a_warning(tmp_path):
    assert phy_sharing_warning("wlp2s0", "phy0", _recorded_tree(tmp_path)) is None


def test_moving_a_phy_with_two_interfaces_warns_naming_the_other(tmp_path):
    warning = phy_sharing_warning("wlp2s0", "phy0", _recorded_tree(tmp_path, monitor=True))
    assert warning is not None and "\n" not in warning
    assert "mon0" in warning and "phy0" in warning and "wlp2s0" in warning


# -- --direct-phys of a Wi-Fi NIC: claimed when it has a phy ----------------------------


def _claims(monkeypatch, phy: str | None) -> bool:
    from pipework.drivers import wireless

    monkeypatch.setattr(wireless, "wireless_phy", lambda name, root=None: phy)
    spec = SimpleNamespace(direct_phys=True)
    link = SimpleNamespace(name="wlp2s0", kind=None, master=None)
    return direct.DRIVER.claims(spec, link, "wlp2s0")  # type: ignore[arg-type]


def test_direct_phys_claims_a_wifi_nic_with_a_phy(monkeypatch):
    assert _claims(monkeypatch, "phy0") is True
    assert _claims(monkeypatch, None) is True  # wired


def test_direct_phys_refuses_a_wifi_nic_without_a_phy(monkeypatch):
    with pytest.raises(HostStateError, match="wireless extensions"):
        _claims(monkeypatch, "")


def test_iw_names_the_guest_by_pid_or_netns_name():
    netns = SimpleNamespace(path="/run/user/pwt/net")
    by_pid = SimpleNamespace(pid=4242, runtime="docker", name="web", netns=netns)
    named = SimpleNamespace(pid=None, runtime="netns", name="red", netns=netns)
    by_path = SimpleNamespace(pid=None, runtime="netns", name="/run/user/pwt/net", netns=netns)
    assert direct._iw_netns(by_pid) == "4242"  # type: ignore[arg-type]
    assert direct._iw_netns(named) == "name red"  # type: ignore[arg-type]
    assert direct._iw_netns(by_path) == "name /run/user/pwt/net"  # type: ignore[arg-type]


# -- the messages, byte for byte (include/uapi/linux/nl80211.h, genetlink.h) ------------


def _attr(type_id: int, payload: bytes) -> bytes:
    padded = payload + b"\0" * (-len(payload) % 4)
    return struct.pack("=HH", 4 + len(payload), type_id) + padded


def test_the_family_lookup_asks_the_controller_by_name():
    msg_type, _flags, body = get_family("nl80211")
    assert msg_type == GENL_ID_CTRL == 0x10
    # CTRL_CMD_GETFAMILY (3), version 1; CTRL_ATTR_FAMILY_NAME (2), NUL-terminated
    assert body == bytes([3, 1, 0, 0]) + _attr(2, b"nl80211\0")


def test_moving_a_wiphy_is_set_wiphy_netns_with_its_index_and_the_netns_fd():
    msg_type, _flags, body = move_wiphy_request(0x1F, 3, 7)
    assert msg_type == 0x1F  # the family id the kernel gave nl80211
    # NL80211_CMD_SET_WIPHY_NETNS (49); NL80211_ATTR_WIPHY (1); NL80211_ATTR_NETNS_FD (219)
    assert body == bytes([49, 1, 0, 0]) + _attr(1, struct.pack("=I", 3)) + _attr(
        219, struct.pack("=I", 7)
    )


def test_the_wiphy_list_is_a_split_dump():
    _type, _flags, body = dump_wiphys_request(0x1F)
    # NL80211_CMD_GET_WIPHY (1); NL80211_ATTR_SPLIT_WIPHY_DUMP (174), a flag
    assert body == bytes([1, 1, 0, 0]) + _attr(174, b"")


def _reply(*attrs: bytes) -> tuple[int, bytes, int, int]:
    body = bytes([7, 1, 0, 0]) + b"".join(attrs)  # NL80211_CMD_NEW_INTERFACE
    data = b"\xee" * 16 + body  # the nlmsghdr, which the parsers skip
    return 0x1F, data, 16, len(data)


def test_an_interface_reply_names_its_netdev_wiphy_and_wdev():
    wdev = (2 << 32) | 5
    iface = parse_interface(
        _reply(
            _attr(3, struct.pack("=I", 9)),
            _attr(4, b"wlan0\0"),
            _attr(1, struct.pack("=I", 2)),
            _attr(153, struct.pack("=Q", wdev)),
        )
    )
    assert iface is not None
    assert (iface.ifindex, iface.ifname, iface.wiphy, iface.wdev) == (9, "wlan0", 2, wdev)


def test_a_wdev_without_a_netdev_is_no_interface():
    p2p = _reply(_attr(1, struct.pack("=I", 2)), _attr(153, struct.pack("=Q", 2 << 32 | 6)))
    assert parse_interface(p2p) is None


def test_a_split_wiphy_dump_lists_each_wiphy_once_with_its_name():
    replies = [
        _reply(_attr(1, struct.pack("=I", 0)), _attr(2, b"phy0\0")),
        _reply(_attr(1, struct.pack("=I", 0))),  # the rest of phy0's capabilities
        _reply(_attr(1, struct.pack("=I", 4)), _attr(2, b"phy4\0")),
    ]
    assert parse_wiphys(replies) == {0: "phy0", 4: "phy4"}
