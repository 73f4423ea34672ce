"""The original's external DHCP modes: udhcpc, dhclient, dhcpcd (``-f``: keep running).

Each client runs inside the guest's network namespace with exactly the arguments
and pid-file locations of the original script, ``:OPTIONS`` appended:

    udhcpc -qi IF -x hostname:GUEST -p /var/run/udhcpc.GUEST.pid OPTIONS [-f]
    dhclient IF -pf /var/run/dhclient.GUEST.pid -lf /etc/dhclient/dhclient.GUEST.leases OPTIONS
    dhcpcd -q IF -h GUEST OPTIONS

and, as there, the udhcpc pid file is removed and dhclient is killed once the
lease is there, unless the ``-f`` form asked to keep the client.

What the original got wrong is fixed: run naively in a network namespace, the
clients' scripts rewrite the host's /etc/resolv.conf (and may set the host's
hostname). Here each client runs in a mount namespace of its own where /etc is
an overlay whose writes land in a private tmpfs, and in a UTS namespace of its
own: nothing it writes under /etc, nor its hostname, reaches the host.
"""

from __future__ import annotations

import os

from ..errors import CommandError
from ..steps import Step

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import DhcpRequest
    from ..steps import Rollback

_PACKAGES = {"udhcpc": "udhcpc", "dhclient": "isc-dhcp-client", "dhcpcd": "dhcpcd-base"}
SANDBOX_DIR = "/run/pipework/dhcp-sandbox"
CLONE_NEWNS, CLONE_NEWUTS = 0x00020000, 0x04000000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def guest_word(name: str) -> str:
    """The guest's name as it goes into file names (a path's slashes would not)."""
    return name.strip("/").replace("/", "_") or "guest"


def client_argv(dhcp: DhcpRequest, program: str, ifname: str, guest: str) -> list[str]:
    """The client's command line, word for word the original's."""
    options = dhcp.options.split()
    name = guest_word(guest)
    if dhcp.client == "udhcpc":
        argv = [program, "-qi", ifname, "-x", f"hostname:{guest}"]
        argv += ["-p", f"/var/run/udhcpc.{name}.pid", *options]
        return argv + (["-f"] if dhcp.foreground else [])
    if dhcp.client == "dhclient":
        argv = [program, ifname, "-pf", f"/var/run/dhclient.{name}.pid"]
        return [*argv, "-lf", f"/etc/dhclient/dhclient.{name}.leases", *options]
    return [program, "-q", ifname, "-h", guest, *options]


def external_steps(ctx: AttachContext) -> list[Step]:
    from .._lowlevel.programs import which

    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    program = which(dhcp.client)
    if program is None:
        raise CommandError(
            f"You asked for DHCP client {dhcp.client}, but it is not installed",
            hint=f"apt-get install {_PACKAGES[dhcp.client]}, or use the built-in client (dhcp)",
        )
    argv = client_argv(dhcp, program, ctx.spec.container_ifname, ctx.guest.name)
    return [
        Step(
            ctx.in_guest(" ".join(argv)) + "  # in a private mount and UTS namespace",
            lambda rollback: _run(ctx, dhcp, argv, rollback),
        )
    ]


def _run(ctx: AttachContext, dhcp: DhcpRequest, argv: list[str], rollback: Rollback) -> None:
    import subprocess

    from ..netns import inside

    not_ready = ctx.driver.wait_ready(ctx)
    if not_ready:
        rollback.notes.append(not_ready)
    os.makedirs(SANDBOX_DIR, mode=0o700, exist_ok=True)
    what = f"{dhcp.client} on {ctx.spec.container_ifname} in {ctx.guest.label}"
    # The sandbox's tmpfs is mounted at a directory named for this guest interface:
    # that mount, in a client's mount namespace, is how detach knows the client is
    # one pipework started (clients rewrite their argv and environment).
    sandbox = f"{SANDBOX_DIR}/{ctx.guest.netns.inode}-{ctx.spec.container_ifname}"
    os.makedirs(sandbox, mode=0o700, exist_ok=True)
    private_run = "/run/dhcpcd" if dhcp.client == "dhcpcd" else None
    if private_run:
        os.makedirs(private_run, mode=0o755, exist_ok=True)
    try:
        with inside(ctx.guest.netns):  # the child inherits the namespace of this thread
            status = subprocess.call(
                argv,
                stdin=subprocess.DEVNULL,
                preexec_fn=lambda: _sandbox(sandbox, private_run),
            )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CommandError(f"run {what}: {exc}") from None
    finally:
        # mounted only in the client's namespace: on the host an empty directory
        os.rmdir(sandbox)
    if status != 0:
        raise CommandError(f"{what} exited with status {status}: no lease", returncode=1)
    name = guest_word(ctx.guest.name)
    if dhcp.client == "udhcpc" and not dhcp.foreground:
        _unlink(f"/var/run/udhcpc.{name}.pid")
    elif dhcp.client == "dhclient" and not dhcp.foreground:
        _kill_from_pid_file(f"/var/run/dhclient.{name}.pid")


def _sandbox(base: str, private_run: str | None) -> None:
    """In the child, before exec: a mount namespace where /etc is an overlay over a
    private tmpfs mounted at ``base``, and a UTS namespace. ``private_run`` gets a
    tmpfs of its own too (dhcpcd keeps its pid file and control socket there, named
    for the interface only: every guest's eth1 would collide). Fails, and the
    client never runs, rather than run it unprotected."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    check(libc.mount(b"tmpfs", base.encode(), b"tmpfs", 0, b"mode=0700"), "mount a tmpfs")
    os.mkdir(base + "/upper")
    os.mkdir(base + "/work")
    options = f"lowerdir=/etc,upperdir={base}/upper,workdir={base}/work"
    check(libc.mount(b"overlay", b"/etc", b"overlay", 0, options.encode()), "overlay /etc")
    os.makedirs("/etc/dhclient", exist_ok=True)  # the original's -lf directory, in the overlay
    if private_run:
        check(libc.mount(b"tmpfs", private_run.encode(), b"tmpfs", 0, b"mode=0755"), "tmpfs")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _kill_from_pid_file(path: str) -> None:
    import signal

    try:
        with open(path) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    _unlink(path)


def stop_clients(netns_inode: int, ifname: str) -> list[int]:
    """Stop the external clients pipework started for this guest interface that are
    still running (dhcpcd, or a ``-f`` client): the processes in the guest's
    namespace whose mount namespace holds this interface's sandbox. A client the
    guest started itself is never touched."""
    import signal

    mount_point = f" {SANDBOX_DIR}/{netns_inode}-{ifname} ".encode()
    stopped = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != netns_inode:
                continue
            with open(f"/proc/{entry}/mountinfo", "rb") as f:
                if mount_point not in f.read():
                    continue
            os.kill(int(entry), signal.SIGTERM)
            stopped.append(int(entry))
        except OSError:
            continue
    return stopped
