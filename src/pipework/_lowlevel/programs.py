"""Host programs pipework runs (lxc-info, ip, tc): finding them and running them safely.

Every child gets an argv list, never a shell. ``subprocess`` is imported only here,
and only when a child is really needed: it is one of the costliest imports of the
standard library and most attaches never spawn anything.
"""

from __future__ import annotations

import os

from ..errors import CommandError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def which(program: str) -> str | None:
    """Like ``shutil.which``, without importing shutil."""
    for directory in os.environ.get("PATH", DEFAULT_PATH).split(os.pathsep):
        if not directory:
            continue
        path = f"{directory}/{program}"
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def capture(argv: list[str], *, what: str, timeout: float = 30.0) -> tuple[int, str, str]:
    """Run ``argv`` and return (exit status, stdout, stderr); a missing program is an error."""
    import subprocess

    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CommandError(f"{what}: {argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{what}: {argv[0]} did not finish within {timeout:g} s") from None
    return proc.returncode, proc.stdout, proc.stderr


def run_foreground(argv: list[str], *, what: str) -> int:
    """Run ``argv`` with our stdin/stdout/stderr and return its exit status."""
    import subprocess

    try:
        status = subprocess.call(argv)
    except FileNotFoundError:
        raise CommandError(f"{what}: {argv[0]} is not installed") from None
    # killed by signal N: exit 128 + N, as a shell reports it
    return 128 - status if status < 0 else status
