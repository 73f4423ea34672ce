"""The modern verbs: ``attach``, ``detach``, ``ls``, ``inspect``. Parsing is pure.

Each verb is declared once (its options, help and example), and ``--help`` is
generated from that declaration. The original command line stays as it was
(``cli.legacy``); a host interface named like a verb is reached after ``--``.
"""

from __future__ import annotations

from .._lowlevel.record import Record
from ..errors import UsageError
from ..model import VNI_MAX, Addressing, AttachSpec, DhcpRequest
from ..names import check_ifname, parse_guest_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..inet import IPAddress, IPInterface
    from ..names import GuestRef


class Opt:
    __slots__ = ("dest", "help", "metavar", "names", "repeat")

    def __init__(
        self, names: str, help: str, metavar: str | None = None, *, repeat: bool = False
    ) -> None:
        self.names = tuple(names.split(","))
        self.dest = self.names[-1].lstrip("-").replace("-", "_")
        self.metavar = metavar
        self.repeat = repeat
        self.help = help


class Verb:
    __slots__ = ("example", "name", "options", "positional", "summary")

    def __init__(
        self, name: str, summary: str, positional: str, options: list[Opt], example: str
    ) -> None:
        self.name = name
        self.summary = summary
        self.positional = positional
        self.options = options
        self.example = example

    def help(self) -> str:
        lines = [f"usage: pipework {self.name} {self.positional}".rstrip(), "", self.summary, ""]
        for opt in self.options:
            flag = ", ".join(opt.names) + (f" {opt.metavar}" if opt.metavar else "")
            lines.append(f"  {flag:28} {opt.help}")
        lines += [
            "  -h, --help                   show this help",
            "",
            "example:",
            f"  {self.example}",
        ]
        return "\n".join(lines) + "\n"


_JSON = Opt("--json", "print the result as JSON")
_POLICY = Opt("--policy", "what declarations may use (default /etc/pipework/policy.conf)", "FILE")
_VERBOSE = Opt("-v,--verbose", "print each kernel operation as the equivalent ip command")

VERBS = {
    "attach": Verb(
        "attach",
        "Plumb GUEST into a host interface: a Linux or OVS bridge (a veth pair, the guest "
        "end born inside the guest), a NIC (a macvlan or ipvlan made inside the guest), "
        "dummy, or the NIC itself with --direct-phys; with addresses and a default route. "
        "Re-running the same request changes nothing.",
        "GUEST --to HOSTIF [options]",
        [
            Opt(
                "--to",
                "a bridge (created when missing and named br* or ovs*, or with "
                "--create-bridge), an OVS bridge, a NIC, dummy, or vxlan:VNI (a VXLAN "
                "segment across hosts: its bridge brvxVNI and device vxVNI are made)",
                "HOSTIF",
            ),
            Opt(
                "--ip",
                "an address; repeat for several; no prefix means /24 (IPv4) or /64 (IPv6)",
                "ADDR[/PREFIX]",
                repeat=True,
            ),
            Opt("--gateway", "the default route (one per address family)", "ADDR", repeat=True),
            Opt("--ifname", "the interface inside the guest (default eth1)", "NAME"),
            Opt("--host-ifname", "the host side (default v<ifname>pl<pid>)", "NAME"),
            Opt("--mac", "the guest interface's MAC, or U:<string> for a stable one", "MAC"),
            Opt("--mtu", "the MTU (default: the bridge's)", "BYTES"),
            Opt("--vlan", "a VLAN tag for the port", "ID"),
            Opt("--create-bridge", "create BRIDGE as a Linux bridge whatever its name"),
            Opt(
                "--macvlan-mode",
                "on a NIC: private, vepa, bridge (default), passthru, source",
                "MODE",
            ),
            Opt(
                "--ipvlan-mode", "on a NIC: an ipvlan (l2, l3 or l3s) instead of a macvlan", "MODE"
            ),
            Opt(
                "--vlan-filtering",
                "allow turning on VLAN filtering on a bridge pipework did not create",
            ),
            Opt(
                "--ovs-datapath",
                "datapath_type of an OVS bridge pipework creates (system, netdev)",
                "TYPE",
            ),
            Opt("--direct-phys", "move the host interface itself into the guest"),
            Opt(
                "--host-shim",
                "macvlan: let the host reach the guest, through a shim on the NIC "
                "(see pipework shim)",
            ),
            Opt(
                "--allow-forward",
                "a bridge whose traffic the firewall drops (br_netfilter): add pipework's "
                "accept rule for traffic within it (see docs/doctor.md)",
            ),
            Opt("--remote", "vxlan: the other host's underlay address", "ADDR"),
            Opt("--group", "vxlan: a multicast group instead of --remote", "ADDR"),
            Opt("--local", "vxlan: the source address on the underlay", "ADDR"),
            Opt("--dstport", "vxlan: the UDP port (default 4789)", "PORT"),
            Opt("--vxlan-dev", "vxlan: the underlay device (default: the route's)", "DEV"),
            Opt("--dhcp", "an address from DHCP, by the built-in client (instead of --ip)"),
            Opt("--dhcp-keep", "--dhcp, and keep a process renewing the lease"),
            Opt("--dhcp6", "an IPv6 address from DHCPv6, by the built-in client"),
            Opt("--dhcp-client", "an external DHCP client: udhcpc, dhclient or dhcpcd", "NAME"),
            Opt("--dhcp-options", "arguments for the external client", "ARGS"),
            Opt("--dhcp-timeout", "how long the built-in client waits (default 30)", "SECONDS"),
            Opt("--hostname", "the hostname sent to the DHCP server (default: GUEST)", "NAME"),
            Opt("--dns", "write the lease's DNS servers into the guest's resolv.conf"),
            Opt("--force", "replace an existing, different attachment of the same interface"),
            _VERBOSE,
            _JSON,
        ],
        "pipework attach demo1 --to br1 --ip 192.0.2.50/24 --gateway 192.0.2.1 --ifname eth8",
    ),
    "detach": Verb(
        "detach",
        "Remove what pipework attached to GUEST (the guest end goes with the host end). "
        "Nothing left to remove is not an error. shim:NIC removes the host shim on NIC "
        "(pipework shim) with its routes.",
        "GUEST [--ifname NAME | --all] | shim:NIC",
        [
            Opt("--ifname", "the interface inside the guest (default eth1)", "NAME"),
            Opt("--all", "every interface pipework attached to GUEST"),
            _VERBOSE,
            _JSON,
        ],
        "pipework detach demo1 --ifname eth8",
    ),
    "ls": Verb(
        "ls",
        "List every attachment pipework made on this host, read back from the kernel: guest "
        "and runtime, interfaces, bridge, addresses, MAC, state.",
        "[--json]",
        [_JSON],
        "pipework ls",
    ),
    "link": Verb(
        "link",
        "Join two guests with a veth pair, each end born inside its guest (no bridge). "
        "GUEST may be followed by :IFNAME (default eth1).",
        "GUEST_A[:IF] GUEST_B[:IF] [--ip-a ADDR] [--ip-b ADDR]",
        [
            Opt("--ip-a", "an address for the first end; repeatable", "ADDR[/PREFIX]", repeat=True),
            Opt(
                "--ip-b", "an address for the second end; repeatable", "ADDR[/PREFIX]", repeat=True
            ),
            _VERBOSE,
        ],
        "pipework link demo1:p2p0 demo2:p2p0 --ip-a 198.51.100.1/30 --ip-b 198.51.100.2/30",
    ),
    "gc": Verb(
        "gc",
        "Remove what guests that are gone left behind: Open vSwitch ports pipework added "
        "whose interface no longer exists, and the state files of DHCP renewal processes "
        "that were killed (the kernel removes the rest by itself).",
        "[--json]",
        [_JSON],
        "pipework gc",
    ),
    "apply": Verb(
        "apply",
        "Reconcile once: attach every declared attachment of the running guests that is "
        "missing (labels pipework.attach[.IF], pipework_cmd* variables, attachments.d "
        "files); leave what matches; report what differs. Exit 0 when all is as declared.",
        "[--guest GUEST] [--dir DIR] [--policy FILE] [--json]",
        [
            Opt("--guest", "only this guest's declarations (for an LXC start hook)", "GUEST"),
            Opt("--dir", "the declaration files (default /etc/pipework/attachments.d)", "DIR"),
            _POLICY,
            Opt("--json", "log one JSON object a line"),
        ],
        "pipework apply",
    ),
    "watch": Verb(
        "watch",
        "Reconcile, then follow the runtimes' events (Docker, LXC, the declaration files) "
        "and attach every declared interface again each time its guest starts. Runs until "
        "SIGTERM; one line per action on stderr.",
        "[--dir DIR] [--policy FILE] [--json] [--once] [--lxc-hook NAME]",
        [
            Opt("--dir", "the declaration files (default /etc/pipework/attachments.d)", "DIR"),
            _POLICY,
            Opt("--json", "log one JSON object a line"),
            Opt("--once", "one pass and exit (as apply)"),
            Opt("--lxc-hook", "print the LXC config line that runs apply at each start", "NAME"),
        ],
        "pipework watch --json",
    ),
    "graph": Verb(
        "graph",
        "Draw the network: this host as the kernel shows it now (Linux and OVS bridges, "
        "NICs, every guest pipework knows with its interfaces and addresses, links "
        "between guests, VXLAN tunnels and their remotes), or the topology FILE. DOT "
        "always; SVG and PNG through Graphviz's dot; HTML: one self-contained page.",
        "[FILE] [--format dot|svg|png|html] [-o OUTPUT]",
        [
            Opt("--format", "dot (default), svg, png or html", "FORMAT"),
            Opt("-o,--output", "write to OUTPUT instead of standard output", "OUTPUT"),
        ],
        "pipework graph --format svg -o network.svg",
    ),
    "up": Verb(
        "up",
        "Build the topology FILE (containerlab's format: nodes of kind netns or bridge, "
        "or existing guests of any runtime; links with addresses; routes; exec), all in "
        "this process. Running it again changes nothing; a failure half-way is rolled "
        "back. See docs/topology.md.",
        "FILE [--dry-run] [-v]",
        [
            Opt("--dry-run", "print what would be done, as ip commands, and change nothing"),
            _VERBOSE,
        ],
        "pipework up lab.clab.yml",
    ),
    "down": Verb(
        "down",
        "Remove what 'pipework up FILE' made (found by the lab's marks in the kernel, also "
        "after a run that failed half-way): its links, bridges and netns nodes.",
        "FILE [-v]",
        [_VERBOSE],
        "pipework down lab.clab.yml",
    ),
    "inspect": Verb(
        "inspect",
        "Show how GUEST is found: each resolver asked and what it saw, the candidates, the "
        "process and network namespace chosen, and the guest's interfaces.",
        "GUEST [--json]",
        [_JSON],
        "pipework inspect demo1",
    ),
}


class ModernCommand(Record):
    """A parsed verb: its name, its positional guest (if any) and its option values."""

    verb: str
    guest: GuestRef | None
    spec: AttachSpec | None
    values: dict[str, object]

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name))


class VerbHelp(Record):
    text: str


def parse_modern(argv: list[str]) -> ModernCommand | VerbHelp:
    """Parse ``VERB ARGS…`` (the verb first)."""
    verb = VERBS[argv[0]]
    by_name = {name: opt for opt in verb.options for name in opt.names}
    values: dict[str, object] = {}
    positional: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            return VerbHelp(verb.help())
        opt = by_name.get(arg)
        if opt is None:
            if arg.startswith("-") and arg != "-":
                raise UsageError(f"pipework {verb.name}: unknown option {arg!r} (see --help)")
            positional.append(arg)
            i += 1
            continue
        if opt.metavar is None:
            values[opt.dest] = True
            i += 1
            continue
        if i + 1 >= len(args):
            raise UsageError(f"pipework {verb.name}: {arg} needs a value ({opt.metavar})")
        value = args[i + 1]
        if opt.repeat:
            values.setdefault(opt.dest, [])
            values[opt.dest].append(value)  # type: ignore[attr-defined]
        elif opt.dest in values:
            raise UsageError(f"pipework {verb.name}: {arg} given twice")
        else:
            values[opt.dest] = value
        i += 2
    if verb.name == "graph":
        if len(positional) > 1:
            raise UsageError("pipework graph takes at most one FILE (see --help)")
        from ..graph.output import check_format

        values["format"] = check_format(str(values.get("format") or "dot"))
        values["file"] = positional[0] if positional else None
        return ModernCommand(verb.name, None, None, values)
    if verb.name in ("up", "down"):
        if len(positional) != 1:
            raise UsageError(f"pipework {verb.name} takes one FILE (see --help)")
        values["file"] = positional[0]
        return ModernCommand(verb.name, None, None, values)
    wanted = 2 if verb.name == "link" else (1 if verb.positional.startswith("GUEST") else 0)
    if len(positional) != wanted:
        what = {0: "no positional argument", 1: "one GUEST", 2: "two guests"}[wanted]
        raise UsageError(f"pipework {verb.name} takes {what} (see --help)")
    if verb.name == "link":
        values["ends"] = positional
        return ModernCommand(verb.name, None, None, values)
    if verb.name == "detach" and positional[0].startswith("shim:"):
        # a host shim (pipework shim) is listed by ls as runtime shim, guest NIC
        if values.get("all") or "ifname" in values:
            raise UsageError("pipework detach shim:NIC takes neither --ifname nor --all")
        values["shim"] = check_ifname(positional[0][len("shim:") :], "shim NIC")
        return ModernCommand(verb.name, None, None, values)
    guest = parse_guest_ref(positional[0]) if wanted == 1 else None
    spec = _attach_spec(guest, values) if verb.name == "attach" and guest is not None else None
    if verb.name == "detach":
        if values.get("all") and "ifname" in values:
            raise UsageError("pipework detach: --ifname and --all exclude each other")
        if "ifname" in values:
            check_ifname(str(values["ifname"]), "container interface name")
    return ModernCommand(verb.name, guest, spec, values)


def parse_ip_arg(text: str) -> IPInterface:
    """``ADDR/PREFIX``, or a bare address taken as /24 (IPv4) or /64 (IPv6)."""
    from ..inet import IPInterface, check_interface, parse_address, parse_interface

    if "/" in text:
        return parse_interface(text)
    address = parse_address(text)
    iface = IPInterface(address, 24 if address.family == 4 else 64)
    check_interface(iface, "address", text)
    return iface


def _attach_spec(guest: GuestRef, values: dict[str, object]) -> AttachSpec:
    from ..inet import parse_address
    from ..integers import parse_int
    from .legacy import parse_mac_arg, vxlan_fields

    bridge = values.get("to")
    if not isinstance(bridge, str):
        raise UsageError("pipework attach: --to HOSTIF is required")
    vni = None
    if bridge.startswith("vxlan:"):
        vni = parse_int(bridge[len("vxlan:") :], "VXLAN id (vxlan:VNI)", 1, VNI_MAX)
        bridge = f"vxlan{vni}"
    addresses = tuple(parse_ip_arg(str(t)) for t in values.get("ip", []))  # type: ignore[attr-defined]
    gateways: tuple[IPAddress, ...] = tuple(
        parse_address(str(t), "gateway")
        for t in values.get("gateway", [])  # type: ignore[attr-defined]
    )
    mtu = values.get("mtu")
    vlan = values.get("vlan")
    return AttachSpec(
        check_ifname(bridge, "bridge name"),
        guest,
        Addressing(addresses, gateways, _dhcp_request(values)),
        container_ifname=str(values.get("ifname") or "eth1"),
        host_ifname=str(values["host_ifname"]) if values.get("host_ifname") else None,
        mac=parse_mac_arg(str(values["mac"])) if values.get("mac") else None,
        mtu=parse_int(str(mtu), "--mtu", 68, 65535) if mtu is not None else None,
        vlan=parse_int(str(vlan), "--vlan", 1, 4094) if vlan is not None else None,
        create_bridge=bool(values.get("create_bridge")),
        direct_phys=bool(values.get("direct_phys")),
        force=bool(values.get("force")),
        macvlan_mode=str(values["macvlan_mode"]) if values.get("macvlan_mode") else None,
        ipvlan_mode=str(values["ipvlan_mode"]) if values.get("ipvlan_mode") else None,
        vlan_filtering=bool(values.get("vlan_filtering")),
        allow_forward=bool(values.get("allow_forward")),
        host_shim=bool(values.get("host_shim")),
        ovs_datapath=str(values["ovs_datapath"]) if values.get("ovs_datapath") else None,
        vni=vni,
        **vxlan_fields(values),
    )


def _dhcp_request(values: dict[str, object]) -> DhcpRequest | None:
    """--dhcp / --dhcp-keep (the built-in client) or --dhcp-client NAME, with options."""
    from ..integers import parse_seconds
    from ..model import DHCP_CLIENTS

    client = values.get("dhcp_client")
    builtin = bool(values.get("dhcp") or values.get("dhcp_keep") or values.get("dhcp6"))
    dependents = ("dhcp_options", "dhcp_timeout", "hostname", "dns")
    if client is None and not builtin:
        given = [f"--{d.replace('_', '-')}" for d in dependents if d in values]
        if given:
            raise UsageError(f"{', '.join(given)} need --dhcp, --dhcp-keep or --dhcp-client")
        return None
    if client is not None and builtin:
        raise UsageError("--dhcp-client runs an external client; --dhcp is the built-in one")
    if values.get("dhcp6") and (values.get("dhcp") or values.get("dhcp_keep")):
        raise UsageError("--dhcp6 asks for an IPv6 lease; --dhcp and --dhcp-keep for IPv4")
    if client is not None and (client == "dhcp" or client not in DHCP_CLIENTS):
        raise UsageError(f"unknown DHCP client {client!r}: udhcpc, dhclient or dhcpcd")
    if builtin and "dhcp_options" in values:
        raise UsageError("--dhcp-options are for --dhcp-client; see --hostname for --dhcp")
    timeout = values.get("dhcp_timeout")
    hostname = values.get("hostname")
    return DhcpRequest(
        str(client) if client is not None else "dhcp",
        foreground=bool(values.get("dhcp_keep")),
        options=str(values.get("dhcp_options") or ""),
        hostname=str(hostname) if hostname is not None else None,
        dns=bool(values.get("dns")),
        timeout=parse_seconds(str(timeout), "--dhcp-timeout", 3600) if timeout else 30.0,
        family=6 if values.get("dhcp6") else 4,
    )
