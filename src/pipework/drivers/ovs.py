"""Open vSwitch: a veth pair (``veth``), the host end an OVS port, ``@VLAN`` its tag.

OVS keeps its configuration in its own database, so this driver talks to it with
``ovs-vsctl`` (one transaction per change). The port carries the original's
external-ids (``pipework.interface``, ``pipework.bridge``, ``pipework.containerid``,
``pipework.containername``, ``pipework.nspid``, ``pipework.vlan``), so that ``ls``,
``detach`` and ``gc`` find it again; the veth's host end is marked too.
"""

from __future__ import annotations

from ..errors import CommandError
from ..steps import Step
from .veth import VethDriver, veth_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..steps import Rollback
    from .base import Differences

VSCTL = "ovs-vsctl"


class OvsDriver(VethDriver):
    kind = "ovs"

    def claims(self, spec: AttachSpec, link: Link | None, name: str) -> bool:
        """An OVS bridge: its own link is an "openvswitch" device on the kernel datapath
        and a tap ("tun") on the userspace one, and only then is OVS's database asked.
        A missing name starting with ovs is created. An OVS bridge without a kernel
        link is one whose datapath failed: the port added to it says so."""
        if link is None:
            return name.startswith("ovs") or _is_ovs_bridge(name, unreachable=False)
        return link.kind == "openvswitch" or (link.kind == "tun" and _is_ovs_bridge(name))

    def plan(self, ctx: AttachContext) -> list[Step]:
        return _plan(ctx)

    def uplink_differences(self, ctx: AttachContext, existing: Link, diff: Differences) -> None:
        # The host end's kernel master says nothing here (ovs-system on the kernel
        # datapath, none on the userspace one): OVS's database knows the port.
        bridge = port_bridge(existing.name)
        if bridge is None:
            diff.missing.append(f"it is not a port of {ctx.spec.host_if}")
            return
        if bridge != ctx.spec.host_if:
            diff.conflicts.append(f"it is on another bridge than {ctx.spec.host_if}")
            return
        tag = vsctl("get", "port", existing.name, "tag", what=f"read the tag of {existing.name}")
        have = tag.strip() if tag.strip() not in ("", "[]") else None
        want = str(ctx.spec.vlan) if ctx.spec.vlan is not None else None
        if have != want:
            diff.conflicts.append(f"its VLAN tag is {have or 'none'}, asked {want or 'none'}")

    def owns(self, link: Link, names: dict[int, str]) -> bool:
        return link.slave_kind == "openvswitch" or link.master is None

    def uplink_name(self, link: Link, names: dict[int, str]) -> str | None:
        return port_bridge(link.name) or super().uplink_name(link, names)

    def release(self, link: Link) -> None:
        remove_port(link.name)  # the port's database record goes with the veth

    def collect(self) -> list[str]:
        removed = []
        for bridge, port in stale_ports():
            vsctl("--if-exists", "del-port", bridge, port, what=f"remove stale OVS port {port}")
            removed.append(f"{bridge}:{port}")
        return removed


DRIVER = OvsDriver()


def _is_ovs_bridge(name: str, *, unreachable: bool | None = None) -> bool:
    """Whether OVS has a bridge ``name``; with its database down, ``unreachable``
    is the answer, or (None) the error is raised."""
    try:
        return bridge_exists(name)
    except CommandError:
        if unreachable is None:
            raise
        return unreachable


def vsctl(*args: str, what: str) -> str:
    """Run one ovs-vsctl transaction; its failures become one clear line."""
    from .._lowlevel.programs import capture, which

    program = which(VSCTL)
    if program is None:
        raise CommandError(
            "Open vSwitch is not installed (no ovs-vsctl)",
            hint="apt-get install openvswitch-switch",
        )
    status, out, err = capture([program, "--timeout=10", *args], what=what)
    if status != 0:
        message = " ".join(err.split())
        if "database connection failed" in message or "db.sock" in message:
            raise CommandError(
                f"{what}: the Open vSwitch database is not running ({message})",
                hint="start Open vSwitch (ovs-ctl start, or systemctl start openvswitch-switch)",
            )
        raise CommandError(
            f"{what}: ovs-vsctl failed: {message or f'exit {status}'}", returncode=status
        )
    return out


def bridge_exists(name: str) -> bool:
    """Whether OVS has a bridge ``name``; an unreachable database is an error, not a no."""
    from .._lowlevel.programs import which

    if which(VSCTL) is None:
        return False
    try:
        vsctl("br-exists", name, what=f"look up OVS bridge {name}")
    except CommandError as exc:
        if exc.returncode == 2:  # br-exists: "no such bridge" is exit status 2
            return False
        raise
    return True


class _Port:
    """What adding the port learnt, for the step after it."""

    __slots__ = ("userspace",)

    def __init__(self) -> None:
        self.userspace = False  # the bridge uses the userspace datapath


def _plan(ctx: AttachContext) -> list[Step]:
    spec = ctx.spec
    port = _Port()
    bridge = spec.host_if
    assert bridge is not None
    steps = []
    if ctx.uplink is None:  # no such link: the name starts with ovs and OVS makes it
        datapath = spec.ovs_datapath
        extra = f" -- set bridge {bridge} datapath_type={datapath}" if datapath else ""
        steps.append(
            Step(
                f"ovs-vsctl add-br {bridge}{extra}",
                lambda rollback: _create_bridge(ctx, bridge, rollback),
            )
        )
    steps += veth_steps(ctx, enslave=False)
    tag = f" tag={spec.vlan}" if spec.vlan is not None else ""
    steps.append(
        Step(
            f"ovs-vsctl add-port {bridge} {ctx.host_ifname}{tag} -- set interface "
            f"{ctx.host_ifname} external-ids:pipework.interface={spec.container_ifname} …",
            lambda rollback: _add_port(ctx, bridge, port, rollback),
        )
    )
    steps.append(
        Step(
            ctx.in_guest(f"ethtool -K {spec.container_ifname} tx off")
            + "  # userspace datapath only",
            lambda _rollback: _checksum_in_guest(ctx, port),
        )
    )
    return steps


def _create_bridge(ctx: AttachContext, name: str, rollback: Rollback) -> None:
    args = ["--may-exist", "add-br", name]
    if ctx.spec.ovs_datapath:
        args += ["--", "set", "bridge", name, f"datapath_type={ctx.spec.ovs_datapath}"]
    if bridge_exists(name):  # another pipework made it meanwhile: not ours to remove
        return
    vsctl(*args, what=f"create OVS bridge {name}")
    ctx.created_bridge = True
    rollback.push(f"ovs-vsctl del-br {name}", lambda: _del_bridge_if_unused(name))
    # ovs-vsctl returns once ovs-vswitchd has taken the change, so a bridge whose
    # datapath could not be opened has no kernel interface now, and never will:
    # ovs-vswitchd only logs it. Say so instead of attaching to a dead bridge.
    ctx.uplink = ctx.host.link(name)
    if ctx.uplink is None:
        raise _no_datapath(f"create OVS bridge {name}", ctx.spec.ovs_datapath or "system")


def _no_datapath(what: str, datapath: str) -> CommandError:
    if datapath == "system":
        return CommandError(
            f"{what}: this kernel has no Open vSwitch datapath support "
            "(ovs-vswitchd could not open a datapath of type system)",
            hint="load the openvswitch module, or use the userspace datapath "
            "(pipework attach ... --ovs-datapath netdev, or ovs-vsctl add-br NAME "
            "-- set bridge NAME datapath_type=netdev before pipework)",
        )
    return CommandError(
        f"{what}: ovs-vswitchd could not open a datapath of type {datapath}",
        hint="see ovs-vswitchd's log (/var/log/openvswitch/ovs-vswitchd.log)",
    )


def _del_bridge_if_unused(name: str) -> str | None:
    ports = [p for p in vsctl("list-ports", name, what=f"list ports of {name}").split() if p]
    if ports:
        return f"kept OVS bridge {name}: {', '.join(ports)} joined it meanwhile"
    vsctl("--if-exists", "del-br", name, what=f"remove OVS bridge {name}")
    return None


def external_ids(ctx: AttachContext, bridge: str) -> list[str]:
    """The original's external-ids on the port, so that its tools find it too."""
    spec, guest = ctx.spec, ctx.guest
    ids = {
        "pipework.interface": spec.container_ifname,
        "pipework.bridge": bridge,
        "pipework.containerid": guest.name,
        "pipework.containername": guest.label,
        "pipework.nspid": str(guest.pid) if guest.pid is not None else "",
        "pipework.vlan": str(spec.vlan) if spec.vlan is not None else "",
    }
    return [f'external-ids:"{key}"="{value}"' for key, value in ids.items()]


def _add_port(ctx: AttachContext, bridge: str, learnt: _Port, rollback: Rollback) -> None:
    port = ctx.host_ifname
    what = f"add port {port} to OVS bridge {bridge}"
    if not (ctx.finishing and port_bridge(port) == bridge):  # a killed run may have added it
        args = ["add-port", bridge, port]
        if ctx.spec.vlan is not None:
            args.append(f"tag={ctx.spec.vlan}")
        args += ["--", "set", "interface", port, *external_ids(ctx, bridge)]
        vsctl(*args, what=what)

        def undo() -> None:
            vsctl("--if-exists", "del-port", bridge, port, what=f"remove port {port}")

        rollback.push(f"ovs-vsctl del-port {bridge} {port}", undo)
    # A port ovs-vswitchd could not open has no OpenFlow number (and an error
    # column saying why); traffic would vanish silently, so fail here instead.
    out = vsctl(
        "get", "interface", port, "ofport", "error", "--",
        "get", "bridge", bridge, "datapath_type",
        what=what,
    )  # fmt: skip
    ofport, error, datapath = ([*out.splitlines(), "", "", ""])[:3]
    datapath = datapath.strip().strip('"') or "system"
    learnt.userspace = datapath == "netdev"
    if ofport.strip() in ("-1", "[]", ""):
        error = error.strip().strip('"')
        if error in ("", "[]"):
            raise _no_datapath(what, datapath)
        raise CommandError(f"{what}: ovs-vswitchd could not open it: {error}")


def _checksum_in_guest(ctx: AttachContext, port: _Port) -> None:
    """On the userspace datapath, the guest computes its own checksums (see ethtool.py)."""
    if not port.userspace:
        return
    from ..ethtool import disable_tx_checksum
    from ..netns import inside

    with inside(ctx.guest.netns):
        disable_tx_checksum(ctx.spec.container_ifname)


def port_bridge(port: str) -> str | None:
    """The OVS bridge a port is on, or None (also when OVS is not there at all)."""
    from .._lowlevel.programs import capture, which

    program = which(VSCTL)
    if program is None:
        return None
    status, out, _err = capture([program, "--timeout=10", "port-to-br", port], what="ovs-vsctl")
    return out.strip() if status == 0 else None


def remove_port(port: str) -> None:
    bridge = port_bridge(port)
    if bridge is not None:
        vsctl("--if-exists", "del-port", bridge, port, what=f"remove OVS port {port}")


def stale_ports() -> list[tuple[str, str]]:
    """(bridge, port) of every OVS port pipework added whose interface is gone.

    On the kernel datapath such a port's ofport turns to -1; the userspace
    datapath keeps its number, so the test is whether the host still has a link
    of that name (OVS ports live in the host's namespace).
    """
    from .._lowlevel.programs import which
    from ..netlink.socket import NetlinkSocket

    if which(VSCTL) is None:
        return []
    out = vsctl(
        "--format=csv",
        "--no-headings",
        "--data=bare",
        "--columns=name,ofport,external_ids",
        "list",
        "interface",
        what="list OVS interfaces",
    )
    with NetlinkSocket() as nl:
        links = {link.name for link in nl.links()}
    stale = []
    for line in out.splitlines():
        name, _, rest = line.partition(",")
        ofport, _, ids = rest.partition(",")
        if "pipework.bridge=" not in ids:
            continue
        if name in links and ofport.strip() not in ("-1", "[]", ""):
            continue
        bridge = ids.split("pipework.bridge=", 1)[1].split()[0].strip('"')
        stale.append((bridge, name))
    return stale
