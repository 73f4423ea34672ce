"""Names a user gives: guests (``[RUNTIME:]IDENT``, or a path to a network namespace
file) and Linux interfaces.

Every name is checked here before the first kernel change or look-up, so a typo or
a hostile argument can never reach a glob, a path join, a daemon's URL or the kernel.

``RUNTIMES`` is the runtime registry: each name is both the prefix a user may
write (``docker:web``) and a resolver module, ``pipework.guests.NAME``; a bare
name asks them in this order. A new runtime is one module and one word here.
"""

from __future__ import annotations

from ._lowlevel.record import Record
from .errors import UsageError
from .integers import parse_int

IFNAMSIZ = 16  # including the trailing NUL: names have 1-15 bytes


def check_ifname(name: str, what: str = "interface name") -> str:
    """Validate a Linux interface name: 1-15 bytes, no "/", ":", "%" or whitespace, not . or ..."""
    if not isinstance(name, str):
        raise UsageError(f"{what} must be a string, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogatepass")  # counted in bytes; odd characters refused below
    if not raw:
        raise UsageError(f"empty {what}")
    if len(raw) >= IFNAMSIZ:
        raise UsageError(f"{what} {name!r} is too long: {len(raw)} bytes, the kernel allows 15")
    if name in (".", ".."):
        raise UsageError(f"{what} {name!r} is not allowed")
    for ch in name:
        # '%' too: the kernel reads "eth%d" as a template and picks a free number
        if ch in "/:%" or ch.isspace() or not ch.isprintable() or ord(ch) > 126:
            raise UsageError(f"{what} {name!r} contains {ch!r}, which the kernel refuses")
    return name


#: the runtimes pipework finds guests in, in the order a bare name asks them
RUNTIMES = (
    "netns",
    "lxd",
    "incus",
    "lxc",
    "docker",
    "podman",
    "containerd",
    "nerdctl",
    "k8s",
    "nspawn",
    "pid",
)

#: other words a user may write as a runtime's prefix: ``machine:web`` is ``nspawn:web``
#: (machinectl calls nspawn's guests machines). A GuestRef always holds the runtime's own word.
RUNTIME_ALIASES: dict[str, str] = {"machine": "nspawn"}

#: Where a runtime leaves a trace on a host that has it (its state or its socket). A
#: bare name asks such a runtime only when one of these exists, without importing its
#: resolver: each runtime more must cost a host that lacks it a stat, not a module.
#: A prefix (``podman:web``) always asks. Runtimes not listed are always asked.
RUNTIME_TRACES: dict[str, tuple[str, ...]] = {
    # runtime v2 task state: containerd's, Docker's own containerd's, k3s's
    "containerd": (
        "/run/containerd/io.containerd.runtime.v2.task",
        "/run/docker/containerd/daemon/io.containerd.runtime.v2.task",
        "/run/k3s/containerd/io.containerd.runtime.v2.task",
    ),
    "nerdctl": ("/var/lib/nerdctl",),
    # the CRI plugin's namespace (the k8s resolver reads pods only under a k8s: prefix)
    "k8s": (
        "/run/containerd/io.containerd.runtime.v2.task/k8s.io",
        "/run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io",
    ),
    # the daemons' state directories, where their sockets are (their containers are LXC
    # containers too, which the lxc resolver finds by cgroup; these two ask the daemon)
    "lxd": ("/var/lib/lxd", "/var/snap/lxd/common/lxd"),
    "incus": ("/var/lib/incus", "/run/incus"),
    # machined's registry, or the program itself (machines started with --register=no
    # are found only by their process)
    "nspawn": ("/run/systemd/machines", "/usr/bin/systemd-nspawn"),
    # containers/storage's default graph and run roots, libpod's socket, and the file
    # that moves the roots elsewhere
    "podman": (
        "/var/lib/containers/storage",
        "/run/containers/storage",
        "/run/podman",
        "/etc/containers/storage.conf",
    ),
}

# Letters, digits and a few separators. Docker names are [a-zA-Z0-9][a-zA-Z0-9_.-]*,
# LXC and `ip netns` names in practice the same; anything else (glob characters,
# shell metacharacters, '/', whitespace) is refused rather than interpreted.
_GUEST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+@")
GUEST_NAME_MAX = 253
#: runtimes whose names may carry one namespace: ``containerd:NAMESPACE/ID``,
#: ``nerdctl:NAMESPACE/NAME``, ``k8s:NAMESPACE/POD``, ``lxd:PROJECT/NAME``,
#: ``incus:PROJECT/NAME`` (two names, each checked; never a path)
NAMESPACED = frozenset({"containerd", "nerdctl", "k8s", "lxd", "incus"})
PID_MAX = (1 << 22) - 1  # PID_MAX_LIMIT is 4194304; pids stay below it


class GuestRef(Record):
    """How the user named a guest: an optional runtime prefix and the identifier."""

    kind: str | None  # one of RUNTIMES; None: ask every runtime that applies
    value: str

    @property
    def is_path(self) -> bool:
        return self.value.startswith("/")

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.kind else self.value


def check_guest_name(name: str, what: str = "guest name") -> str:
    """Validate a container, netns or Docker name (never a glob, never a path)."""
    if not isinstance(name, str):
        raise UsageError(f"{what} must be a string, not {type(name).__name__}")
    if not name:
        raise UsageError(f"empty {what}")
    if len(name) > GUEST_NAME_MAX:
        raise UsageError(f"{what} is too long: {len(name)} characters (at most {GUEST_NAME_MAX})")
    if name in (".", ".."):
        raise UsageError(f"{what} {name!r} is not allowed")
    bad = next((ch for ch in name if ch not in _GUEST_CHARS), None)
    if bad is not None:
        raise UsageError(
            f"{what} {name!r} contains {bad!r}: names may use letters, digits and _ . - + @"
        )
    if name[0] in "-.":
        raise UsageError(f"{what} {name!r} may not start with {name[0]!r}")
    return name


def runtimes_for(value: str) -> tuple[str, ...]:
    """The runtimes a bare identifier may name, in the order they are asked: every one,
    but a pid only when the identifier is a number."""
    if value.isascii() and value.isdigit():
        return RUNTIMES
    return tuple(runtime for runtime in RUNTIMES if runtime != "pid")


def _prefixes() -> str:
    return ", ".join(f"{kind}:" for kind in (*RUNTIMES, *RUNTIME_ALIASES))


def parse_guest_ref(text: str) -> GuestRef:
    """``[lxc:|docker:|netns:|pid:]IDENT``, or an absolute path to a netns file."""
    kind: str | None = None
    value = text
    head, colon, rest = text.partition(":")
    if colon and not text.startswith("/"):
        head = RUNTIME_ALIASES.get(head, head)
        if head not in RUNTIMES:
            raise UsageError(f"unknown guest prefix {head + ':'!r} in {text!r} (use {_prefixes()})")
        kind, value = head, rest
    if value.startswith("/"):
        if kind not in (None, "netns"):
            raise UsageError(
                f"guest {text!r}: a path can only name a network namespace (netns:PATH)"
            )
        kind = "netns"
    ref = GuestRef(kind, value)
    check_guest_ref(ref)
    return ref


def check_guest_ref(ref: GuestRef) -> None:
    """The rules of ``parse_guest_ref``, for a GuestRef however it was built."""
    if ref.kind is not None and ref.kind not in RUNTIMES:
        raise UsageError(f"unknown guest kind {ref.kind!r} ({', '.join(RUNTIMES)})")
    value = ref.value
    if not isinstance(value, str):
        raise UsageError(f"guest must be a string, not {type(value).__name__}")
    if value.startswith("/"):
        if ref.kind != "netns":
            raise UsageError(f"guest {value!r}: a path can only name a network namespace")
        if "\0" in value or len(value) > 4096 or "/../" in value + "/" or "/./" in value + "/":
            raise UsageError(f"invalid netns path {value!r}")
        return
    if ref.kind == "pid":
        parse_int(value, "pid", 1, PID_MAX)
        return
    if ref.kind in NAMESPACED and value.count("/") == 1:
        namespace, _, name = value.partition("/")
        check_guest_name(namespace, f"{ref.kind} namespace")
        check_guest_name(name, f"{ref.kind} guest name")
        return
    check_guest_name(value, "guest name" if ref.kind is None else f"{ref.kind} guest name")
