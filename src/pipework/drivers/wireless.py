"""Wi-Fi NICs: what sysfs says about them, and what that means for a macvlan or a move.

An access point (and the 802.11 standard's three-address frames) accepts frames
from the one MAC address that associated: a macvlan's own MACs are dropped
upstream, so its guests get no DHCP lease and no traffic. An ipvlan (``l2``)
shares the parent's MAC and works. A Wi-Fi netdev cannot change namespace by
itself either (the kernel marks it netns-local): its wiphy moves, and every
interface of that phy with it (``iw phy PHY set netns``).
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


def direct_refusal(name: str, phy: str) -> str:
    """Why ``--direct-phys`` does not move a Wi-Fi NIC, and how to move it."""
    which = phy or "its phy (iw dev " + name + " info)"
    return (
        f"{name} is a Wi-Fi interface: the kernel moves it only with its wiphy {which}, "
        f"and every interface of that phy with it: iw phy {phy or 'PHY'} set netns PID "
        "(needs iw, and the guest's PID), then pipework's addresses with the guest's "
        "interface name; or an ipvlan on it (--ipvlan-mode l2). See docs/traps.md"
    )
