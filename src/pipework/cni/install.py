"""``pipework cni install|uninstall [--dir DIR]``: pipework as a plugin in a CNI bin dir.

A runtime runs a plugin by its ``type`` from its plugin directories, so installing
is putting an executable named ``pipework`` there. It is a three-line launcher for
this interpreter and this installation of the package, started isolated and without
``site`` (``-I -S``): a runtime starts its plugins for every container, and the
interpreter's start is most of a plugin's time (``site`` alone is about a third of
it); the package is found by its path, which an upgrade in place keeps. An existing
``pipework`` there that is not ours is never replaced.
"""

from __future__ import annotations

import os
import sys

from ..errors import HostStateError, UsageError

#: where CNI runtimes look first (containerd, CRI-O, Multus, the spec's examples)
DEFAULT_DIR = "/opt/cni/bin"
LAUNCHER_MARK = "# pipework CNI launcher"
USAGE = """\
usage: pipework cni install [--dir DIR]     put pipework into a CNI plugin directory
       pipework cni uninstall [--dir DIR]   take it out again
DIR is /opt/cni/bin unless given (Debian's Podman also reads /usr/lib/cni).
Run with CNI_COMMAND set and no arguments, pipework is the plugin ("type": "pipework").
"""
EXAMPLE = """\
{
  "cniVersion": "1.0.0",
  "name": "pwnet",
  "plugins": [
    {
      "type": "pipework",
      "bridge": "br-pw",
      "isDefaultGateway": true,
      "ipam": {
        "type": "pipework",
        "ranges": [[{"subnet": "192.0.2.0/24"}]]
      }
    }
  ]
}
"""


def run_cni_verb(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb not in ("install", "uninstall"):
        raise UsageError(f"unknown cni verb {verb!r}: install or uninstall")
    directory = DEFAULT_DIR
    if rest:
        if rest[0] != "--dir" or len(rest) != 2 or not rest[1]:
            raise UsageError(f"pipework cni {verb} takes only --dir DIR")
        directory = rest[1]
    target = os.path.join(directory, "pipework")
    if verb == "uninstall":
        if _ours(target):
            os.unlink(target)
            sys.stdout.write(f"removed {target}\n")
        else:
            sys.stdout.write(f"nothing of pipework's at {target}\n")
        return 0
    install(directory)
    sys.stdout.write(
        f"installed {target}\nA network using it (e.g. /etc/cni/net.d/pwnet.conflist):\n"
    )
    sys.stdout.write(EXAMPLE)
    return 0


def install(directory: str) -> str:
    """Put pipework into ``directory`` as ``pipework``; return its path."""
    target = os.path.join(directory, "pipework")
    if os.path.lexists(target) and not _ours(target):
        raise HostStateError(
            f"{target} exists and is not pipework's",
            hint="remove it, or install into another directory with --dir",
        )
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        _write_launcher(target)
    except OSError as exc:
        raise HostStateError(f"cannot install into {directory}: {exc.strerror}") from None
    return target


def _write_launcher(target: str) -> None:
    # where the package ``pipework`` lives: two levels above this module's directory
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = (
        f"#!{sys.executable} -IS\n{LAUNCHER_MARK}\nimport sys\n\n"
        f"sys.path.insert(0, {root!r})\n"
        "from pipework.cli.main import exit_with_main\n\nexit_with_main()\n"
    )
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _ours(target: str) -> bool:
    """A link to a ``pipework`` command, or the launcher this module writes."""
    if os.path.islink(target):
        return os.path.basename(os.readlink(target)) == "pipework"
    try:
        with open(target, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return LAUNCHER_MARK.encode() in head
