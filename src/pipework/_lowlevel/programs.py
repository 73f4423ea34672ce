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


#: the most a child may write to each of its stdout and stderr through ``exchange``
EXCHANGE_BUDGET = 16 << 20


def exchange(
    argv: list[str], data: bytes, *, env: dict[str, str], timeout: float
) -> tuple[int, bytes, bytes]:
    """Run ``argv`` (a path) with ``data`` on its stdin; its exit status, stdout and stderr.

    For programs run on a hot path (a CNI IPAM plugin on every ADD): ``posix_spawn`` and
    three pipes under one deadline, without ``subprocess``, whose import alone costs as
    much as running a small Go plugin. OSError when it cannot start, TimeoutError (the
    child killed) when it does not finish in time, ValueError when it writes more than
    the budget (the child killed too).
    """
    import select
    import time

    deadline = time.monotonic() + timeout
    flags = os.O_CLOEXEC
    in_r, in_w = os.pipe2(flags)
    out_r, out_w = os.pipe2(flags)
    err_r, err_w = os.pipe2(flags)
    try:
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, in_r, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
        )
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    os.set_blocking(in_w, False)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    sizes = {out_r: 0, err_r: 0}
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    poller.register(err_r, select.POLLIN)
    open_fds = {out_r, err_r}
    if data:
        poller.register(in_w, select.POLLOUT)
    else:
        os.close(in_w)
    sent = 0
    try:
        while open_fds or (data and sent < len(data)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{argv[0]} did not finish within {timeout:g} s")
            for fd, _events in poller.poll(left * 1000):
                if fd == in_w:
                    try:
                        sent += os.write(in_w, data[sent : sent + 65536])
                    except BrokenPipeError:
                        sent = len(data)  # it stopped reading: what it read is what it gets
                    if sent >= len(data):
                        poller.unregister(in_w)
                        os.close(in_w)
                    continue
                piece = os.read(fd, 65536)
                if not piece:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                sizes[fd] += len(piece)
                if sizes[fd] > EXCHANGE_BUDGET:
                    raise ValueError(f"{argv[0]} wrote more than {EXCHANGE_BUDGET} bytes")
                chunks[fd].append(piece)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    finally:
        if data and sent < len(data):
            os.close(in_w)
        os.close(out_r)
        os.close(err_r)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks[out_r]), b"".join(chunks[err_r])
