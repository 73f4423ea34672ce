"""VXLAN: guests on several hosts on one layer-2 segment, carried over UDP between them.

``--to vxlan:VNI`` (the original syntax: a host interface ``vxlanVNI`` that does not
exist) with ``--remote ADDR`` (the other host) or ``--group ADDR`` (a multicast
group of the underlay). Each host gets, once per segment, a Linux bridge
``brvx<VNI>`` (marked as every bridge pipework creates) whose port is the VXLAN
device ``vx<VNI>`` (marked ``pipework vxlan vni=VNI``); each guest then gets a veth
on that bridge, by the bridge kind's own steps. A second guest of the segment reuses
both; a device of that name that pipework did not make, or made for another remote,
port or underlay, is refused.

The encapsulation takes 50 bytes of every packet on an IPv4 underlay, 70 on IPv6:
the VXLAN device, hence the bridge and every guest on it, gets the underlay
device's MTU minus that (the device is ``--vxlan-dev``, or the one the route to the
remote goes through); an MTU asked with ``--mtu`` that the segment cannot carry is
refused.

When its last guest is gone, ``gc`` removes the segment: the bridge is unused when
its only port is the VXLAN device pipework made for it (``idle``'s checks otherwise),
and the device goes with it.
"""

from __future__ import annotations

from errno import EEXIST, EHOSTUNREACH, ENETUNREACH, EOPNOTSUPP

from ..errors import HostStateError, NetlinkError, UsageError
from ..marks import BRIDGE_MARK
from ..model import VNI_MAX, vxlan_names
from ..netlink import messages as m
from ..steps import Step
from .base import no_support
from .bridge import BridgeDriver, bridge_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..inet import IPAddress
    from ..model import AttachSpec
    from ..netlink.codec import Attrs
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback
    from .idle import Collection
    from .veth import UplinkHold

VXLAN_MARK = "pipework vxlan"
#: how long an attach waits for a concurrent attach to mark the device it just made
MARK_WAIT_S = 1.0
#: bytes the encapsulation adds: outer Ethernet 14, IP 20 (IPv6: 40), UDP 8, VXLAN 8
OVERHEAD = {4: 50, 6: 70}


def vxlan_mark(vni: int) -> str:
    """The alias of the VXLAN device pipework made for segment ``vni``."""
    return f"{VXLAN_MARK} vni={vni}"


def _number(text: str) -> int | None:
    """A VNI written in a name: decimal, no leading zero, 1 to VNI_MAX."""
    if not text.isdigit() or not text.isascii() or text.startswith("0"):
        return None
    value = int(text)
    return value if value <= VNI_MAX else None


def vni_of_name(name: str | None, prefix: str = "vxlan") -> int | None:
    """The VNI of ``vxlanVNI`` (or of ``brvxVNI``, ``vxVNI`` with that prefix)."""
    if name is None or not name.startswith(prefix):
        return None
    return _number(name[len(prefix) :])


def _ours(link: Link) -> bool:
    """A VXLAN device pipework made: named and marked for its segment. Only the host's
    root writes a host link's alias, so no guest can forge it."""
    vni = vni_of_name(link.name, "vx")
    return link.kind == "vxlan" and vni is not None and link.alias == vxlan_mark(vni)


class Segment:
    """What one attach knows of its segment, read when planning: names, the far end,
    the underlay and the MTU the segment carries."""

    __slots__ = (
        "bridge", "device", "mtu", "mtu_from", "overhead", "peer", "port", "spec", "underlay",
        "vni",
    )  # fmt: skip

    def __init__(self, spec: AttachSpec) -> None:
        assert spec.vni is not None
        self.spec = spec
        self.vni = spec.vni
        self.bridge, self.device = vxlan_names(spec.vni)
        peer = spec.vxlan_remote if spec.vxlan_remote is not None else spec.vxlan_group
        assert peer is not None
        self.peer: IPAddress = peer
        self.port = spec.vxlan_dstport or m.VXLAN_PORT
        self.overhead = OVERHEAD[peer.family]
        self.underlay: Link | None = None
        self.mtu = 0
        self.mtu_from = ""  # why the segment carries that much, for an error

    @property
    def peer_word(self) -> str:
        return "remote" if self.spec.vxlan_remote is not None else "group"

    def command(self) -> str:
        """The ``ip`` commands that make the device, for ``-v``."""
        spec = self.spec
        words = [f"ip link add {self.device} mtu {self.mtu} master {self.bridge} up type vxlan"]
        words.append(f"id {self.vni} {self.peer_word} {self.peer}")
        if spec.vxlan_local is not None:
            words.append(f"local {spec.vxlan_local}")
        words.append(f"dstport {self.port}")
        if self.link_underlay() and self.underlay is not None:
            words.append(f"dev {self.underlay.name}")
        return " ".join(words) + f" && ip link set {self.device} alias '{vxlan_mark(self.vni)}'"

    def link_underlay(self) -> bool:
        """Whether the device is tied to its underlay device: when one is named, and
        always for a group (the kernel joins the group on a device)."""
        return self.spec.vxlan_dev is not None or self.spec.vxlan_group is not None

    def read(self, host: NetlinkSocket, bridge: Link | None) -> Link | None:
        """The underlay and the MTU; the segment's device, when it exists already
        (``bridge``: the segment's bridge, when it does)."""
        spec = self.spec
        if spec.vxlan_dev is not None:
            self.underlay = host.link(spec.vxlan_dev, obj=f"underlay device {spec.vxlan_dev}")
            if self.underlay is None:
                raise HostStateError(f"no underlay device {spec.vxlan_dev} (--vxlan-dev)")
        else:
            self.underlay = _route_device(host, self.peer, self.peer_word)
        device = host.link(self.device, obj=f"VXLAN device {self.device}")
        if device is not None:
            self.check(device, bridge, planning=True)
            self.mtu = device.mtu or 0
            self.mtu_from = f"the MTU of its device {self.device}"
        else:
            underlay_mtu = self.underlay.mtu or 0
            self.mtu = underlay_mtu - self.overhead
            self.mtu_from = (
                f"{self.underlay.name}'s {underlay_mtu} minus {self.overhead} bytes "
                "of encapsulation"
            )
        return device

    def check(self, device: Link, bridge: Link | None, *, planning: bool = False) -> None:
        """Refuse a device of the segment's name that is not pipework's for this segment.

        Unmarked, it is pipework's only as a run killed between making it and marking
        it leaves it: already a port of the bridge pipework made for the segment (it is
        made a port in the request that makes it). When ``planning``, an unmarked one
        may be a concurrent attach's, marked a moment later: the step decides."""
        name = self.device
        if device.kind != "vxlan":
            raise HostStateError(
                f"{name} exists and is not a VXLAN device ({device.kind or 'interface'})",
                hint="pipework never changes an interface it did not create: remove or "
                "rename it to use VXLAN segment " + str(self.vni),
            )
        killed_half_way = (
            not device.alias
            and bridge is not None
            and bridge.alias == BRIDGE_MARK
            and device.master == bridge.index
        )
        if planning and not device.alias:
            killed_half_way = True
        if device.alias != vxlan_mark(self.vni) and not killed_half_way:
            raise HostStateError(
                f"VXLAN device {name} exists and pipework did not create it",
                hint="pipework never changes an interface it did not create",
            )
        differs = self.differences(device)
        if differs:
            raise HostStateError(
                f"VXLAN segment {self.vni} exists on this host differently: {'; '.join(differs)}",
                hint="detach its guests and run pipework gc to remove it, or give "
                "the same options as it was made with (pipework ls shows them)",
            )

    def differences(self, device: Link) -> list[str]:
        data = m.kind_data(device)
        if data is None:
            return ["the kernel does not say how it is set up"]
        found = _settings(data)
        spec = self.spec
        differs = []
        if found.get("vni") != self.vni:
            differs.append(f"its id is {found.get('vni')}, asked {self.vni}")
        peer = found.get("remote") or found.get("group")
        if peer != str(self.peer):
            differs.append(f"its {self.peer_word} is {peer or 'none'}, asked {self.peer}")
        if spec.vxlan_local is not None and found.get("local") != str(spec.vxlan_local):
            differs.append(f"its local address is {found.get('local') or 'none'}")
        if found.get("dstport") != self.port:
            differs.append(f"its port is {found.get('dstport')}, asked {self.port}")
        underlay = self.underlay.index if self.underlay is not None else None
        if spec.vxlan_dev is not None and data.get_int("IFLA_VXLAN_LINK") != underlay:
            differs.append(f"it is not on {spec.vxlan_dev}")
        return differs


def _route_device(host: NetlinkSocket, peer: IPAddress, word: str) -> Link:
    """The device the kernel routes ``peer`` through (``ip route get``)."""
    try:
        replies = host.request(
            m.get_route(peer.af, peer.packed), op="look up the route to", obj=f"VXLAN {word} {peer}"
        )
    except NetlinkError as exc:
        if exc.errno in (ENETUNREACH, EHOSTUNREACH):
            raise HostStateError(
                f"no route to the VXLAN {word} {peer}",
                hint="add a route to it, or name the underlay device with --vxlan-dev",
            ) from None
        raise
    oif = m.parse_route(*replies[0][1:]).oif if replies else None
    link = host.link(index=oif, obj="underlay device") if oif else None
    if link is None:
        raise HostStateError(
            f"the kernel names no device for the route to the VXLAN {word} {peer}",
            hint="name the underlay device with --vxlan-dev",
        )
    return link


def _settings(data: Attrs) -> dict[str, object]:
    """A VXLAN device's id, far end, local address and port, as ``ls`` shows them."""
    from _socket import AF_INET, AF_INET6, inet_ntop

    found: dict[str, object] = {"vni": data.get_int("IFLA_VXLAN_ID")}
    for attr, family in (("IFLA_VXLAN_GROUP", AF_INET), ("IFLA_VXLAN_GROUP6", AF_INET6)):
        packed = data.get_bytes(attr)
        if packed and any(packed):
            text = inet_ntop(family, packed)
            multicast = packed[0] >= 224 if family == AF_INET else packed[0] == 0xFF
            found["group" if multicast else "remote"] = text
    for attr, family in (("IFLA_VXLAN_LOCAL", AF_INET), ("IFLA_VXLAN_LOCAL6", AF_INET6)):
        packed = data.get_bytes(attr)
        if packed and any(packed):
            found["local"] = inet_ntop(family, packed)
    found["dstport"] = data.get_int("IFLA_VXLAN_PORT")
    return found


class VxlanDriver(BridgeDriver):
    kind = "vxlan"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        """A request for a segment; in the original syntax, a missing ``vxlanVNI``."""
        return spec.vni is not None or (link is None and vni_of_name(name) is not None)

    def check(self, spec: AttachSpec, link: Link | None) -> None:
        if spec.vni is None:
            raise UsageError(
                f"{spec.host_if} is a VXLAN segment: it needs --remote ADDR (the other "
                "host's underlay address) or --group ADDR (a multicast group)"
            )
        super().check(spec, link)

    def with_defaults(self, spec: AttachSpec) -> AttachSpec:
        """The segment's bridge is the host interface the bridge kind's steps plumb."""
        assert spec.vni is not None
        return spec.replace(host_if=vxlan_names(spec.vni)[0])

    def plan(self, ctx: AttachContext) -> list[Step]:
        segment = Segment(ctx.spec)
        bridge = ctx.host.link(segment.bridge, obj=f"bridge {segment.bridge}")
        if bridge is not None and bridge.kind != "bridge":
            raise HostStateError(
                f"{segment.bridge} exists and is not a bridge ({bridge.kind or 'interface'})",
                hint=f"pipework makes VXLAN segment {segment.vni} on a bridge of that name",
            )
        ctx.uplink = bridge
        segment.read(ctx.host, bridge)
        mtu = ctx.spec.mtu
        if mtu is not None and mtu > segment.mtu:
            raise UsageError(
                f"MTU {mtu} is more than VXLAN segment {segment.vni} carries: "
                f"{segment.mtu} ({segment.mtu_from})"
            )

        def device_steps(hold: UplinkHold | None) -> list[Step]:
            def ensure(rollback: Rollback) -> None:
                _ensure_device(ctx, segment, hold, rollback)

            return [Step(segment.command(), ensure)]

        return bridge_steps(ctx, ports=device_steps)

    def owns(self, link: Link, names: dict[int, str]) -> bool:
        master = names.get(link.master) if link.master else None
        return link.slave_kind == "bridge" and vni_of_name(master, "brvx") is not None

    def segment(
        self, link: Link, names: dict[int, str], host: NetlinkSocket
    ) -> dict[str, object] | None:
        """The VNI, far end, local address and port of the segment a host end is on."""
        vni = vni_of_name(names.get(link.master) if link.master else None, "brvx")
        if vni is None:
            return None
        _bridge, name = vxlan_names(vni)
        device = host.link(name, obj=f"VXLAN device {name}")
        data = m.kind_data(device) if device is not None and device.kind == "vxlan" else None
        if data is None:
            summary = f"vxlan {vni}, no device {name}"
            return {"kind": "vxlan", "vni": vni, "device": None, "summary": summary}
        found = _settings(data)
        far = "remote" if "remote" in found else "group"
        summary = f"vxlan {found['vni']} {far} {found.get(far, 'none')}"
        return {"kind": "vxlan", "device": name, **found, "summary": summary}

    def collect_into(self, found: Collection) -> None:
        """Remove the segments whose bridge nothing but their VXLAN device uses."""
        from ..netlink.socket import NetlinkSocket
        from .idle import under_gc_lock

        with NetlinkSocket() as nl:
            if any(_ours(link) for link in nl.links(obj="for gc")):
                what = "remove unused VXLAN segments"
                under_gc_lock(found, what, lambda: _remove_idle(nl, found))


DRIVER = VxlanDriver()


def _ensure_device(
    ctx: AttachContext, segment: Segment, hold: UplinkHold | None, rollback: Rollback
) -> None:
    """The segment's device, a port of its bridge, up: made when missing, else checked."""
    if hold is not None:
        hold.take(rollback)  # the bridge re-read under the lock (ctx.uplink)
    assert ctx.uplink is not None
    host = ctx.host
    # read again: a concurrent attach that made the bridge may have marked it since
    bridge = host.link(ctx.uplink.name, obj=f"bridge {ctx.uplink.name}") or ctx.uplink
    name = segment.device
    existing = host.link(name, obj=f"VXLAN device {name}")
    if existing is None:
        spec = ctx.spec
        peer = segment.peer.packed
        req = m.create_vxlan(
            name,
            segment.vni,
            remote=peer if spec.vxlan_remote is not None else None,
            group=peer if spec.vxlan_group is not None else None,
            local=spec.vxlan_local.packed if spec.vxlan_local is not None else None,
            port=segment.port,
            underlay=segment.underlay.index
            if segment.link_underlay() and segment.underlay is not None
            else None,
            mtu=segment.mtu,
            master=bridge.index,
            up=True,
        )
        try:
            made = host.create_link(req, name=name, op="create VXLAN device", obj=name)
        except NetlinkError as exc:
            if exc.errno == EOPNOTSUPP:
                raise no_support("VXLAN", exc) from None
            if exc.errno != EEXIST:
                raise
            existing = host.link(name, obj=f"VXLAN device {name}")  # another attach made it
            if existing is None:
                raise HostStateError(f"{name} vanished while pipework was making it") from None
        else:
            if made is None:
                raise HostStateError(f"VXLAN device {name} vanished right after pipework made it")
            index, bridge_index = made.index, bridge.index
            rollback.push(
                f"ip link del {name}", lambda: _delete_if_unused(ctx, index, name, bridge_index)
            )
            host.request(m.set_link(index, alias=vxlan_mark(segment.vni)), op="mark", obj=name)
    if existing is not None:
        if not existing.alias:
            existing, bridge = _wait_for_mark(host, existing, bridge)
        segment.check(existing, bridge)
        if existing.master not in (None, bridge.index):
            raise HostStateError(
                f"VXLAN device {name} is a port of another bridge than {bridge.name}"
            )
        mark = vxlan_mark(segment.vni)
        if existing.alias != mark:
            # made by a run killed before it marked it: the same settings, so it is ours
            host.request(m.set_link(existing.index, alias=mark), op="mark", obj=name)
        if existing.master is None or not existing.is_up:
            host.request(
                m.set_link(existing.index, up=True, master=bridge.index),
                op=f"put on {bridge.name}",
                obj=f"VXLAN device {name}",
            )
    # the bridge's MTU follows its ports': the veth is made with it
    ctx.uplink = host.link(bridge.name, obj=f"bridge {bridge.name}") or bridge


def _wait_for_mark(host: NetlinkSocket, device: Link, bridge: Link) -> tuple[Link, Link]:
    """The device and bridge again once the device carries a mark, or as they are after
    a short, bounded wait: a concurrent attach marks the device it made a moment after
    making it (and its bridge before that, but after another attach may have seen it)."""
    import time

    deadline = time.monotonic() + MARK_WAIT_S
    while not device.alias and time.monotonic() < deadline:
        time.sleep(0.01)
        again = host.link(device.name, obj=f"VXLAN device {device.name}")
        if again is None or again.index != device.index:
            break  # gone or replaced: the checks say what it is now
        device = again
    bridge = host.link(bridge.name, obj=f"bridge {bridge.name}") or bridge
    return device, bridge


def _delete_if_unused(ctx: AttachContext, index: int, name: str, bridge: int) -> str | None:
    """Undo of the device's creation, unless a concurrent attach put a guest on its bridge."""
    links = ctx.host.links()
    ports = [link.name for link in links if link.master == bridge and link.index != index]
    if ports:
        return f"kept VXLAN device {name}: {', '.join(ports)} joined its bridge meanwhile"
    ctx.host.delete_link(index, obj=f"VXLAN device {name}")
    return None


def _remove_idle(nl: NetlinkSocket, found: Collection) -> None:
    """Under the exclusive bridge lock: each device of ours whose bridge has nothing
    else goes, with the bridge when pipework created it."""
    from .idle import HostView

    view = HostView(nl)
    by_index = {link.index: link for link in view.links}
    for device in view.links:
        if not _ours(device):
            continue
        bridge = by_index.get(device.master) if device.master else None
        if bridge is not None:
            if bridge.kind == "bridge" and bridge.alias == BRIDGE_MARK:
                if view.in_use(bridge, own=frozenset((device.index,))) is not None:
                    continue
            elif any(
                link.master == bridge.index and link.index != device.index for link in view.links
            ):
                continue  # a bridge pipework did not make: it keeps what else is on it
        try:
            nl.delete_link(device.index, obj=f"unused VXLAN device {device.name}")
        except NetlinkError as exc:
            found.failed.append(f"remove unused VXLAN device {device.name}: {exc}")
            continue
        found.removed.append(device.name)
        if bridge is None or bridge.alias != BRIDGE_MARK or bridge.kind != "bridge":
            continue
        try:
            nl.delete_link(bridge.index, obj=f"unused bridge {bridge.name}")
        except NetlinkError as exc:
            found.failed.append(f"remove unused bridge {bridge.name}: {exc}")
        else:
            found.bridges.append(bridge.name)
