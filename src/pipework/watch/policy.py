"""The operator's policy: which declarations ``watch`` and ``apply`` may carry out.

Whoever can start a container can label it, and a label is carried out by root: a
declaration is a request, not an order. ``/etc/pipework/policy.conf`` says which
host interfaces, of which kinds, declarations may use, per source (labels,
``pipework_cmd*`` variables, files) and guest name pattern. Without the file, every
declaration may use Linux bridges only: never a NIC (macvlan, ipvlan,
``--direct-phys``), an OVS bridge, a VXLAN segment or a dummy interface, and none of
the OPTIONS below. With the file, its rules alone decide.

The format, one rule a line, ``#`` comments, the first rule that matches decides::

    allow|deny KIND[,KIND…] INTERFACES [from SOURCES] [guest GUESTS] [with OPTIONS]

KIND: a host-side kind as ``pipework inspect`` names it (bridge, ovs, macvlan,
ipvlan, ipoib, dummy, vxlan, direct; ``direct-phys`` is direct) or ``*``.
INTERFACES, SOURCES, GUESTS: comma-separated shell patterns. INTERFACES match the
host interface the declaration names (the bridge, or the NIC); SOURCES are
``label``, ``env``, ``file``; GUESTS match the guest as its declaration names it
(``docker:web``, ``lxc:devenv``, ``netns:lab1``; a pattern without a colon matches
the name alone). OPTIONS: what a declaration may ask beyond plugging its guest in,
each another change of the host (``allow-forward``: a firewall accept rule;
``host-shim``: a host-side macvlan; ``vlan-filtering`` on a bridge pipework did not
create), or ``*``: an allow rule matches only a declaration whose options it lists.
A declaration no rule matches is refused.

The file is a privilege like the declarations themselves: it must belong to root
and be writable by no one else, or nothing is allowed. It is read again at every
pass, so an edit applies at the next event (or ``pipework apply``).
"""

from __future__ import annotations

import fnmatch

from .._lowlevel.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import AttachSpec
    from .declare import Declaration

DEFAULT_PATH = "/etc/pipework/policy.conf"
KINDS = ("bridge", "ovs", "macvlan", "ipvlan", "ipoib", "dummy", "vxlan", "direct")
ORIGINS = ("label", "env", "file")
#: what a declaration may ask beyond plugging a guest in, each a change of the host
#: of its own: a firewall accept rule, a host-side macvlan, VLAN filtering on a bridge
OPTIONS = ("allow-forward", "host-shim", "vlan-filtering")
#: a policy is a few lines; a larger file is refused unread
MAX_FILE = 1 << 20


class Rule(Record):
    """One line of the policy."""

    allow: bool
    kinds: tuple[str, ...]
    interfaces: tuple[str, ...]
    origins: tuple[str, ...]  # () = any source
    guests: tuple[str, ...]  # () = any guest
    where: str  # FILE:LINE, for the log
    text: str
    options: tuple[str, ...] = ()  # OPTIONS a declaration may ask ("*": all of them)

    def matches(
        self,
        kind: str,
        interface: str,
        origin: str,
        guests: tuple[str, ...],
        options: tuple[str, ...] = (),
    ) -> bool:
        if "*" not in self.kinds and kind not in self.kinds:
            return False
        # an allow rule covers the options it lists; a deny rule refuses whatever is asked
        if self.allow and "*" not in self.options and set(options) - set(self.options):
            return False
        if not any(fnmatch.fnmatchcase(interface, p) for p in self.interfaces):
            return False
        if self.origins and origin not in self.origins:
            return False
        if not self.guests:
            return True
        names = list(guests) + [g.split(":", 1)[1] for g in guests if ":" in g]
        return any(fnmatch.fnmatchcase(n, p) for n in names for p in self.guests)


class Policy(Record):
    """The rules, in order, and how to name the policy when none matches."""

    rules: tuple[Rule, ...]
    fallback: str  # why a declaration no rule matches is refused

    def decide(
        self,
        kind: str,
        interface: str,
        origin: str,
        guests: tuple[str, ...],
        options: tuple[str, ...] = (),
    ) -> Rule | str:
        """The rule that decides (allow or deny), or the fallback's text (refused)."""
        for rule in self.rules:
            if rule.matches(kind, interface, origin, guests, options):
                return rule
        return self.fallback


class PolicyError(ValueError):
    """A line that is no rule: the whole policy is refused (nothing allowed)."""


#: Without the file, every declaration (root's files included: the issue of a
#: shared host is that declarations are requests) may plug a guest into a Linux
#: bridge, and nothing else; the operator who wants more writes the rule.
DEFAULT = Policy(
    (Rule(True, ("bridge",), ("*",), (), (), "the default policy", "allow bridge *"),),
    f"the default policy (no {DEFAULT_PATH}) allows Linux bridges only",
)


def default_for(path: str) -> Policy:
    """The default policy, its refusals naming the file that is missing."""
    if path == DEFAULT_PATH:
        return DEFAULT
    return Policy(DEFAULT.rules, DEFAULT.fallback.replace(DEFAULT_PATH, path))


def parse(text: str, path: str) -> Policy:
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{path}:{number}"
        rules.append(_rule(words, where, " ".join(words)))
    return Policy(tuple(rules), f"no rule of {path} allows it")


def _rule(words: list[str], where: str, text: str) -> Rule:
    if words[0] not in ("allow", "deny") or len(words) < 3:
        raise PolicyError(f"{where}: not 'allow|deny KIND INTERFACES [from …] [guest …] [with …]'")
    kinds = tuple("direct" if k == "direct-phys" else k for k in _list(words[1]))
    bad = [k for k in kinds if k != "*" and k not in KINDS]
    if bad:
        raise PolicyError(f"{where}: unknown kind {bad[0]!r} (one of {', '.join(KINDS)}, *)")
    found: dict[str, tuple[str, ...]] = {}
    rest = words[3:]
    while rest:
        if len(rest) < 2 or rest[0] not in ("from", "guest", "with") or rest[0] in found:
            raise PolicyError(
                f"{where}: expected 'from SOURCES', 'guest GUESTS' or 'with OPTIONS', "
                f"got {rest[0]!r}"
            )
        found[rest[0]] = _list(rest[1])
        rest = rest[2:]
    origins = found.get("from", ())
    bad = [o for o in origins if o not in ORIGINS]
    if bad:
        raise PolicyError(f"{where}: unknown source {bad[0]!r} (label, env or file)")
    options = found.get("with", ())
    bad = [o for o in options if o != "*" and o not in OPTIONS]
    if bad:
        raise PolicyError(f"{where}: unknown option {bad[0]!r} (one of {', '.join(OPTIONS)}, *)")
    return Rule(words[0] == "allow", kinds, _list(words[2]), origins, found.get("guest", ()),
                where, text, options)  # fmt: skip


def _list(word: str) -> tuple[str, ...]:
    return tuple(w for w in word.split(",") if w)


def load(path: str) -> Policy:
    """The policy at ``path``; the default one when there is no file. PolicyError
    when the file may not be trusted or is not a policy (then nothing is allowed)."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return default_for(path)
    except OSError as exc:
        raise PolicyError(f"{path}: {exc.strerror}") from None
    with open(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PolicyError(f"{path}: not a regular file")
        if info.st_uid not in (0, os.geteuid()):
            raise PolicyError(f"{path}: it belongs to uid {info.st_uid}, not root")
        if info.st_mode & stat.S_IWOTH or (info.st_mode & stat.S_IWGRP and info.st_gid != 0):
            raise PolicyError(f"{path}: it is writable by others than root")
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise PolicyError(f"{path}: larger than {MAX_FILE} bytes")
    return parse(data.decode(errors="replace"), path)


def options(spec: AttachSpec) -> tuple[str, ...]:
    """The OPTIONS a declaration asks for."""
    asked = (spec.allow_forward, spec.host_shim, spec.vlan_filtering)
    return tuple(name for name, on in zip(OPTIONS, asked) if on)


def origin(item: Declaration) -> str:
    """Where a declaration came from: label, env or file."""
    if item.source.startswith("label "):
        return "label"
    if item.source.startswith("variable "):
        return "env"
    return "file"


def guest_names(item: Declaration) -> tuple[str, ...]:
    """The names a declaration's guest goes by: its reference, and for a container's
    own declarations the container's name (``label … of docker:web``)."""
    names = [str(item.guest)]
    if origin(item) != "file" and " of " in item.source:
        names.append(item.source.rsplit(" of ", 1)[1])
    return tuple(names)
