"""Wi-Fi NICs: what sysfs says about them, and what that means for a macvlan or a move.

An access point (and the 802.11 standard's three-address frames) accepts frames
from the one MAC address that associated: a macvlan's own MACs are dropped
upstream, so its guests get no DHCP lease and no traffic. An ipvlan (``l2``)
shares the parent's MAC and works. A Wi-Fi netdev cannot change namespace by
itself either (the kernel marks it netns-local): ``--direct-phys`` moves its wiphy
(``iw phy PHY set netns``, nl80211.py), and every interface of that phy goes with it.
A driver with only the old wireless extensions has no wiphy, and cannot move at all.
"""

from __future__ import annotations

import os

SYSFS_NET = "/sys/class/net"


def wireless_phy(name: str, root: str = SYSFS_NET) -> str | None:
    """None for a NIC that is not Wi-Fi; for one that is, the name of its wiphy (as
    ``iw phy`` names it), or "" when the driver shows only the old wireless extensions.

    ``root`` is a sysfs ``class/net`` directory: the kernel's, or a recorded tree.
    """
    base = os.path.join(root, name)
    try:
        with open(os.path.join(base, "phy80211", "name")) as f:
            return f.read().strip()
    except OSError:
        pass
    if os.path.isdir(os.path.join(base, "phy80211")) or os.path.isdir(
        os.path.join(base, "wireless")
    ):
        return ""
    return None


def macvlan_warning(name: str, root: str = SYSFS_NET) -> str | None:
    """The warning for a macvlan on ``name``, when it is a Wi-Fi NIC."""
    if wireless_phy(name, root) is None:
        return None
    return (
        f"{name} is a Wi-Fi interface: the access point drops frames from the macvlan's "
        "own MAC address, so the guest may get no DHCP lease and no traffic; an ipvlan "
        "shares the NIC's MAC and works (--ipvlan-mode l2). See docs/traps.md"
    )


def phy_interfaces(phy: str, root: str = SYSFS_NET) -> list[str]:
    """The interfaces of ``root`` (sysfs ``class/net``) that belong to the wiphy ``phy``:
    they all change namespace when it does."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [name for name in names if wireless_phy(name, root) == phy]


def phy_sharing_warning(name: str, phy: str, root: str = SYSFS_NET) -> str | None:
    """The warning for ``--direct-phys`` of ``name`` when its wiphy has other
    interfaces on the host, which the move takes into the guest too."""
    others = [other for other in phy_interfaces(phy, root) if other != name]
    if not others:
        return None
    return (
        f"{name} moves with its wiphy {phy}, and so do the other interfaces of {phy}: "
        f"{', '.join(others)} (they come back with detach)"
    )


def wext_refusal(name: str) -> str:
    """Why ``--direct-phys`` does not move a Wi-Fi NIC whose driver has no wiphy."""
    return (
        f"{name} is a Wi-Fi interface whose driver shows only the old wireless "
        "extensions (no phy80211 in sysfs): the kernel moves a Wi-Fi interface only "
        "with its wiphy, and this one has none; an ipvlan on it works "
        "(--ipvlan-mode l2). See docs/traps.md"
    )
