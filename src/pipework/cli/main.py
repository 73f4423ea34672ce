"""Entry point of the ``pipework`` command: the ONE place that turns errors into exit codes.

The original command line is parsed by ``cli.legacy``; only the modules the
chosen command needs are imported, which keeps a one-shot attach fast.
"""

from __future__ import annotations

import sys

from ..errors import PipeworkError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

#: the modern verbs; anything else is the original command line
VERBS = ("attach", "detach", "ls", "inspect", "link", "gc", "apply", "watch", "graph", "up", "down")


def run(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args and _cni_mode():
        from ..cni.plugin import run_from_environment

        return run_from_environment()
    if args and args[0] == "cni":
        from ..cni.install import run_cni_verb

        return run_cni_verb(args[1:])
    if args and args[0] == "shim":
        from ..ops.shim import run_shim_verb

        return run_shim_verb(args[1:])
    if args and args[0] == "doctor":
        from ..doctor.run import run_doctor_verb

        return run_doctor_verb(args[1:])
    if args and args[0] == "vagrant-lxc":
        from ..ops.vagrant_lxc import run_vagrant_lxc_verb

        return run_vagrant_lxc_verb(args[1:])
    if args and args[0] == "__complete":
        from .completion import run_complete

        return run_complete(args[1:])
    if args and args[0] == "completion":
        from .completion import run_completion_verb

        return run_completion_verb(args[1:])
    if args and args[0] == "man":
        from .manpage import run_man_verb

        return run_man_verb(args[1:])
    from .legacy import USAGE, AttachCommand, HelpCommand, PassthroughCommand, parse_legacy

    if not args:
        sys.stderr.write(USAGE)
        return 2
    if args[0] == "--version":
        if len(args) > 1:
            raise UsageError(f"--version takes no arguments, got {args[1]!r}")
        from .version import package_version

        sys.stdout.write(f"pipework {package_version()}\n")
        return 0
    if args[0] in VERBS:
        from .verbs import run_verb

        return run_verb(args)
    command = parse_legacy(args)
    if isinstance(command, HelpCommand):
        sys.stdout.write(USAGE)
        return 0
    if isinstance(command, AttachCommand):
        from ..engine.attach import attach

        result = attach(command.spec, verbose=command.verbose)
        for warning in result.warnings:
            _say(f"warning: {warning}")
        if not result.changed:
            _say(
                f"{result.guest} {result.container_ifname} is already attached to "
                f"{result.bridge} as asked; nothing changed"
            )
        return 0
    if isinstance(command, PassthroughCommand):
        from ..ops.passthrough import run_in_guest

        return run_in_guest(command.guest, command.argv0, command.args, verbose=command.verbose)
    from ..ops.wait import wait_for_interface

    wait_for_interface(command.ifname, command.timeout)
    return 0


def _cni_mode() -> bool:
    """A CNI runtime runs its plugins with CNI_COMMAND set and no arguments."""
    import os

    return bool(os.environ.get("CNI_COMMAND"))


def _say(message: str) -> None:
    # One line, whatever a child process or the kernel put in the message; and what a
    # daemon or a guest put in it (names, states, errors) is shown, never obeyed by
    # the terminal: an ESC in it is written as \x1b.
    from .._lowlevel.terminal import printable

    sys.stderr.write("pipework: " + printable(" ".join(message.split())) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run pipework; every PipeworkError becomes one line on stderr and its exit code."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except PipeworkError as exc:
        _say(str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during an attach
        failures = getattr(exc, "rollback_failures", None)
        notes = getattr(exc, "rollback_notes", None)
        if not getattr(exc, "rolled_back", False):
            _say("interrupted")
        elif failures:
            _say(f"interrupted; rolling back failed: {'; '.join(failures)}")
        else:
            kept = f" ({'; '.join(notes)})" if notes else ""
            _say(f"interrupted; every change made so far was rolled back{kept}")
        return int(getattr(exc, "exit_code", 130))
    except Exception as exc:  # a bug: say so in one line, keep the traceback for reports
        import os

        if os.environ.get("PIPEWORK_DEBUG"):
            raise
        _say(
            f"internal error: {type(exc).__name__}: {exc} (please report it; "
            "PIPEWORK_DEBUG=1 shows the traceback)"
        )
        return 70


def exit_with_main() -> None:
    """Run ``main`` and end the process at once (the ``pipework`` command).

    The cyclic garbage collector is off: in a one-shot process its passes find
    nothing worth freeing before the exit, and they are not cheap (a generation-1
    pass over what the imports created costs ~0.9 ms on the reference machine, as
    much as an attach's netlink work). Reference counting still frees everything
    else, so a verb that waits (--wait, a DHCP lease) does not grow; a verb that
    runs for days must turn it back on. ``os._exit`` skips the interpreter's
    teardown (module and object destruction), which a one-shot command does not
    need either; output is flushed first.
    """
    import gc

    gc.disable()
    code = main()
    try:
        sys.stdout.flush()
    except OSError:
        code = code or 1
    sys.stderr.flush()
    import os

    os._exit(code)
