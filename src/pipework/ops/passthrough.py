"""``pipework route|rule|tc GUEST ARGS…``: run ``ip route``, ``ip rule`` or ``tc`` in the guest.

The program runs with the given argv (never through a shell) inside the guest's
network namespace, entered through the pinned namespace fd; its exit status is
pipework's.
"""

from __future__ import annotations

import sys

from .._lowlevel.programs import run_foreground, which
from ..engine.context import nsenter
from ..errors import CommandError
from ..guests import resolve
from ..netns import inside

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef

_PACKAGE = {"ip": "iproute2", "tc": "iproute2"}


def run_in_guest(
    guest_ref: GuestRef, argv0: tuple[str, ...], args: tuple[str, ...], *, verbose: bool = False
) -> int:
    program = which(argv0[0])
    if program is None:
        package = _PACKAGE.get(argv0[0], argv0[0])
        raise CommandError(f"{argv0[0]} is not installed", hint=f"apt-get install {package}")
    argv = [program, *argv0[1:], *args]
    with resolve(guest_ref) as guest:
        if verbose:
            sys.stderr.write(f"+ {nsenter(guest)} {' '.join(argv)}\n")
        with inside(guest.netns):
            return run_foreground(argv, what=f"{' '.join(argv0)} in {guest.label}")
