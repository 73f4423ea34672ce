"""Host agents that take over pipework's interfaces: NetworkManager, systemd-networkd,
and udev's MAC address policy; and the udev rule that tells them to leave them alone.

The rule (``UDEV_RULE``, in /run/udev/rules.d) sets two udev properties on
pipework's bridges and veth host ends: ``NM_UNMANAGED=1``, which NetworkManager
honours, and ``ID_NET_MANAGED_BY=pipework``, which NetworkManager (anything but its
own name: unmanaged) and systemd-networkd (>= 255: manages only its own) honour.
udevd picks up a new rules file by itself, and the rule holds for interfaces made
later; a NetworkManager ``conf.d`` keyfile (``unmanaged-devices=``) would need a
reload of NetworkManager. It matches pipework's default veth names (``v<if>pl<pid>``,
``v<if>ns<n>``) and, for bridges and chosen names, pipework's mark (the alias).
"""

from __future__ import annotations

import os

from .finding import Finding, read_text, running

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

#: where systemd-networkd and udev read .network / .link files, strongest first
NETWORK_DIRS = (
    "/etc/systemd/network",
    "/run/systemd/network",
    "/usr/local/lib/systemd/network",
    "/usr/lib/systemd/network",
    "/lib/systemd/network",
)
NM_CONF = ("/etc/NetworkManager/NetworkManager.conf",)
NM_CONF_DIRS = (
    "/usr/lib/NetworkManager/conf.d",
    "/run/NetworkManager/conf.d",
    "/etc/NetworkManager/conf.d",
)
UDEV_RULE_DIR = "/run/udev/rules.d"
#: after NetworkManager's own 85-nm-unmanaged.rules, so that ours is the last word
UDEV_RULE = f"{UDEV_RULE_DIR}/90-pipework-unmanaged.rules"
UDEV_RULE_TEXT = """\
# Written by pipework: NetworkManager and systemd-networkd leave pipework's
# interfaces alone (its veth host ends by their default names, the rest by its mark).
SUBSYSTEM!="net", GOTO="pipework_end"
ACTION=="remove", GOTO="pipework_end"
KERNEL=="v*pl[0-9]*", GOTO="pipework_unmanaged"
KERNEL=="v*ns[0-9]*", GOTO="pipework_unmanaged"
ATTR{ifalias}=="pipework *", GOTO="pipework_unmanaged"
GOTO="pipework_end"
LABEL="pipework_unmanaged"
ENV{NM_UNMANAGED}="1"
ENV{ID_NET_MANAGED_BY}="pipework"
LABEL="pipework_end"
"""


class Probe:
    """An interface the policies are judged against: its name and kind."""

    __slots__ = ("kind", "name")

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind


#: what pipework's interfaces look like, when none exists to judge the policies on
DEFAULT_PROBES = (Probe("veth1pl4242", "veth"), Probe("br1", "bridge"))


def nm_present() -> bool:
    return os.path.isdir(NM_RUN) or bool(running("NetworkManager"))


#: what each agent leaves in /run while it runs (networkd: its state file; its netif
#: directory can outlive it)
NM_RUN = "/run/NetworkManager"
NETWORKD_RUN = "/run/systemd/netif/state"


def networkd_present() -> bool:
    return bool(running("systemd-network"))


def ensure_udev_rule() -> bool:
    """Write the rule when NetworkManager or systemd-networkd is on this host and it is
    not there yet; True when it was written. Cheap when neither is: two stats."""
    if os.path.exists(UDEV_RULE) or not (os.path.isdir(NM_RUN) or os.path.exists(NETWORKD_RUN)):
        return False
    from .._lowlevel.runstate import write_atomically

    write_atomically(UDEV_RULE, UDEV_RULE_TEXT)  # (udevd reads only *.rules: never half)
    return True


# -- configuration files ---------------------------------------------------------------


def _sections(text: str) -> dict[str, dict[str, list[str]]]:
    """An INI file as systemd reads it: sections of keys, each with its values in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
            continue
        key, eq, value = line.partition("=")
        if eq and current is not None:
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _config_files(suffix: str) -> list[str]:
    """The files systemd uses, by name (one in a stronger directory hides the others;
    a link to /dev/null or an empty file masks it), in the order it reads them."""
    chosen: dict[str, str] = {}
    for directory in NETWORK_DIRS:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.endswith(suffix) and name not in chosen:
                chosen[name] = f"{directory}/{name}"
    return [
        path
        for _name, path in sorted(chosen.items())
        if os.path.realpath(path) != "/dev/null" and os.path.getsize(path) > 0
    ]


def _glob_list_matches(values: list[str], name: str) -> bool:
    """``Name=`` style: blank-separated globs, the whole list negated by a leading '!';
    an empty assignment resets the list."""
    from fnmatch import fnmatchcase

    patterns: list[str] = []
    for value in values:
        patterns = [] if not value else [*patterns, *value.split()]
    if not patterns:
        return True
    negated = patterns[0].startswith("!")
    if negated:
        patterns = [patterns[0][1:], *patterns[1:]]
    hit = any(fnmatchcase(name, p) for p in patterns if p)
    return hit != negated


#: [Match] keys that pick interfaces by something pipework's interfaces do not have
_SPECIFIC = ("MACAddress", "PermanentMACAddress", "Path", "Property", "SSID", "BSSID", "WLAN")


def _match(section: dict[str, list[str]], probe: Probe, name_key: str) -> bool:
    if any(key.startswith(_SPECIFIC) for key in section):
        return False
    if name_key in section and not _glob_list_matches(section[name_key], probe.name):
        return False
    for key in ("Type", "Kind", "Driver"):
        if key not in section:
            continue
        value = "ether" if key == "Type" else probe.kind
        if not _glob_list_matches(section[key], value):
            return False
    return True


def networkd_findings(probes: Iterable[Probe]) -> list[Finding]:
    """A .network file whose [Match] takes one of pipework's interfaces: networkd would
    configure it (addresses, DHCP, bringing it down), the first match wins."""
    files = [(path, _sections(read_text(path) or "")) for path in _config_files(".network")]
    state = "running" if networkd_present() else "not running now"
    claimed: dict[str, list[Probe]] = {}  # file -> the interfaces it takes
    for probe in probes:
        for path, sections in files:
            if not _match(sections.get("Match", {}), probe, "Name"):
                continue
            if sections.get("Link", {}).get("Unmanaged", ["no"])[-1] not in ("yes", "true", "1"):
                claimed.setdefault(path, []).append(probe)
            break
    found = []
    for path, taken in claimed.items():
        how = "has no [Match]" if "Match" not in dict(files)[path] else "matches them"
        found.append(
            Finding(
                "networkd",
                tuple(p.name for p in taken),
                f"systemd-networkd ({state}) would manage pipework's {_names(taken)}: {path} {how}",
                f"narrow the [Match] of {path} (Name=), or sort before it a .network "
                "matching pipework's interfaces with [Link] Unmanaged=yes",
            )
        )
    return found


def _names(probes: list[Probe], most: int = 3) -> str:
    text = ", ".join(f"{p.kind} {p.name}" for p in probes[:most])
    return text + (f" and {len(probes) - most} more" if len(probes) > most else "")


def udev_link_findings(probes: Iterable[Probe]) -> list[Finding]:
    """The .link file udev applies to a new interface (the first that matches) setting
    MACAddressPolicy=persistent or random: udev rewrites the MAC the kernel chose."""
    files = [(path, _sections(read_text(path) or "")) for path in _config_files(".link")]
    state = "running" if running("systemd-udevd", "udevd") else "not running now"
    claimed: dict[tuple[str, str], list[Probe]] = {}  # (file, policy) -> interfaces
    for probe in probes:
        for path, sections in files:
            if not _match(sections.get("Match", {}), probe, "OriginalName"):
                continue
            policy = sections.get("Link", {}).get("MACAddressPolicy", ["none"])[-1]
            if policy in ("persistent", "random"):
                claimed.setdefault((path, policy), []).append(probe)
            break
    return [
        Finding(
            "udev",
            tuple(p.name for p in taken),
            f"udev ({state}) gives pipework's {_names(taken)} a MAC of its own after "
            f"creation (MACAddressPolicy={policy} in {path})",
            f"add a .link file sorted before {os.path.basename(path)} with [Match] "
            "Kind=veth bridge and [Link] MACAddressPolicy=none",
        )
        for (path, policy), taken in claimed.items()
    ]


def _nm_unmanaged_specs() -> list[str]:
    """The ``unmanaged-devices`` specs of NetworkManager's configuration files."""
    files = list(NM_CONF)
    for directory in NM_CONF_DIRS:
        try:
            files += sorted(
                f"{directory}/{n}" for n in os.listdir(directory) if n.endswith(".conf")
            )
        except OSError:
            continue
    specs: list[str] = []
    for path in files:
        keyfile = _sections(read_text(path) or "").get("keyfile", {})
        for value in keyfile.get("unmanaged-devices", []):
            specs += [s.strip() for s in value.replace(",", ";").split(";") if s.strip()]
    return specs


def _nm_spec_covers(spec: str, probe: Probe) -> bool:
    from fnmatch import fnmatchcase

    kind, _, value = spec.partition(":")
    if kind == "interface-name":
        value = value.lstrip("=~")
        return fnmatchcase(probe.name, value)
    if kind in ("type", "driver"):
        return value == probe.kind
    return spec == "*"


def networkmanager_findings(probes: Iterable[Probe]) -> list[Finding]:
    """NetworkManager on this host, and pipework's interfaces not left to themselves:
    neither pipework's udev rule nor an ``unmanaged-devices`` spec covers them (or,
    with nmcli and NetworkManager running, it shows them managed)."""
    conf = any(os.path.exists(p) for p in NM_CONF)
    if not (nm_present() or conf):
        return []
    state = "running" if running("NetworkManager") else "configured, not running now"
    managed = _nmcli_managed()
    specs = _nm_unmanaged_specs()
    rule = os.path.exists(UDEV_RULE)
    found = []
    for probe in probes:
        if managed is not None and probe.name in managed:
            found.append(
                Finding(
                    "networkmanager",
                    (probe.name,),
                    f"NetworkManager manages pipework's {probe.kind} {probe.name} "
                    f"({managed[probe.name]})",
                    f"nmcli device set {probe.name} managed no",
                )
            )
            continue
        if rule or any(_nm_spec_covers(s, probe) for s in specs):
            continue
        found.append(
            Finding(
                "networkmanager",
                (probe.name,),
                f"NetworkManager ({state}) is not told to leave pipework's {probe.kind} "
                f"{probe.name} alone (no unmanaged-devices for it, no {UDEV_RULE})",
                "attach once with NetworkManager running (pipework then writes its udev "
                f"rule), or add unmanaged-devices=interface-name:{probe.name} to a file "
                "of /etc/NetworkManager/conf.d and reload NetworkManager",
            )
        )
    return found


def _nmcli_managed() -> dict[str, str] | None:
    """Devices NetworkManager manages (name -> state), when nmcli and NetworkManager are."""
    if not running("NetworkManager"):
        return None
    from .._lowlevel.programs import capture, which
    from ..errors import CommandError

    path = which("nmcli")
    if path is None:
        return None
    try:
        status, out, _err = capture(
            [path, "-t", "-f", "DEVICE,STATE", "device", "status"], what="nmcli", timeout=5
        )
    except CommandError:
        return None
    if status != 0:
        return None
    managed = {}
    for line in out.splitlines():
        device, _, state = line.rpartition(":")
        if device and not state.startswith("unmanaged"):
            managed[device.replace("\\:", ":")] = state
    return managed
