"""Open vSwitch: a veth pair (``veth``), the host end an OVS port, ``@VLAN`` its tag.

OVS keeps its configuration in its own database, so this driver talks to it with
``ovs-vsctl`` (one transaction per change). The port carries the original's
external-ids (``pipework.interface``, ``pipework.bridge``, ``pipework.containerid``,
``pipework.containername``, ``pipework.nspid``, ``pipework.vlan``), so that ``gc``
finds it again; the veth's host end is marked too (its alias), which is what ``ls``
and ``detach`` go by. A bridge pipework creates carries ``pipework=bridge``, so that
``gc`` may remove it once unused. Only the host's root can write OVS's database:
guests cannot forge these marks. They are read exactly, key and value, from
ovs-vsctl's JSON output (``read_database``), never matched as text.
"""

from __future__ import annotations

from ..errors import CommandError, PipeworkError
from ..steps import Step
from .veth import UplinkHold, VethDriver, veth_steps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import AttachSpec
    from ..netlink.messages import Link
    from ..netlink.socket import NetlinkSocket
    from ..steps import Rollback
    from .base import Differences
    from .idle import Collection

VSCTL = "ovs-vsctl"
#: the external-ids keys every port pipework adds carries (the original's, too)
PORT_KEYS = ("pipework.interface", "pipework.bridge")
#: the external-id of an OVS bridge pipework created (as ``marks.BRIDGE_MARK`` on Linux)
BRIDGE_KEY, BRIDGE_VALUE = "pipework", "bridge"


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

    def collect_into(self, found: Collection) -> None:
        """Remove the ports of guests that are gone, each on its own (one that fails
        is reported and the others still go), then the OVS bridges pipework created
        that nothing uses any more. Both are judged by the links of the namespace
        ovs-vswitchd runs in, wherever gc runs; when that cannot be told, nothing is."""
        from .._lowlevel.programs import which

        if which(VSCTL) is None:
            return
        try:
            db = read_database()  # first: OVS not running at all is named as such
            nl = vswitchd_socket()
        except PipeworkError as exc:
            found.failed.append(f"remove stale OVS ports and unused OVS bridges: {exc}")
            return
        with nl:
            try:
                stale = stale_ports(db, nl)
            except PipeworkError as exc:
                found.failed.append(str(exc))
                return
            for bridge, port in stale:
                try:
                    vsctl(
                        "--if-exists", "del-port", bridge, port,
                        what=f"remove stale OVS port {port} from {bridge}",
                    )  # fmt: skip
                except CommandError as exc:
                    found.failed.append(str(exc))
                else:
                    found.removed.append(f"{bridge}:{port}")
            _collect_bridges(found, nl)


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
    # gc may remove an OVS bridge pipework created once it is unused: the attach holds
    # the bridge lock from its first step until its port is added (an flock: cheap
    # next to the ovs-vsctl runs, so taken whoever made the bridge)
    hold = UplinkHold(lambda rollback: _recheck_bridge(ctx, bridge, rollback))
    steps = []
    if ctx.uplink is None:  # no such link: the name starts with ovs and OVS makes it
        datapath = f" datapath_type={spec.ovs_datapath}" if spec.ovs_datapath else ""
        steps.append(
            Step(
                f"ovs-vsctl add-br {bridge} -- set bridge {bridge} "
                f"external-ids:{BRIDGE_KEY}={BRIDGE_VALUE}{datapath}",
                lambda rollback: _create_bridge(ctx, bridge, rollback, hold),
            )
        )
    steps += veth_steps(ctx, enslave=False, hold=hold)
    tag = f" tag={spec.vlan}" if spec.vlan is not None else ""
    steps.append(
        Step(
            f"ovs-vsctl add-port {bridge} {ctx.host_ifname}{tag} -- set interface "
            f"{ctx.host_ifname} external-ids:pipework.interface={spec.container_ifname} …",
            lambda rollback: _add_port(ctx, bridge, port, rollback, hold),
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


def _create_bridge(
    ctx: AttachContext, name: str, rollback: Rollback, hold: UplinkHold | None = None
) -> None:
    if hold is not None:
        hold.take(rollback)
    # One transaction makes the bridge and marks it: no window in which gc or a user
    # sees it unmarked, and (no --may-exist) never a mark on a bridge someone else made.
    mark = f"external-ids:{BRIDGE_KEY}={BRIDGE_VALUE}"
    args = ["add-br", name, "--", "set", "bridge", name, mark]
    if ctx.spec.ovs_datapath:
        args.append(f"datapath_type={ctx.spec.ovs_datapath}")
    if bridge_exists(name):  # another pipework made it meanwhile: not ours to remove
        return
    try:
        vsctl(*args, what=f"create OVS bridge {name}")
    except CommandError:
        if bridge_exists(name):  # made by another process between the look-up and now
            return
        raise
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


def _recheck_bridge(ctx: AttachContext, name: str, rollback: Rollback) -> None:
    """Under the bridge lock: the OVS bridge found when planning may be gone since (a
    gc removed it, unused and pipework's; its kernel link went with it): make it again."""
    if ctx.uplink is None:
        return  # the create step makes it, or says why it cannot
    current = ctx.host.link(name)
    if current is not None and current.index == ctx.uplink.index:
        return
    if bridge_exists(name):
        ctx.uplink = current or ctx.uplink
    else:
        _create_bridge(ctx, name, rollback)


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


def _add_port(
    ctx: AttachContext, bridge: str, learnt: _Port, rollback: Rollback, hold: UplinkHold
) -> None:
    hold.take(rollback)
    port = ctx.host_ifname
    what = f"add port {port} to OVS bridge {bridge}"
    if not (ctx.finishing and port_bridge(port) == bridge):  # a killed run may have added it
        args = ["add-port", bridge, port]
        if ctx.spec.vlan is not None:
            args.append(f"tag={ctx.spec.vlan}")
        args += ["--", "set", "interface", port, *external_ids(ctx, bridge)]
        try:
            vsctl(*args, what=what)
        except CommandError as exc:
            stale = _stale_namesake(port) if "already exists" in str(exc) else None
            if stale is None:
                raise
            # The port of a guest that is gone, whose interface name the kernel just gave
            # the new veth (a netns inode reused): replaced in the same transaction.
            vsctl("--if-exists", "del-port", stale, port, "--", *args, what=what)

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
    hold.release()  # the bridge has the port now: gc keeps it
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


def _stale_namesake(port: str) -> str | None:
    """The bridge of an OVS port named ``port`` that pipework added for a guest that is
    gone, or None. Called once the kernel has given the name to a new veth of ours: no
    other link had it, so a port of that name had no interface until now."""
    db = read_database()
    for bridge in db.bridges:
        for row in db.ports_of(bridge):
            iface = db.interface_of(row)
            if row.name == port and iface is not None and is_pipework_port(iface.external_ids):
                return bridge.name
    return None


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


def stale_ports(db: OvsDatabase, nl: NetlinkSocket) -> list[tuple[str, str]]:
    """(bridge, port) of every OVS port pipework added whose interface is gone.

    On the kernel datapath such a port's ofport turns to -1; the userspace
    datapath keeps its number, so the test is whether a link of that name still
    exists in ovs-vswitchd's namespace, which ``nl`` is bound to (``vswitchd_socket``).
    A port is pipework's when its one interface, named as the port, has both
    ``PORT_KEYS`` exactly.
    """
    links = {link.name for link in nl.links()}
    stale = []
    for bridge in db.bridges:
        for port in db.ports_of(bridge):
            iface = db.interface_of(port)
            if iface is None or not is_pipework_port(iface.external_ids):
                continue
            if iface.name in links and iface.ofport not in (None, -1):
                continue
            stale.append((bridge.name, port.name))
    return stale


#: where ovs-vswitchd writes its pidfile, after $OVS_RUNDIR (where ovs-vsctl looks too)
RUNDIRS = ("/run/openvswitch", "/var/run/openvswitch")
VSWITCHD = "ovs-vswitchd"


def vswitchd_socket() -> NetlinkSocket:
    """A netlink socket bound to the network namespace ovs-vswitchd runs in.

    OVS's database is host-wide but the interfaces of its ports are links of one
    namespace, ovs-vswitchd's: gc run elsewhere (``ip netns exec X pipework gc``)
    would find none of them and call every port stale. Its pid comes from its
    pidfile (root's), and counts only while /proc/PID/comm is ovs-vswitchd, checked
    after the namespace is opened (a pid reused in between is caught). Raises
    PipeworkError when the namespace cannot be told: no port is judged then.
    """
    from ..netlink.socket import NetlinkSocket
    from ..netns import NetNS, inside

    pid, pidfile = _vswitchd_pid()
    not_it = PipeworkError(
        f"cannot tell which network namespace {VSWITCHD} runs in: "
        f"pid {pid} of {pidfile} is not {VSWITCHD} (is it running?)"
    )
    if _comm(pid) != VSWITCHD:
        raise not_it
    ns = NetNS.open(f"/proc/{pid}/ns/net", f"{VSWITCHD} (pid {pid})")
    try:
        if _comm(pid) != VSWITCHD:
            raise not_it
        with inside(ns):
            return NetlinkSocket(label=f"the namespace of {VSWITCHD}")
    finally:
        ns.close()


def _vswitchd_pid() -> tuple[int, str]:
    import os

    rundir = os.environ.get("OVS_RUNDIR")
    tried = []
    for base in ((rundir,) if rundir else ()) + RUNDIRS:
        path = f"{base}/{VSWITCHD}.pid"
        tried.append(path)
        try:
            with open(path, "rb") as f:
                text = f.read(32)
        except OSError:
            continue
        word = text.strip()
        if word.isdigit() and 0 < int(word) < 1 << 22:
            return int(word), path
        raise PipeworkError(
            f"cannot tell which network namespace {VSWITCHD} runs in: {path} holds no pid"
        )
    raise PipeworkError(
        f"cannot tell which network namespace {VSWITCHD} runs in: "
        f"no pidfile ({', '.join(tried)}; is it running?)"
    )


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read(64).decode("ascii", "replace").rstrip("\n")
    except OSError:
        return ""


def is_pipework_port(external_ids: dict[str, str]) -> bool:
    """Whether an interface's external-ids say pipework added it: each of ``PORT_KEYS``
    is a key, exactly (a value or another key that merely contains the text is not)."""
    return all(key in external_ids for key in PORT_KEYS)


class OvsRow:
    """One row of OVS's Bridge, Port or Interface table, the columns gc reads."""

    __slots__ = ("external_ids", "name", "ofport", "refs", "uuid")

    def __init__(
        self,
        uuid: str,
        name: str,
        refs: list[str],
        external_ids: dict[str, str],
        ofport: int | None = None,
    ) -> None:
        self.uuid = uuid
        self.name = name
        self.refs = refs  # a bridge's ports, a port's interfaces (uuids)
        self.external_ids = external_ids
        self.ofport = ofport


class OvsDatabase:
    """One reading of OVS's bridges, ports and interfaces, in one ovs-vsctl run."""

    __slots__ = ("bridges", "interfaces", "ports")

    def __init__(
        self, bridges: list[OvsRow], ports: list[OvsRow], interfaces: list[OvsRow]
    ) -> None:
        self.bridges = bridges
        self.ports = {row.uuid: row for row in ports}
        self.interfaces = {row.uuid: row for row in interfaces}

    def ports_of(self, bridge: OvsRow) -> list[OvsRow]:
        return [self.ports[uuid] for uuid in bridge.refs if uuid in self.ports]

    def interface_of(self, port: OvsRow) -> OvsRow | None:
        """The port's interface when it has exactly one, named as the port (as
        pipework adds them; a bond is never pipework's)."""
        if len(port.refs) != 1:
            return None
        iface = self.interfaces.get(port.refs[0])
        return iface if iface is not None and iface.name == port.name else None


def read_database() -> OvsDatabase:
    """Bridges, ports and interfaces with their external-ids, parsed from ovs-vsctl's
    JSON (``--data=json``: a map is ``["map", [[key, value], ...]]``), so that keys and
    values are compared exactly whatever quotes, commas or '=' they hold."""
    what = "list OVS bridges, ports and interfaces"
    out = vsctl(
        "--format=json", "--data=json",
        "--columns=_uuid,name,ports,external_ids", "list", "bridge", "--",
        "--columns=_uuid,name,interfaces,external_ids", "list", "port", "--",
        "--columns=_uuid,name,external_ids,ofport", "list", "interface",
        what=what,
    )  # fmt: skip
    tables = _json_tables(out, what)
    return OvsDatabase(*tables)


def _json_tables(out: str, what: str) -> list[list[OvsRow]]:
    """The rows of each table ovs-vsctl listed (one JSON document per line), each
    column found by its heading."""
    from .._lowlevel.jsonlite import loads

    documents = [line for line in out.splitlines() if line.strip()]
    if len(documents) != 3:
        raise CommandError(f"{what}: unexpected ovs-vsctl output ({len(documents)} tables)")
    tables = []
    for text in documents:
        try:
            doc = loads(text)
        except ValueError as exc:
            raise CommandError(f"{what}: ovs-vsctl printed no JSON ({exc})") from None
        rows = doc.get("data") if isinstance(doc, dict) else None
        headings = doc.get("headings") if isinstance(doc, dict) else None
        if not isinstance(rows, list) or not isinstance(headings, list):
            raise CommandError(f"{what}: unexpected ovs-vsctl output (no data)")
        tables.append([_row(dict(zip(headings, row))) for row in rows if isinstance(row, list)])
    return tables


def _row(columns: dict[object, object]) -> OvsRow:
    name = columns.get("name")
    refs = columns.get("ports", columns.get("interfaces", ["set", []]))
    ofport = columns.get("ofport")
    return OvsRow(
        _uuid(columns.get("_uuid")),
        name if isinstance(name, str) else "",
        [_uuid(ref) for ref in _set(refs)],
        ovsdb_map(columns.get("external_ids")),
        ofport if isinstance(ofport, int) and not isinstance(ofport, bool) else None,
    )


def _set(value: object) -> list[object]:
    """An OVSDB set: ``["set", [...]]``, or its one element alone."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return value[1] if isinstance(value[1], list) else []
    return [value]


def _uuid(value: object) -> str:
    if isinstance(value, list) and len(value) == 2 and value[0] == "uuid":
        return value[1] if isinstance(value[1], str) else ""
    return ""


def ovsdb_map(value: object) -> dict[str, str]:
    """An OVSDB string map, ``["map", [[key, value], ...]]``, as a dict (empty when
    it is anything else)."""
    if not (isinstance(value, list) and len(value) == 2 and value[0] == "map"):
        return {}
    pairs = value[1] if isinstance(value[1], list) else []
    return {
        pair[0]: pair[1]
        for pair in pairs
        if isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], str)
    }


def _collect_bridges(found: Collection, nl: NetlinkSocket) -> None:
    """Remove each OVS bridge pipework created whose only port is its own, and whose
    kernel interface (if any, in ovs-vswitchd's namespace: ``nl``) nobody configured;
    decided under the bridge lock."""
    try:
        marked = [b for b in read_database().bridges if _marked(b)]
    except CommandError as exc:
        found.failed.append(str(exc))
        return
    if marked:
        from .idle import under_gc_lock

        under_gc_lock(found, "remove unused OVS bridges", lambda: _remove_idle(found, nl))


def _marked(bridge: OvsRow) -> bool:
    return bridge.external_ids.get(BRIDGE_KEY) == BRIDGE_VALUE


def _remove_idle(found: Collection, nl: NetlinkSocket) -> None:
    from .idle import HostView

    db = read_database()  # again: an attach may have added a port before the lock
    view = HostView(nl)
    links = {link.name: link for link in view.links}
    for bridge in db.bridges:
        if not _marked(bridge) or any(p.name != bridge.name for p in db.ports_of(bridge)):
            continue
        link = links.get(bridge.name)
        if link is not None and view.in_use(link, ovs=True) is not None:
            continue
        try:
            vsctl(
                "--if-exists",
                "del-br",
                bridge.name,
                what=f"remove unused OVS bridge {bridge.name}",
            )
        except CommandError as exc:
            found.failed.append(str(exc))
        else:
            found.bridges.append(bridge.name)
