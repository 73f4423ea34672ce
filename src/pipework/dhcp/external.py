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
hostname, restart its time daemon...). Here each client runs in a mount
namespace and a UTS namespace of its own (``_sandbox``), where:

- /etc is an overlay whose writes land in a private tmpfs, and /etc/resolv.conf
  in it is a private regular file, whatever the host's is a link to (Debian's
  dhclient-script and dhcpcd's hooks ``readlink -f`` it and write the target,
  under /run with systemd-resolved or resolvconf);
- /run is a private tmpfs: the pid files, dhcpcd's control socket and hook
  state, resolvconf's and systemd's run-time files never reach the host's;
- /var/lib/dhcp, /var/lib/dhcpcd and /var/db/dhcpcd are private and empty:
  lease files named by interface only (every guest's eth1) and the host's
  DUID are neither read nor written.

A client kept running (``-f``, and dhcpcd, which stays) keeps that namespace for
its renewals. Its pid files live in the private /run, so pipework stops a client
by its sandbox, not by a pid file: ``stop_clients``.
"""

from __future__ import annotations

import os
import stat

from ..errors import CommandError
from ..steps import Step
from . import orphans
from .paths import SANDBOX_DIR, key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine.context import AttachContext
    from ..model import DhcpRequest
    from ..steps import Rollback

_PACKAGES = {"udhcpc": "udhcpc", "dhclient": "isc-dhcp-client", "dhcpcd": "dhcpcd-base"}
CLONE_NEWNS, CLONE_NEWUTS = 0x00020000, 0x04000000
MS_REC, MS_PRIVATE = 0x4000, 0x40000
#: each private tmpfs: resolv.conf, a lease file, pid files; bounded all the same
TMPFS_SIZE = "16m"


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
    # on the host, an empty file per interface: detach's sign that a client may be
    # running; the sandboxes themselves are mounted at KEY beneath it in the private /run
    os.makedirs(SANDBOX_DIR, mode=0o700, exist_ok=True)
    what = f"{dhcp.client} on {ctx.spec.container_ifname} in {ctx.guest.label}"
    name = key(ctx.guest.netns.inode, ctx.spec.container_ifname)
    # what gc needs to stop a kept client once its guest is gone (orphans.py)
    record = orphans.record_for(ctx, dhcp.client)
    orphans.write(name, record)
    try:
        with inside(ctx.guest.netns):  # the child inherits the namespace of this thread
            status = subprocess.call(
                argv, stdin=subprocess.DEVNULL, preexec_fn=lambda: _sandbox(name)
            )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CommandError(f"run {what}: {exc}") from None
    if status != 0:
        raise CommandError(f"{what} exited with status {status}: no lease", returncode=1)
    inode, ifname = ctx.guest.netns.inode, ctx.spec.container_ifname
    # the clients now running, by pid and start time: the only processes gc may stop
    orphans.write(name, orphans.with_clients(record, orphans.sandboxed(inode, name)))
    # a client left running (dhcpcd, the -f forms) goes if a later step fails
    rollback.push(f"kill the {dhcp.client} pipework started", lambda: _stop(inode, ifname))
    if dhcp.client == "dhclient" and not dhcp.foreground:
        # the original kills it through its pid file, which is in the sandbox's /run
        stop_clients(ctx.guest.netns.inode, ctx.spec.container_ifname)
    elif dhcp.client == "udhcpc" and not dhcp.foreground:
        _unmark(name)  # udhcpc -q has exited, its pid file gone with its private /run


def _stop(inode: int, ifname: str) -> None:
    stop_clients(inode, ifname)


def _unmark(name: str) -> None:
    try:
        os.unlink(f"{SANDBOX_DIR}/{name}")
    except FileNotFoundError:
        pass


#: what the clients write under /var: lease databases (dhclient, dhcpcd; BSD's path
#: too), dhcpcd's DUID and secret
PRIVATE_STATE_DIRS = ("/var/lib/dhcp", "/var/lib/dhcpcd", "/var/db/dhcpcd")


def _sandbox(name: str) -> None:
    """In the child, before exec: the client's mount and UTS namespaces (see the
    module docstring). Fails, and the client never runs, rather than run it
    unprotected. The sandbox's tmpfs is mounted at SANDBOX_DIR/KEY in the private
    /run: that mount, in a process's mountinfo, is how ``stop_clients`` knows the
    client is one pipework started (clients rewrite their argv and environment)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def mount(source: str, target: str, fstype: str | None, flags: int, data: str) -> None:
        if libc.mount(source.encode(), target.encode(), fstype and fstype.encode(), flags,
                      data.encode() if data else None) != 0:  # fmt: skip
            errno = ctypes.get_errno()
            raise OSError(errno, f"mount {fstype or source} on {target}: {os.strerror(errno)}")

    if libc.unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"unshare: {os.strerror(errno)}")
    mount("none", "/", None, MS_REC | MS_PRIVATE, "")
    resolv_conf = _host_resolv_conf()  # read while the host's /run is still there
    mount("tmpfs", "/run", "tmpfs", 0, f"mode=0755,size={TMPFS_SIZE}")
    if os.path.isdir("/var/run") and not os.path.islink("/var/run"):
        mount("tmpfs", "/var/run", "tmpfs", 0, f"mode=0755,size={TMPFS_SIZE}")
    base = f"{SANDBOX_DIR}/{name}"
    os.makedirs(base, mode=0o700)
    mount("tmpfs", base, "tmpfs", 0, f"mode=0700,size={TMPFS_SIZE}")
    os.mkdir(base + "/upper")
    os.mkdir(base + "/work")
    mount(
        "overlay", "/etc", "overlay", 0, f"lowerdir=/etc,upperdir={base}/upper,workdir={base}/work"
    )
    _private_resolv_conf(resolv_conf)
    os.makedirs("/etc/dhclient", exist_ok=True)  # the original's -lf directory, in the overlay
    for directory in PRIVATE_STATE_DIRS:
        if os.path.isdir(directory):
            mount("tmpfs", directory, "tmpfs", 0, f"mode=0755,size={TMPFS_SIZE}")


def _host_resolv_conf() -> bytes | None:
    """The host's resolver configuration, through any links (the scripts may keep
    its nameserver lines), or None when there is none to read."""
    try:
        with open("/etc/resolv.conf", "rb") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def _private_resolv_conf(content: bytes | None) -> None:
    """/etc/resolv.conf in the overlay as a regular file of its own: a link would
    send the scripts' writes to its target, outside the overlay."""
    try:
        info = os.lstat("/etc/resolv.conf")
    except FileNotFoundError:
        return  # a script that writes one creates it in the overlay
    if stat.S_ISREG(info.st_mode):
        return  # the overlay copies it up on the first write
    os.unlink("/etc/resolv.conf")  # a whiteout in the upper layer, the host's link untouched
    fd = os.open("/etc/resolv.conf", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with open(fd, "wb") as f:
        f.write(content or b"")


def stop_clients(netns_inode: int, ifname: str) -> list[int]:
    """Stop the external clients pipework started for this guest interface that are
    still running (dhcpcd, or a ``-f`` client): the processes in the guest's
    namespace whose mount namespace holds this interface's sandbox. A client the
    guest started itself is never touched."""
    import signal

    name = key(netns_inode, ifname)
    stopped = []
    for pid in orphans.sandboxed(netns_inode, name):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            continue
        stopped.append(pid)
    _unmark(name)
    return stopped
