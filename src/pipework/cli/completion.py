"""Shell completion for bash and zsh: the scripts, their installation, and the answers.

The scripts are a few lines that ask ``pipework __complete SHELL CWORD WORDS…``
what may come next, so what they offer is always what the installed pipework
accepts: verbs and options come from the catalogue (``cli.catalog``), and the
names from this host, read where reading is cheap: Linux bridges from sysfs, OVS
bridges from ``ovs-vsctl list-br``, named network namespaces from /run/netns, LXC
containers from their lxcpath, Podman's from its containers.json, Docker's from
its Engine API with a deadline of a tenth of a second. A completion never
changes anything and never fails out loud: what cannot be read is left out.
"""

from __future__ import annotations

import os
import sys

from ..errors import UsageError

USAGE = """\
usage: pipework completion bash|zsh   print the completion script for that shell
       pipework completion install [--shell bash|zsh] [--dir DIR]   write it where read
Without --shell, install writes both: bash's to /usr/share/bash-completion/completions/pipework,
zsh's to /usr/local/share/zsh/site-functions/_pipework; --dir DIR writes into DIR instead.
A shell started afterwards completes verbs, options, bridges and guests.
"""

#: where each shell reads completions installed by the system: (directory, file name)
PLACES = {
    "bash": ("/usr/share/bash-completion/completions", "pipework"),
    "zsh": ("/usr/local/share/zsh/site-functions", "_pipework"),
}

BASH = """\
# bash completion for pipework (pipework completion bash); the answers come from
# `pipework __complete`, so they follow the pipework installed.
_pipework() {
    local IFS=$'\\n' pw=${COMP_WORDS[0]} reply
    command -v -- "$pw" >/dev/null 2>&1 || pw=pipework
    reply=($("$pw" __complete bash "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null)) || return 0
    local cur=${COMP_WORDS[COMP_CWORD]}
    case ${reply[0]-} in
    :files) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null ;;
    :dirs) COMPREPLY=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null ;;
    *) COMPREPLY=(${reply[@]+"${reply[@]}"}) ;;
    esac
    return 0
}
complete -F _pipework pipework
"""

ZSH = """\
#compdef pipework
# zsh completion for pipework (pipework completion zsh); the answers come from
# `pipework __complete`, so they follow the pipework installed.
_pipework() {
    local pw=${words[1]}
    local -a reply
    (( $+commands[$pw] )) || [[ -x $pw ]] || pw=pipework
    reply=("${(@f)$("$pw" __complete zsh $((CURRENT - 1)) "${words[@]}" 2>/dev/null)}")
    case ${reply[1]-} in
    :files) _files ;;
    :dirs) _files -/ ;;
    '') return 1 ;;
    *) _describe -t values pipework reply ;;
    esac
}
if [[ ${funcstack[1]-} = _pipework ]]; then
    _pipework "$@"
else
    compdef _pipework pipework
fi
"""

#: what a value's name (its metavar) is completed with
_FILES = ("FILE", "OUTPUT", "PATH")
_MAX_NAMES = 2000
#: a guest's runtime prefix -> how the listing names that runtime's guests
_RUNTIMES = {
    "netns": "network namespace",
    "lxc": "LXC container",
    "docker": "Docker container",
    "podman": "Podman container",
}
_DOCKER_DEADLINE = 0.1


def run_completion_verb(args: list[str]) -> int:
    """``pipework completion bash|zsh|install …``."""
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] in PLACES:
        if len(args) > 1:
            raise UsageError(f"pipework completion {args[0]} takes nothing more")
        sys.stdout.write(script(args[0]))
        return 0
    if args[0] != "install":
        raise UsageError(f"pipework completion: {args[0]!r}: bash, zsh or install (see --help)")
    values = _options(args[1:], ("--shell", "--dir"), "completion install")
    shell = values.get("--shell")
    if shell is not None and shell not in PLACES:
        raise UsageError(f"pipework completion install: --shell {shell!r}: bash or zsh")
    for path in install((shell,) if shell else tuple(PLACES), values.get("--dir")):
        sys.stdout.write(f"installed {path}\n")
    return 0


def _options(args: list[str], known: tuple[str, ...], what: str) -> dict[str, str]:
    """``--name VALUE`` pairs, each of ``known`` at most once."""
    values: dict[str, str] = {}
    for i in range(0, len(args), 2):
        name = args[i]
        if name not in known or i + 1 >= len(args) or not args[i + 1] or name in values:
            raise UsageError(f"pipework {what} takes {' '.join(f'[{k} VALUE]' for k in known)}")
        values[name] = args[i + 1]
    return values


def script(shell: str) -> str:
    return BASH if shell == "bash" else ZSH


def install(shells: tuple[str, ...], directory: str | None) -> list[str]:
    """Write each shell's script where it reads it (or into ``directory``)."""
    written = []
    for shell in shells:
        where, name = PLACES[shell]
        written.append(write_file(os.path.join(directory or where, name), script(shell)))
    return written


def write_file(path: str, text: str) -> str:
    """Write ``path`` (mode 0644) whole or not at all; its directory is made if missing."""
    from ..errors import HostStateError

    directory = os.path.dirname(path) or "."
    temporary = f"{path}.pipework-{os.getpid()}"
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(temporary, 0o644)  # whatever the umask
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise HostStateError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="run it as root (or with sudo), or give --dir DIR",
        ) from None
    return path


def run_complete(args: list[str]) -> int:
    """``pipework __complete SHELL CWORD WORD…``: one candidate a line (zsh's as
    ``value:description``), or ``:files`` / ``:dirs`` for the shell's own."""
    if len(args) < 2 or args[0] not in PLACES or not args[1].isdigit():
        return 1
    try:
        lines = complete(args[0], int(args[1]), args[2:])
    except Exception:  # a completion says nothing rather than an error in the prompt
        if os.environ.get("PIPEWORK_DEBUG"):
            raise
        return 1
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


def complete(shell: str, cword: int, words: list[str]) -> list[str]:
    """What may be at ``words[cword]`` (``words[0]`` is the command)."""
    cut = 0
    if shell == "bash":  # bash splits "netns:x" into "netns" ":" "x"
        words, cword, cut = _join_colons(words, cword)
    current = words[cword] if cword < len(words) else ""
    found = _candidates(words[1:cword], current, describe=shell == "zsh")
    if isinstance(found, str):
        return [found]
    lines = []
    for value, about in found:
        if not value.startswith(current) or "\n" in value:
            continue
        if shell == "zsh":
            quoted = value.replace("\\", "\\\\").replace(":", "\\:")
            lines.append(f"{quoted}:{' '.join(about.split())}" if about else quoted)
        else:
            lines.append(value[cut:])
    return list(dict.fromkeys(lines))


def _join_colons(words: list[str], cword: int) -> tuple[list[str], int, int]:
    """Glue the words bash split at ':' back together: (words, cword, how many
    characters of the current word bash keeps out of the word it completes)."""
    joined: list[str] = []
    new_cword = cword
    cut = 0
    glue = False
    for i, word in enumerate(words):
        if joined and (word == ":" or glue):
            joined[-1] += word
            glue = word == ":"
        else:
            joined.append(word)
            glue = False
        if i == cword:
            new_cword = len(joined) - 1
            cut = len(joined[-1]) - len(word)
    if cword >= len(words):
        new_cword = len(joined)
    return joined, new_cword, cut


def _candidates(before: list[str], current: str, *, describe: bool) -> list[tuple[str, str]] | str:
    from . import catalog

    verbs = catalog.verb_names()
    if not before and not current.startswith("-"):
        from .legacy import PASSTHROUGH

        found = [(v, _short(catalog.entry(v).brief()) if describe else "") for v in verbs]
        found += [(p, f"run {' '.join(PASSTHROUGH[p])} inside a guest") for p in PASSTHROUGH]
        return found + bridges()
    legacy = not before or before[0] not in verbs
    entry = catalog.entry("" if legacy else before[0])
    args = before if legacy else before[1:]
    waiting = None
    given: list[str] = []
    positionals: list[str] = []
    for word in args:
        if waiting is not None:
            waiting = None
            continue
        option = entry.option(word) if word.startswith("-") else None
        if option is not None:
            given += option.names
            waiting = option if option.metavar else None
        elif not word.startswith("-") or word == "-":
            positionals.append(word)
    if waiting is not None:
        return _values(waiting.metavar or "", waiting.choices, current)
    if current.startswith("-"):
        return [
            (name, _short(o.help.split(". ", 1)[0]) if describe else "")
            for o in entry.options
            if o.repeat or not set(o.names) & set(given)
            for name in o.names
        ]
    slots = list(entry.positionals)
    if entry.subcommands:
        if not positionals:
            return [(s, "") for s in entry.subcommands]
        positionals = positionals[1:]
    if legacy and positionals and positionals[0] in ("route", "rule", "tc", "dummy"):
        slots = ["", "GUEST"]
    if len(positionals) < len(slots):
        return _values(slots[len(positionals)], (), current)
    return []


def _short(text: str) -> str:
    return text if len(text) <= 70 else text[:67] + "..."


def _values(metavar: str, choices: tuple[str, ...], current: str) -> list[tuple[str, str]] | str:
    if choices:
        return [(c, "") for c in choices]
    kind = metavar.partition("[")[0]
    if kind.startswith("GUEST"):
        runtime, colon, _name = current.partition(":")
        if colon and runtime in _RUNTIMES:  # netns:NAME and the like: that runtime's
            return [(f"{runtime}:{n}", what) for n, what in guests() if what == _RUNTIMES[runtime]]
        return guests()
    if kind in ("HOSTIF", "BRIDGE"):
        return bridges()
    if kind == "NIC":
        return [(n, "interface") for n in _links() if n != "lo"]
    if kind in _FILES:
        return ":files"
    if kind == "DIR":
        return ":dirs"
    return []


def _safe(name: str) -> bool:
    """A name fit for a completion line: printable, one word, not an option."""
    return 0 < len(name) <= 255 and name.isprintable() and " " not in name and name[0] != "-"


def bridges() -> list[tuple[str, str]]:
    """The host's Linux bridges (sysfs) and OVS bridges (ovs-vsctl list-br)."""
    found = []
    for name in _links():
        if os.path.isdir(f"/sys/class/net/{name}/bridge"):
            found.append((name, "Linux bridge"))
    found += [(name, "OVS bridge") for name in _ovs_bridges()]
    return [(n, what) for n, what in found if _safe(n)]


def _links() -> list[str]:
    """The host's interfaces, by name."""
    try:
        return [n for n in sorted(os.listdir("/sys/class/net"))[:_MAX_NAMES] if _safe(n)]
    except OSError:
        return []


def _ovs_bridges() -> list[str]:
    import subprocess

    from .._lowlevel.programs import which

    program = which("ovs-vsctl")
    if program is None:
        return []
    try:
        done = subprocess.run(
            [program, "--timeout=1", "list-br"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=0.5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return done.stdout.split()[:_MAX_NAMES] if done.returncode == 0 else []


def guests() -> list[tuple[str, str]]:
    """The guests this host names: network namespaces, LXC, Docker and Podman containers."""
    found: list[tuple[str, str]] = []
    for reader in (_netns_names, _lxc_names, _docker_names, _podman_names):
        try:
            found += reader()
        except (OSError, ValueError):
            continue
    return [(n, what) for n, what in found if _safe(n)]


def _netns_names() -> list[tuple[str, str]]:
    from ..netns import NETNS_RUN_DIRS

    found = []
    for directory in NETNS_RUN_DIRS:
        try:
            found += [(n, "network namespace") for n in sorted(os.listdir(directory))]
        except OSError:
            continue
    return found[:_MAX_NAMES]


def _lxc_names() -> list[tuple[str, str]]:
    from ..guests.lxc import lxcpaths

    found = []
    for path in lxcpaths():
        try:
            names = sorted(os.listdir(path))[:_MAX_NAMES]
        except OSError:
            continue
        found += [(n, "LXC container") for n in names if os.path.exists(f"{path}/{n}/config")]
    return found


def _docker_names() -> list[tuple[str, str]]:
    from .._lowlevel import unixhttp
    from .._lowlevel.jsonlite import loads
    from ..errors import PipeworkError
    from ..guests.docker import socket_path

    path, _why = socket_path()
    if path is None or not os.path.exists(path):
        return []
    try:
        reply = unixhttp.get(path, "/containers/json", timeout=_DOCKER_DEADLINE)
    except (OSError, PipeworkError, unixhttp.ResponseError):
        return []
    if reply.status != 200:
        return []
    listing = loads(reply.body)
    found = []
    for item in listing[:_MAX_NAMES] if isinstance(listing, list) else []:
        names = item.get("Names") if isinstance(item, dict) else None
        for name in names if isinstance(names, list) else []:
            if isinstance(name, str):
                found.append((name.lstrip("/"), "Docker container"))
    return found


def _podman_names() -> list[tuple[str, str]]:
    from .._lowlevel.jsonlite import loads
    from ..guests.podman import GRAPHROOT

    found = []
    try:
        kinds = sorted(n for n in os.listdir(GRAPHROOT) if n.endswith("-containers"))
    except OSError:
        return []
    for kind in kinds[:8]:
        try:
            with open(f"{GRAPHROOT}/{kind}/containers.json", "rb") as f:
                data = loads(f.read(4 << 20))
        except (OSError, ValueError):
            continue
        for item in data[:_MAX_NAMES] if isinstance(data, list) else []:
            names = item.get("names") if isinstance(item, dict) else None
            for name in names if isinstance(names, list) else []:
                if isinstance(name, str):
                    found.append((name, "Podman container"))
    return found
