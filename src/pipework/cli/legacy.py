"""The original pipework command line, parsed into the model. Pure: no I/O at all.

Every form the shell script accepts, with its defaults::

    pipework [--direct-phys] <hostif> [-i containerif] [-l localif] [-a 4|6] \\
             <guest> <ip>/<prefix>[@gateway] [macaddr][@vlan]
    pipework <hostif> [-i containerif] [-l localif] <guest> dhcp|dhcp:OPTS|udhcpc[-f][:OPTS]|
             dhclient[-f][:OPTS]|dhcpcd[:OPTS] [macaddr][@vlan]
    pipework mac:<hostif-mac> …             select the host interface by its MAC
    pipework route|rule|tc <guest> <args…>  run `ip route|ip rule|tc` inside the guest
    pipework dummy <guest> …                a dummy interface (the kernel must have it)
    pipework --wait [-i containerif]        inside a container: wait for the interface

``0/0`` attaches without an address; ``U:<string>`` as the MAC derives a stable one.
pipework adds ``-v``, ``--create-bridge``, ``--mtu``, ``--force``, the kind options
``--macvlan-mode``, ``--ipvlan-mode``, ``--ovs-datapath`` and ``--vlan-filtering``,
a VXLAN segment's (host interface ``vxlanVNI``) ``--remote``, ``--group``,
``--local``, ``--dstport`` and ``--vxlan-dev``, and for ``--wait``, ``--timeout``.
Options may come in any order between the host interface and the guest; ``--``
ends the global options, so an interface named like an option or a verb still works.
"""

from __future__ import annotations

from .._lowlevel.record import Record
from ..errors import UsageError
from ..inet import IPAddress, IPInterface, parse_address, parse_interface
from ..integers import parse_int, parse_seconds
from ..model import DHCP_CLIENTS, DHCP_TIMEOUT, VNI_MAX, Addressing, AttachSpec, DhcpRequest
from ..names import GuestRef, check_ifname, parse_guest_ref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PASSTHROUGH = {"route": ("ip", "route"), "rule": ("ip", "rule"), "tc": ("tc",)}
#: tc's own options that cannot leave the guest: output formats only. The others
#: would (-n/-netns another namespace, -b/-batch and -cf/-conf files of the host),
#: and tc takes any prefix of an option's name, so only these exact words pass.
_TC_OPTIONS = frozenset(
    (
        "-s", "-stats", "-statistics", "-d", "-details", "-r", "-raw", "-p", "-pretty",
        "-i", "-iec", "-g", "-graph", "-j", "-json", "-N", "-Numeric", "-nm", "-name",
        "-t", "-timestamp", "-ts", "-tshort", "-c", "-color",
    )
)  # fmt: skip
_FOREGROUND_OK = ("dhcp", "udhcpc", "dhclient")  # dhcpcd has no -f mode in the original
MAX_ARG = 4096

USAGE = """\
Usage:
  pipework attach|detach|ls|inspect ...   (see pipework VERB --help)
  pipework <hostinterface> [-i containerinterface] [-l localinterfacename] [-a 4|6]
           <guest> <ipaddr>/<subnet>[@default_gateway] [macaddr][@vlan]
  pipework <hostinterface> [-i containerinterface] [-l localinterfacename]
           <guest> dhcp[-f]|udhcpc[-f]|dhclient[-f]|dhcpcd[:options] [macaddr][@vlan]
  pipework mac:<hostinterface-mac> [-i containerinterface] <guest> <ipaddr>/<subnet>
  pipework --direct-phys <hostinterface> [-i containerinterface] <guest> <ipaddr>/<subnet>
  pipework route|rule|tc <guest> <arguments...>
  pipework dummy <guest> <ipaddr>/<subnet>
  pipework vxlan<VNI> --remote <addr>|--group <addr> <guest> <ipaddr>/<subnet>
  pipework --wait [-i containerinterface] [--timeout SECONDS]

<guest> is an LXC container, a Docker container (name or ID), a named network
namespace, a path to a netns file, or a pid; a prefix (lxc:, docker:, netns:, pid:)
skips the guessing. <macaddr> may be U:<string> for a MAC derived from the string.
Options (anywhere before <guest>): -v print each kernel operation as an `ip`
command; --create-bridge create <hostinterface> as a Linux bridge whatever its
name; --mtu N set the MTU; --force replace a different attachment of the same
interface; --macvlan-mode MODE (private, vepa, bridge, passthru, source) or
--ipvlan-mode MODE (l2, l3, l3s) on a NIC; --ovs-datapath system|netdev for an
OVS bridge pipework creates; --vlan-filtering allow @vlan to turn on VLAN
filtering on a Linux bridge pipework did not create; --dns write the lease's DNS
servers into the guest's resolv.conf and --dhcp-timeout S bound the built-in
DHCP client (dhcp, dhcp-f: dhcp-f keeps renewing the lease). vxlan<VNI> joins a
VXLAN segment across hosts: --remote ADDR or --group ADDR, --local ADDR,
--dstport PORT (4789), --vxlan-dev DEV (the underlay device). --allow-forward
adds the firewall's accept rule for traffic within the bridge (docs/doctor.md).
--host-shim lets the host reach a macvlan guest, through a shim on the NIC
(pipework shim, docs/traps.md).
Also: pipework link GUEST_A[:IF] GUEST_B[:IF] joins two guests directly; pipework
gc removes what vanished guests left behind.
"""


class AttachCommand(Record):
    spec: AttachSpec
    verbose: bool


class PassthroughCommand(Record):
    """``route``, ``rule`` or ``tc``: a host program run inside the guest's netns."""

    tool: str
    guest: GuestRef
    args: tuple[str, ...]
    verbose: bool

    @property
    def argv0(self) -> tuple[str, ...]:
        """The program and its first words (``ip route``)."""
        return PASSTHROUGH[self.tool]


class WaitCommand(Record):
    ifname: str
    timeout: float | None


class HelpCommand(Record):
    pass


def _take_value(args: list[str], i: int, option: str) -> str:
    if i + 1 >= len(args):
        raise UsageError(f"option {option} needs a value")
    return args[i + 1]


def _check_tc_args(args: list[str]) -> None:
    """``pipework tc GUEST …`` runs tc inside the guest: refuse what would make it act
    elsewhere (its options before the object, and ``tc exec``, which runs programs)."""
    for arg in args:
        if not arg.startswith("-"):
            if arg == "exec":
                raise UsageError("'tc exec' runs programs; pipework does not pass it on")
            return
        if arg.replace("--", "-", 1) not in _TC_OPTIONS:
            raise UsageError(
                f"tc option {arg!r} refused: pipework runs tc inside the guest, and only "
                "output options (-s, -d, -j, -p …) keep it there"
            )


def parse_legacy(argv: list[str]) -> AttachCommand | PassthroughCommand | WaitCommand | HelpCommand:
    """Parse the original command line (without the program name)."""
    for arg in argv:
        if len(arg) > MAX_ARG:
            raise UsageError(f"argument of {len(arg)} characters is too long (at most {MAX_ARG})")
        if "\0" in arg:
            raise UsageError("argument contains a NUL byte")
    args = list(argv)
    opts: dict[str, object] = {}
    ended = False  # after "--" the next word is a host interface, whatever it looks like
    # Options before the host interface: the original's --direct-phys and --wait,
    # and the ones it shares with the position after the host interface.
    while args and args[0].startswith("-"):
        opt = args[0]
        if opt in ("-h", "--help"):
            return HelpCommand()
        if opt == "--wait":
            return _parse_wait(args[1:])
        if opt == "--":
            ended = True
            args.pop(0)
            break
        if opt == "--direct-phys":  # as the original: only before the host interface
            opts["direct_phys"] = True
            args.pop(0)
            continue
        taken = _common_option(args, 0, opts)
        if taken is None:
            raise UsageError(f"unknown option {opt!r} (see pipework --help)")
        del args[:taken]
    if not args:
        raise UsageError("missing arguments (see pipework --help)")
    first = args.pop(0)
    if first in PASSTHROUGH and not opts.get("direct_phys") and not ended:
        if not args:
            raise UsageError(f"pipework {first} needs a guest")
        if first == "tc":
            _check_tc_args(args[1:])
        return PassthroughCommand(
            first, parse_guest_ref(args[0]), tuple(args[1:]), bool(opts.get("verbose"))
        )
    return _parse_attach(first, args, opts)


#: options without a value, valid before and after the host interface -> AttachSpec field
_FLAGS = {
    "--create-bridge": "create_bridge",
    "--force": "force",
    "--vlan-filtering": "vlan_filtering",
    "--dns": "dns",
    "--allow-forward": "allow_forward",
    "--host-shim": "host_shim",
}
#: options with a word as value (checked by the AttachSpec) -> AttachSpec field
_VALUED = {
    "--macvlan-mode": "macvlan_mode",
    "--ipvlan-mode": "ipvlan_mode",
    "--ovs-datapath": "ovs_datapath",
}
#: a VXLAN segment's options (``vxlanVNI``), read by ``vxlan_fields``
_VXLAN = {
    "--remote": "remote",
    "--group": "group",
    "--local": "local",
    "--dstport": "dstport",
    "--vxlan-dev": "vxlan_dev",
}


#: options after the host interface that take a value (the guest comes after them)
VALUE_OPTIONS = ("-i", "-l", "-a", "--mtu", "--dhcp-timeout", *_VALUED, *_VXLAN)


def insert_guest(words: list[str], guest: str) -> list[str]:
    """The original command line ``words`` with the guest put where it goes: after
    the host interface and the options that follow it (a declared attachment leaves
    its container out: ``br1 -i eth2 192.0.2.10/24`` -> ``br1 -i eth2 GUEST …``)."""
    i = 0
    while i < len(words) and words[i].startswith("-"):  # options before the host interface
        if words[i] == "--":
            i += 1
            break
        i += 2 if words[i] in VALUE_OPTIONS else 1
    i += 1  # the host interface
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in VALUE_OPTIONS else 1
    return [*words[:i], guest, *words[i:]]


def _common_option(args: list[str], i: int, opts: dict[str, object]) -> int | None:
    """Parse the option at ``args[i]`` into ``opts``: how many words it took, or None
    when it is not one of the options allowed anywhere on the line."""
    opt = args[i]
    if opt in ("-v", "--verbose"):
        opts["verbose"] = True
        return 1
    if opt in _FLAGS:
        opts[_FLAGS[opt]] = True
        return 1
    if opt == "--mtu":
        opts["mtu"] = parse_int(_take_value(args, i, opt), "--mtu", 68, 65535)
        return 2
    if opt in _VALUED:
        opts[_VALUED[opt]] = _take_value(args, i, opt)
        return 2
    if opt in _VXLAN:
        if _VXLAN[opt] in opts:
            raise UsageError(f"option {opt} given twice")
        opts[_VXLAN[opt]] = _take_value(args, i, opt)
        return 2
    if opt == "--dhcp-timeout":
        opts["dhcp_timeout"] = float(parse_seconds(_take_value(args, i, opt), opt, 3600))
        return 2
    return None


def vxlan_fields(values: dict[str, object]) -> dict[str, Any]:
    """The VXLAN fields of an AttachSpec from the options ``--remote``, ``--group``,
    ``--local`` (addresses), ``--dstport`` and ``--vxlan-dev`` (both command lines);
    the model checks how they go together."""
    fields: dict[str, Any] = {}
    for name in ("remote", "group", "local"):
        if values.get(name) is not None:
            fields[f"vxlan_{name}"] = parse_address(str(values[name]), f"VXLAN {name}")
    if values.get("dstport") is not None:
        fields["vxlan_dstport"] = parse_int(str(values["dstport"]), "--dstport", 1, 65535)
    if values.get("vxlan_dev") is not None:
        fields["vxlan_dev"] = check_ifname(str(values["vxlan_dev"]), "VXLAN underlay device")
    return fields


def _vni(host_if: str | None, opts: dict[str, object]) -> int | None:
    """The VNI of a host interface ``vxlanVNI`` given with a segment's options (without
    them, a missing ``vxlanVNI`` is still a segment: the VXLAN kind says what it lacks)."""
    if host_if is None or not any(key in opts for key in _VXLAN.values()):
        return None
    digits = host_if[len("vxlan") :] if host_if.startswith("vxlan") else ""
    if not digits.isdigit() or not digits.isascii() or digits.startswith("0"):
        raise UsageError(
            f"{', '.join(o for o, key in _VXLAN.items() if key in opts)} describe a VXLAN "
            f"segment: the host interface is then vxlanVNI, not {host_if!r}"
        )
    return parse_int(digits, "VXLAN id (vxlanVNI)", 1, VNI_MAX)


def _dhcp_with(dhcp: DhcpRequest, opts: dict[str, object]) -> DhcpRequest:
    """The DHCP request with --dns and --dhcp-timeout, when given."""
    timeout = opts.get("dhcp_timeout")
    return dhcp.replace(
        dns=bool(opts.get("dns")),
        timeout=timeout if isinstance(timeout, float) else dhcp.timeout,
    )


def _word(opts: dict[str, object], key: str) -> str | None:
    value = opts.get(key)
    return value if isinstance(value, str) else None


def _parse_wait(args: list[str]) -> WaitCommand:
    ifname = "eth1"
    timeout = None
    i = 0
    while i < len(args):
        opt = args[i]
        if opt == "-i":  # empty: the default, as in the original
            value = _take_value(args, i, opt)
            ifname = check_ifname(value, "container interface name") if value else "eth1"
        elif opt == "--timeout":
            timeout = parse_seconds(_take_value(args, i, opt), "--timeout", 86400)
        else:
            raise UsageError(f"unexpected argument {opt!r} after --wait")
        i += 2
    return WaitCommand(ifname, timeout)


def _parse_attach(first: str, args: list[str], opts: dict[str, object]) -> AttachCommand:
    host_if: str | None
    host_mac = None
    if first.startswith("mac:"):
        from ..mac import parse_mac

        host_mac = parse_mac(first[4:], "host interface MAC (mac:…)")
        host_if = None
    else:
        host_if = check_ifname(first, "host interface name")
    container_ifname = None
    host_ifname = None
    family = None
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if positional or not arg.startswith("-"):
            positional.append(arg)
            i += 1
            continue
        if arg == "-i":  # an empty value means "the default", as in the original
            value = _take_value(args, i, arg)
            container_ifname = check_ifname(value, "container interface name") if value else None
        elif arg == "-l":
            value = _take_value(args, i, arg)
            host_ifname = check_ifname(value, "local interface name (-l)") if value else None
        elif arg == "-a":
            value = _take_value(args, i, arg)
            if value not in ("4", "6"):
                raise UsageError(f"invalid address family -a {value!r}: must be 4 or 6")
            family = int(value)
        else:
            taken = _common_option(args, i, opts)
            if taken is None:
                raise UsageError(f"unknown option {arg!r} (see pipework --help)")
            i += taken
            continue
        i += 2
    if len(positional) < 2:
        what = "a guest and an address" if not positional else "an address (or dhcp, or 0/0)"
        raise UsageError(f"missing {what} (see pipework --help)")
    if len(positional) > 3:
        raise UsageError(f"unexpected argument {positional[3]!r} (see pipework --help)")
    guest = parse_guest_ref(positional[0])
    addressing = _parse_addressing(positional[1], family)
    if addressing.dhcp is not None:
        addressing = addressing.replace(dhcp=_dhcp_with(addressing.dhcp, opts))
    elif "dns" in opts or "dhcp_timeout" in opts:
        raise UsageError("--dns and --dhcp-timeout go with a DHCP mode (dhcp, dhcp-f…)")
    # An empty MAC argument (a script passing "$MAC" unset) means none, as in the original.
    has_mac = len(positional) == 3 and positional[2] != ""
    mac, vlan, pkey = _parse_mac_vlan(positional[2]) if has_mac else (None, None, None)
    spec = AttachSpec(
        host_if,
        guest,
        addressing,
        container_ifname=container_ifname or "eth1",
        host_ifname=host_ifname,
        host_mac=host_mac,
        mac=mac,
        vlan=vlan,
        pkey=pkey,
        mtu=mtu if isinstance(mtu := opts.get("mtu"), int) else None,
        create_bridge=bool(opts.get("create_bridge")),
        direct_phys=bool(opts.get("direct_phys")),
        force=bool(opts.get("force")),
        vlan_filtering=bool(opts.get("vlan_filtering")),
        allow_forward=bool(opts.get("allow_forward")),
        host_shim=bool(opts.get("host_shim")),
        macvlan_mode=_word(opts, "macvlan_mode"),
        ipvlan_mode=_word(opts, "ipvlan_mode"),
        ovs_datapath=_word(opts, "ovs_datapath"),
        vni=_vni(host_if, opts),
        **vxlan_fields(opts),
    )
    return AttachCommand(spec, bool(opts.get("verbose")))


def parse_dhcp(text: str) -> DhcpRequest | None:
    """``dhcp``, ``dhcp:OPTS``, ``udhcpc-f:OPTS``…; None when ``text`` is not a DHCP mode.

    An external client gets OPTS as they are (split on whitespace, as the
    original's shell does); the built-in one understands udhcpc's ``-x
    hostname:NAME`` and ``-V VENDOR``.
    """
    mode, _colon, options = text.partition(":")
    foreground = mode.endswith("-f")
    client = mode[:-2] if foreground else mode
    if client not in DHCP_CLIENTS:
        return None
    if foreground and client not in _FOREGROUND_OK:
        raise UsageError(f"unknown DHCP mode {mode!r} ({client} has no -f form)")
    if client != "dhcp":
        return DhcpRequest(client, foreground, options)
    return _builtin_dhcp(foreground, options)


#: udhcpc's flags that say how to run a client; the built-in one already runs that way
_UDHCPC_NO_OPS = ("-q", "-f", "-n")


def _builtin_dhcp(foreground: bool, options: str) -> DhcpRequest:
    """``dhcp:OPTIONS`` for the built-in client: the original handed them to busybox's
    udhcpc, so udhcpc's meaning is kept for what the built-in client can do —
    ``-x hostname:NAME``, ``-V VENDOR``, ``-t N`` discovers ``-T SEC`` apart (the
    timeout, N x SEC; udhcpc's defaults are 3 and 3) — and -q, -f, -n change nothing."""
    hostname = vendor = None
    tries: float | None = None
    pause: float | None = None
    words = options.split()
    i = 0
    while i < len(words):
        flag = words[i]
        value = words[i + 1] if i + 1 < len(words) else None
        if flag in _UDHCPC_NO_OPS:
            i += 1
            continue
        if flag == "-x" and value is not None and value.startswith("hostname:"):
            hostname = value[len("hostname:") :]
        elif flag == "-V" and value is not None:
            vendor = value
        elif flag == "-t" and value is not None:
            tries = float(parse_int(value, "udhcpc -t (discovers)", 1, 100))
        elif flag == "-T" and value is not None:
            pause = parse_seconds(value, "udhcpc -T (seconds between discovers)", 60)
        else:
            raise UsageError(
                f"the built-in DHCP client does not take {' '.join(words[i : i + 2])!r}: "
                "dhcp:OPTIONS may be -x hostname:NAME, -V VENDOR, -t N, -T SECONDS "
                "(udhcpc:OPTIONS runs udhcpc itself)"
            )
        i += 2
    timeout = DHCP_TIMEOUT if tries is None and pause is None else (tries or 3) * (pause or 3)
    return DhcpRequest(
        "dhcp", foreground, options, hostname=hostname, vendor_class=vendor, timeout=timeout
    )


def _parse_addressing(text: str, family: int | None) -> Addressing:
    if not text:
        raise UsageError("empty address (use ADDR/PREFIX, dhcp, or 0/0)")
    dhcp = parse_dhcp(text)
    if dhcp is not None:
        return Addressing(dhcp=dhcp.replace(family=family) if family == 6 else dhcp)
    addr_text, at, gw_text = text.partition("@")
    if at and not gw_text:
        raise UsageError(f"empty gateway after '@' in {text!r}")
    addresses: tuple[IPInterface, ...] = ()
    if addr_text != "0/0":
        addresses = (parse_interface(addr_text),)
        if family is not None and addresses[0].family != family:
            raise UsageError(
                f"-a {family} given, but {addr_text} is an IPv{addresses[0].family} address"
            )
    gateways: tuple[IPAddress, ...] = ()
    if at:
        if "@" in gw_text:
            raise UsageError(f"invalid gateway {gw_text!r}: more than one '@'")
        gateways = (parse_address(gw_text, "gateway"),)
        if family is not None and gateways[0].family != family:
            raise UsageError(f"-a {family} given, but gateway {gw_text} is IPv{gateways[0].family}")
    return Addressing(addresses, gateways)


def _parse_mac_vlan(text: str) -> tuple[bytes | None, int | None, int | None]:
    """``[MAC][@TAG]``: the tag is a VLAN id (decimal), or for IPoIB a partition key,
    which the original reads as hexadecimal; which applies is known once the host
    interface is, so both readings are kept when both are valid."""
    mac_text, at, tag = text.partition("@")
    vlan = pkey = None
    if at:
        hex_ok = (
            0 < len(tag) <= 4
            and all(c in "0123456789abcdefABCDEF" for c in tag)
            and not (tag.isdigit() and tag.startswith("0"))  # 010: refused as a VLAN id
        )
        pkey = int(tag, 16) if hex_ok and int(tag, 16) > 0 else None
        try:
            vlan = parse_int(tag, "VLAN id", 1, 4094)
        except UsageError:
            if pkey is None:
                raise
    if not mac_text:
        if not at:
            raise UsageError("empty MAC address")
        return None, vlan, pkey
    return parse_mac_arg(mac_text), vlan, pkey


def parse_mac_arg(text: str) -> bytes:
    """A MAC as the command line gives it: ``aa:bb:…`` or ``U:<string>``."""
    from ..mac import mac_from_string, parse_mac  # only when a MAC is given

    if text.startswith("U:"):
        seed = text[2:]
        if not seed:
            raise UsageError("empty string after U: (U:<string> derives a MAC from the string)")
        return mac_from_string(seed)
    return parse_mac(text)
