"""Bridged traffic and the firewall: br_netfilter, FORWARD chains that drop it, and
the narrow accept rule pipework adds when asked (``--allow-forward``).

With br_netfilter on (``/proc/sys/net/bridge/bridge-nf-call-iptables``, per network
namespace), a frame going from one port of a bridge to another crosses the IP
FORWARD hook, in -i BRIDGE -o BRIDGE. Every base chain registered on that hook sees
it: the legacy ``filter`` table (iptables-legacy), and each nftables chain of hook
``forward`` (iptables-nft's ``ip filter FORWARD`` is one of them). An accept ends
only the chain it is in; a drop in any of them drops the frame. So the accept rule
goes into each chain that would drop, in the tool that owns it (iptables-legacy for
the legacy table, nft for the rest), never into a table of pipework's own, where it
would change nothing. Where Docker's DOCKER-USER chain exists it is the place
(Docker jumps to it first and never rewrites it).

Every rule pipework adds carries the comment ``pipework:BRIDGE``: it is found and
removed by that alone. Reading a ruleset spawns the tools; the attach path does it
only when br_netfilter is on, and reads the legacy table only when the kernel has
one (/proc/net/ip_tables_names) and nftables only when its module is there.
"""

from __future__ import annotations

import os

from .._lowlevel.record import Record
from .._lowlevel.runstate import ROOT as STATE_ROOT
from ..errors import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

#: the per-netns switches of br_netfilter, by IP version
NF_CALL = {
    4: "/proc/sys/net/bridge/bridge-nf-call-iptables",
    6: "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
}
#: the legacy tables' names, present only once their module is in use
LEGACY_TABLES = {4: "/proc/net/ip_tables_names", 6: "/proc/net/ip6_tables_names"}
LEGACY_TOOLS = {4: "iptables-legacy", 6: "ip6tables-legacy"}
#: how long one firewall tool may run
TOOL_TIMEOUT = 5.0
#: the deepest chain of jumps followed when judging a chain
_MAX_DEPTH = 16


def comment(bridge: str) -> str:
    """The mark of pipework's accept rule for ``bridge``."""
    return f"pipework:{bridge}"


def _read(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    finally:
        os.close(fd)


def br_netfilter_on() -> tuple[int, ...]:
    """The IP versions (4, 6) whose bridged traffic crosses the firewall here."""
    return tuple(v for v, path in NF_CALL.items() if (_read(path) or "0").strip() == "1")


class Rule(Record):
    """One rule as far as traffic within a bridge is concerned."""

    iif: str | None  # the -i / iifname it matches (None: any); '!' first when negated
    oif: str | None
    verdict: str  # accept, drop, return, jump, goto, or '' (no verdict: counter, log...)
    target: str = ""  # the chain of a jump / goto
    other: bool = False  # it matches on something else as well (state, addresses...)
    comment: str = ""
    handle: int = 0  # nftables' rule handle (0: iptables)


class Chain(Record):
    """A chain of one ruleset: ``backend`` iptables-legacy or nftables."""

    backend: str
    family: str  # ip, ip6, inet (iptables-legacy: ip or ip6)
    table: str
    name: str
    hook: str | None  # forward for a base chain on the forward hook
    policy: str  # accept or drop ('' for a regular chain)
    rules: tuple[Rule, ...]


class Blocker(Record):
    """A chain that drops traffic within ``bridge``, and where an accept must go."""

    bridge: str
    chain: Chain
    reason: str  # "policy DROP", "rule -j DROP"
    insert_into: str  # the chain an accept rule goes into (DOCKER-USER or this chain)

    @property
    def where(self) -> str:
        c = self.chain
        if c.backend == "nftables":
            return f"nftables {c.family} {c.table} chain {c.name}"
        return f"{c.backend} {'ip6tables' if c.family == 'ip6' else 'iptables'} {c.name}"

    def fix(self) -> str:
        if self.chain.backend == "nftables":
            c = self.chain
            return (
                f"nft insert rule {c.family} {c.table} {self.insert_into} iifname {self.bridge} "
                f'oifname {self.bridge} accept comment "{comment(self.bridge)}"'
            )
        tool = LEGACY_TOOLS[6 if self.chain.family == "ip6" else 4]
        return f"{tool} {' '.join(_iptables_rule(self.insert_into, self.bridge, '-I'))}"


# -- reading the rulesets --------------------------------------------------------------


def _spawn(program: str, args: list[str], what: str) -> tuple[int, str, str]:
    """Run a firewall tool (posix_spawn: no ``subprocess`` on an attach, bounded by
    TOOL_TIMEOUT); its exit status, stdout and stderr. CommandError when it cannot."""
    from .._lowlevel.programs import DEFAULT_PATH, exchange, which

    path = which(program)
    if path is None:
        raise CommandError(f"{what}: {program} is not installed")
    env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "LC_ALL": "C"}
    try:
        status, out, err = exchange([path, *args], b"", env=env, timeout=TOOL_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CommandError(f"{what}: {program}: {exc}") from None
    return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _tool(program: str, args: list[str]) -> str | None:
    """A listing by a firewall tool; None when it is not installed or fails."""
    try:
        status, out, _err = _spawn(program, args, "read the firewall")
    except CommandError:
        return None
    return out if status == 0 else None


def _legacy_present(version: int) -> bool:
    return "filter" in (_read(LEGACY_TABLES[version]) or "").split()


def _nftables_loaded() -> bool:
    """nf_tables is in the kernel (a module loaded, or built in): asking it anything
    otherwise would load the module, and there would be nothing to find."""
    if os.path.exists("/sys/module/nf_tables") or not os.path.exists("/proc/modules"):
        return True  # (no /proc/modules: a kernel without modules has it built in or not at all)
    builtin = _read(f"/lib/modules/{os.uname().release}/modules.builtin") or ""
    return "/nf_tables.ko" in builtin


def _nftables_present() -> bool:
    """This namespace has at least one nftables table: one netlink dump (tens of
    microseconds) before deciding to spawn ``nft``."""
    if not _nftables_loaded():
        return False
    # (the C modules: the ``socket`` and ``struct`` wrappers import enum and more, 11 ms)
    from _socket import SOCK_CLOEXEC, SOCK_RAW, socket
    from _struct import pack, unpack_from

    af_netlink = 16
    # NETLINK_NETFILTER; NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE / NFT_MSG_NEWTABLE
    netlink_netfilter, get_table, new_table = 12, (10 << 8) | 1, 10 << 8
    flags = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
    request = pack("=IHHIIBBH", 20, get_table, flags, 1, 0, 0, 0, 0)
    try:
        sock = socket(af_netlink, SOCK_RAW | SOCK_CLOEXEC, netlink_netfilter)
    except OSError:
        return True  # cannot tell: let nft read it
    try:
        sock.settimeout(TOOL_TIMEOUT)
        sock.send(request)
        for _ in range(1024):  # a dump ends with NLMSG_DONE; bounded all the same
            data = sock.recv(65536)
            if len(data) < 16:
                return True
            kind = unpack_from("=IH", data)[1]
            if kind == new_table:
                return True
            if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE: no table
                return False
    except OSError:
        return True
    finally:
        sock.close()
    return True


def _split(line: str) -> list[str]:
    """iptables-save's words: blank-separated, "quoted" where a value has blanks."""
    words: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            started = True
        elif ch in " \t" and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        words.append("".join(current))
    return words


def _iptables_rule_of(words: list[str]) -> Rule:
    iif = oif = None
    verdict, target, note, other = "", "", "", False
    negate = False
    i = 0
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate = True
            i += 1
            continue
        if word in ("-i", "--in-interface"):
            iif = ("!" if negate else "") + value
        elif word in ("-o", "--out-interface"):
            oif = ("!" if negate else "") + value
        elif word in ("-j", "-g", "--jump", "--goto"):
            upper = value.upper()
            if upper in ("ACCEPT", "DROP", "REJECT", "RETURN"):
                verdict = "drop" if upper == "REJECT" else upper.lower()
            elif word in ("-j", "--jump") and value in ("LOG", "NFLOG", "MARK", "CONNMARK"):
                verdict = ""
            else:
                verdict, target = ("goto" if word in ("-g", "--goto") else "jump"), value
        elif word == "--comment":
            note = value
        elif word == "-m":
            if value != "comment":
                other = True
        elif word.startswith("-") and word not in ("-A",):
            other = True
            if value.startswith("-") or value == "!":
                i += 1
                negate = False
                continue
        negate = False
        i += 2
    return Rule(iif, oif, verdict, target, other, note)


def legacy_chains(version: int) -> list[Chain]:
    """The legacy filter table's chains (iptables-legacy-save), when the kernel has it."""
    if not _legacy_present(version):
        return []
    out = _tool(f"{LEGACY_TOOLS[version]}-save", ["-t", "filter"])
    return [] if out is None else parse_save(out, "ip6" if version == 6 else "ip")


def parse_save(out: str, family: str) -> list[Chain]:
    """The chains of iptables-save's listing of the filter table."""
    policies: dict[str, str] = {}
    rules: dict[str, list[Rule]] = {}
    for line in out.splitlines():
        if line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policy = rest.split()[0] if rest else "-"
            policies[name] = "" if policy == "-" else policy.lower()
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            words = _split(line)
            rules.setdefault(words[1], []).append(_iptables_rule_of(words[2:]))
    return [
        Chain(
            "iptables-legacy",
            family,
            "filter",
            name,
            "forward" if name == "FORWARD" else None,
            policies.get(name, ""),
            tuple(rules.get(name, ())),
        )
        for name in policies
    ]


def _nft_rule_of(rule: dict[str, object]) -> Rule:
    iif = oif = None
    verdict, target, other = "", "", False
    exprs = rule.get("expr")
    for expr in exprs if isinstance(exprs, list) else ():
        if not isinstance(expr, dict):
            other = True
            continue
        if "match" in expr:
            match = expr["match"]
            left = match.get("left") if isinstance(match, dict) else None
            key = left.get("meta", {}).get("key") if isinstance(left, dict) else None
            right = match.get("right") if isinstance(match, dict) else None
            op = match.get("op") if isinstance(match, dict) else None
            if key in ("iifname", "oifname") and isinstance(right, str) and op in ("==", "!="):
                name = ("!" if op == "!=" else "") + right.replace("*", "+")
                if key == "iifname":
                    iif = name
                else:
                    oif = name
            else:
                other = True
        elif "accept" in expr or "drop" in expr or "return" in expr:
            verdict = next(k for k in ("accept", "drop", "return") if k in expr)
        elif "reject" in expr:
            verdict = "drop"
        elif "jump" in expr or "goto" in expr:
            kind = "jump" if "jump" in expr else "goto"
            spec = expr[kind]
            verdict = kind
            target = str(spec.get("target", "")) if isinstance(spec, dict) else ""
        elif any(k in expr for k in ("counter", "log", "limit", "quota")):
            continue
        else:
            other = True
    note = rule.get("comment")
    handle = rule.get("handle")
    return Rule(
        iif,
        oif,
        verdict,
        target,
        other,
        note if isinstance(note, str) else "",
        handle if isinstance(handle, int) else 0,
    )


def nft_chains() -> list[Chain]:
    """Every IP chain of the nftables ruleset, read from the kernel (``nftnl``), or
    from ``nft -j list ruleset`` when a reply cannot be decoded; iptables-nft's tables
    are nftables tables, read the same way."""
    if not _nftables_present():
        return []
    from .nftnl import read_ruleset

    read: list[tuple[str, str, str, str | None, str, list[Rule]]] | None = None
    fields = read_ruleset()
    if fields is not None:
        read = [(f, t, n, h, p, [Rule(**r) for r in rs]) for f, t, n, h, p, rs in fields]  # type: ignore[arg-type]
    else:
        out = _tool("nft", ["-j", "list", "ruleset"])
        read = [] if out is None else _nft_json_chains(out)
    return [
        Chain("nftables", family, table, name, hook, policy, tuple(rules))
        for family, table, name, hook, policy, rules in read
    ]


def _nft_json_chains(out: str) -> list[tuple[str, str, str, str | None, str, list[Rule]]]:
    """``nft -j list ruleset``'s IP chains: (family, table, name, hook, policy, rules)."""
    from .._lowlevel.jsonlite import loads

    try:
        document = loads(out)
    except ValueError:
        return []
    items = document.get("nftables") if isinstance(document, dict) else None
    heads: dict[tuple[str, str, str], dict[str, object]] = {}
    rules: dict[tuple[str, str, str], list[Rule]] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("chain"), dict):
            c = item["chain"]
            key = (str(c.get("family")), str(c.get("table")), str(c.get("name")))
            heads[key] = c
            rules.setdefault(key, [])
        elif isinstance(item.get("rule"), dict):
            r = item["rule"]
            key = (str(r.get("family")), str(r.get("table")), str(r.get("chain")))
            rules.setdefault(key, []).append(_nft_rule_of(r))
    return [
        (
            family,
            table,
            name,
            "forward" if head.get("type") == "filter" and head.get("hook") == "forward" else None,
            str(head.get("policy", "accept")) if "hook" in head else "",
            rules.get((family, table, name), []),
        )
        for (family, table, name), head in heads.items()
        if family in ("ip", "ip6", "inet")
    ]


def all_chains(versions: tuple[int, ...] = (4, 6)) -> list[Chain]:
    chains: list[Chain] = []
    for version in versions:
        chains += legacy_chains(version)
    chains += [
        c for c in nft_chains() if c.family == "inet" or (4 if c.family == "ip" else 6) in versions
    ]
    return chains


# -- judging them ----------------------------------------------------------------------


def _matches(pattern: str | None, name: str) -> bool:
    if pattern is None:
        return True
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    hit = name.startswith(body[:-1]) if body.endswith("+") else name == body
    return hit != negated


def _verdict(
    chain: Chain, table: dict[str, Chain], bridge: str, depth: int = 0
) -> tuple[str, str] | None:
    """What a frame within ``bridge`` meets in ``chain``: (accept|drop|return, why), or
    None when it falls off the end of a regular chain. Rules that match on more than
    the interfaces decide nothing for every frame, and are passed over."""
    for rule in chain.rules:
        if rule.other or not (_matches(rule.iif, bridge) and _matches(rule.oif, bridge)):
            continue
        if rule.verdict in ("accept", "drop", "return"):
            return rule.verdict, f"rule {_describe(rule)}"
        if rule.verdict in ("jump", "goto") and depth < _MAX_DEPTH:
            inner = table.get(rule.target)
            if inner is None:
                continue
            found = _verdict(inner, table, bridge, depth + 1)
            if found is not None and found[0] != "return":
                return found
            if rule.verdict == "goto":
                return ("return", "") if found is None else found
    return None


def _describe(rule: Rule) -> str:
    parts = [f"-i {rule.iif}" if rule.iif else "", f"-o {rule.oif}" if rule.oif else ""]
    parts.append(f"-j {rule.verdict.upper()}")
    return " ".join(p for p in parts if p)


def blockers(bridge: str, chains: list[Chain] | None = None) -> list[Blocker]:
    """The forward chains that drop traffic within ``bridge`` (with br_netfilter on for
    their family; ``chains`` given: judged as they are, whatever the switches)."""
    if chains is None:
        versions = br_netfilter_on()
        if not versions:
            return []
        chains = all_chains(versions)
    tables: dict[tuple[str, str, str], dict[str, Chain]] = {}
    for c in chains:
        tables.setdefault((c.backend, c.family, c.table), {})[c.name] = c
    found = []
    for c in chains:
        if c.hook != "forward":
            continue
        table = tables[(c.backend, c.family, c.table)]
        verdict = _verdict(c, table, bridge)
        if verdict is None or verdict[0] == "return":
            if c.policy != "drop":
                continue
            verdict = ("drop", "policy DROP")
        if verdict[0] != "drop":
            continue
        into = "DOCKER-USER" if "DOCKER-USER" in table else c.name
        found.append(Blocker(bridge, c, verdict[1], into))
    return found


def warning(bridge: str) -> str | None:
    """The one-line warning of an attach to ``bridge`` whose guests cannot reach each
    other through it; None when nothing drops them (or br_netfilter is off)."""
    found = blockers(bridge)
    if not found:
        return None
    where = "; ".join(f"{b.where} ({b.reason})" for b in found)
    return (
        f"br_netfilter is on and the firewall drops traffic within bridge {bridge}: {where}; "
        f"guests on it cannot reach each other or the gateway: attach with "
        f"--allow-forward, or run '{found[0].fix()}'"
    )


# -- pipework's rules ------------------------------------------------------------------


def _iptables_rule(chain: str, bridge: str, action: str) -> list[str]:
    return [
        action,
        chain,
        "-i",
        bridge,
        "-o",
        bridge,
        "-m",
        "comment",
        "--comment",
        comment(bridge),
        "-j",
        "ACCEPT",
    ]


def _run(program: str, args: list[str], what: str) -> None:
    """Change a ruleset; CommandError naming the command when it fails."""
    status, _out, err = _spawn(program, args, what)
    if status != 0:
        raise CommandError(f"{what}: {program} {' '.join(args)}: {' '.join(err.split())}")


def ours(chains: list[Chain]) -> Iterator[tuple[Chain, Rule]]:
    """Every rule pipework added (its comment), with its chain."""
    for c in chains:
        for rule in c.rules:
            if rule.comment.startswith("pipework:"):
                yield c, rule


def allow_forward(bridge: str) -> list[str]:
    """Add pipework's accept rule for traffic within ``bridge`` to every chain that would
    drop it; what was added, as commands. Idempotent: a chain that already accepts it
    (pipework's rule among others) is left alone."""
    versions = br_netfilter_on()
    if not versions:
        return []
    done = []
    for blocker in blockers(bridge, all_chains(versions)):
        c = blocker.chain
        what = f"allow forwarding within {bridge} in {blocker.where}"
        if c.backend == "nftables":
            _run(
                "nft",
                [
                    "insert",
                    "rule",
                    c.family,
                    c.table,
                    blocker.insert_into,
                    "iifname",
                    bridge,
                    "oifname",
                    bridge,
                    "accept",
                    "comment",
                    f'"{comment(bridge)}"',
                ],
                what,
            )
        else:
            tool = LEGACY_TOOLS[6 if c.family == "ip6" else 4]
            _run(tool, _iptables_rule(blocker.insert_into, bridge, "-I"), what)
        done.append(blocker.fix())
    return done


def remove_forward(bridge: str | None = None, *, keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove pipework's accept rules (of ``bridge``, or of every bridge not in ``keep``);
    what was removed, as commands. Reads the rulesets whatever br_netfilter says: a rule
    outlives the switch being turned off."""
    removed = []
    for c, rule in ours(all_chains()):
        name = rule.comment[len("pipework:") :]
        if (bridge is not None and name != bridge) or name in keep:
            continue
        what = f"remove pipework's rule for {name}"
        if c.backend == "nftables":
            args = ["delete", "rule", c.family, c.table, c.name, "handle", str(rule.handle)]
            _run("nft", args, what)
            removed.append("nft " + " ".join(args))
        else:
            tool = LEGACY_TOOLS[6 if c.family == "ip6" else 4]
            args = _iptables_rule(c.name, name, "-D")
            _run(tool, args, what)
            removed.append(f"{tool} {' '.join(args)}")
    return removed


#: where attach leaves a note that a bridge has pipework's rules (so that detach of
#: its last port knows, without spawning a firewall tool, that there is one to remove)
NOTE_DIR = f"{STATE_ROOT}/forward"


def _note(bridge: str) -> str:
    # per network namespace: a bridge's name is only unique within its own
    return f"{NOTE_DIR}/{os.stat('/proc/self/ns/net').st_ino}-{bridge}"


def note_rules(bridge: str) -> None:
    os.makedirs(NOTE_DIR, mode=0o700, exist_ok=True)
    os.close(os.open(_note(bridge), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))


def has_note(bridge: str) -> bool:
    return os.path.exists(_note(bridge))


def drop_note(bridge: str) -> None:
    try:
        os.unlink(_note(bridge))
    except FileNotFoundError:
        pass


def noted_bridges() -> list[str]:
    """The bridges of this network namespace that pipework added accept rules for."""
    prefix = f"{os.stat('/proc/self/ns/net').st_ino}-"
    try:
        names = os.listdir(NOTE_DIR)
    except FileNotFoundError:
        return []
    return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))


def forget_dead_namespaces() -> list[str]:
    """Remove the notes of network namespaces that are gone (their rules went with
    them): a namespace lives while a process is in it or a name in /run/netns holds it
    (one held otherwise, by a bind mount elsewhere, loses only the note: detach then
    leaves its rules to a gc run inside it, which finds none noted)."""
    try:
        names = os.listdir(NOTE_DIR)
    except FileNotFoundError:
        return []
    alive: set[int] = set()
    for directory in ("/proc", "/run/netns"):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            if directory == "/proc" and not entry.isdigit():
                continue
            path = f"/proc/{entry}/ns/net" if directory == "/proc" else f"{directory}/{entry}"
            try:
                alive.add(os.stat(path).st_ino)
            except OSError:
                continue
    gone = []
    for name in names:
        inode, _, _bridge = name.partition("-")
        if inode.isdigit() and int(inode) not in alive:
            try:
                os.unlink(f"{NOTE_DIR}/{name}")
            except FileNotFoundError:
                continue
            gone.append(name)
    return gone


def collect(in_use: frozenset[str]) -> tuple[list[str], list[str]]:
    """gc: remove pipework's rules for the noted bridges not ``in_use`` (gone, or with
    no port pipework attached); (the bridges whose rules were removed, failures)."""
    removed, failed = [], []
    forget_dead_namespaces()
    for bridge in noted_bridges():
        if bridge in in_use:
            continue
        try:
            remove_forward(bridge)
        except CommandError as exc:
            failed.append(f"remove pipework's firewall rules for {bridge}: {exc}")
            continue
        drop_note(bridge)
        removed.append(bridge)
    return removed, failed
