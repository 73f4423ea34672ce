"""Open vSwitch: a veth pair (``veth``), the host end an OVS port, ``@VLAN`` its tag.

OVS keeps its configuration in its own database, so this driver talks to it with
``ovs-vsctl`` (one transaction per change). The port carries the original's
external-ids (``pipework.interface``, ``pipework.bridge``, ``pipework.containerid``,
``pipework.containername``, ``pipework.nspid``, ``pipework.vlan``), so that ``ls``,
``detach`` and ``gc`` find it again; the veth's host end is marked too.
"""

from __future__ import annotations

from ..errors import CommandError
from ..executor import Step
from .veth import get, veth_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..context import AttachContext
    from ..executor import Rollback

VSCTL = "ovs-vsctl"


def vsctl(*args: str, what: str) -> str:
    """Run one ovs-vsctl transaction; its failures become one clear line."""
    from ..programs import capture, which

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
        raise CommandError(f"{what}: ovs-vsctl failed: {message or f'exit {status}'}")
    return out


def bridge_exists(name: str) -> bool:
    from ..programs import capture, which

    program = which(VSCTL)
    if program is None:
        return False
    status, _out, _err = capture([program, "--timeout=10", "br-exists", name], what="ovs-vsctl")
    return status == 0


def plan(ctx: AttachContext) -> list[Step]:
    spec = ctx.spec
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
            lambda rollback: _add_port(ctx, bridge, rollback),
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
    ctx.uplink = get(ctx, name)


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


def _add_port(ctx: AttachContext, bridge: str, rollback: Rollback) -> None:
    port = ctx.host_ifname
    args = ["add-port", bridge, port]
    if ctx.spec.vlan is not None:
        args.append(f"tag={ctx.spec.vlan}")
    args += ["--", "set", "interface", port, *external_ids(ctx, bridge)]
    vsctl(*args, what=f"add port {port} to OVS bridge {bridge}")
    rollback.push(
        f"ovs-vsctl del-port {bridge} {port}",
        lambda: _forget(vsctl("--if-exists", "del-port", bridge, port, what=f"remove port {port}")),
    )


def _forget(_output: str) -> None:
    return None


def port_bridge(port: str) -> str | None:
    """The OVS bridge a port is on, or None (also when OVS is not there at all)."""
    from ..programs import capture, which

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
    """(bridge, port) of every OVS port pipework added whose interface is gone."""
    from ..programs import which

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
    stale = []
    for line in out.splitlines():
        name, _, rest = line.partition(",")
        ofport, _, ids = rest.partition(",")
        if "pipework.bridge=" not in ids or ofport.strip() not in ("-1", "[]", ""):
            continue
        bridge = ids.split("pipework.bridge=", 1)[1].split()[0].strip('"')
        stale.append((bridge, name))
    return stale
