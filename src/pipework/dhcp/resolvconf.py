"""``--dns``: the lease's DNS servers in the guest's resolv.conf, where that is safe.

Where the guest reads its resolv.conf from:
- a named network namespace (``ip netns add``): ``/etc/netns/NAME/resolv.conf``,
  which ``ip netns exec`` mounts over /etc/resolv.conf;
- a container (LXC, Docker, any process with a root of its own): its
  ``/etc/resolv.conf``, reached through ``/proc/PID/root``.

It is refused rather than written when it would be the host's own file (a
process that shares the host's filesystem), when it is a symbolic link (which
the kernel would follow from the host's root, not the container's), or for a
bare namespace file with no process to give it a filesystem. The old content is
put back if the attach fails later.
"""

from __future__ import annotations

import os

from ..errors import HostStateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Guest
    from ..steps import Push

HOST_RESOLV_CONF = "/etc/resolv.conf"


def render(servers: list[str], domain: str | None) -> str:
    lines = ["# written by pipework from a DHCP lease"]
    if domain:
        lines.append(f"search {domain}")
    lines += [f"nameserver {server}" for server in servers]
    return "\n".join(lines) + "\n"


def guest_resolv_conf(guest: Guest) -> str:
    """The file the guest resolves names with; HostStateError when none is safe."""
    if guest.runtime == "netns" and not guest.name.startswith("/"):
        return f"/etc/netns/{guest.name}/resolv.conf"
    if guest.pid is None:
        raise HostStateError(
            f"--dns: {guest.label} is a bare network namespace, with no resolv.conf of its own"
        )
    path = f"/proc/{guest.pid}/root/etc/resolv.conf"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path  # created below, inside the guest's own /etc
    except OSError as exc:
        raise HostStateError(f"--dns: cannot look at {path}: {exc.strerror}") from None
    if not _is_regular(info.st_mode):
        raise HostStateError(
            f"--dns: the resolv.conf of {guest.label} is a symbolic link or not a file; "
            "pipework does not follow it (it could lead out of the container)"
        )
    try:
        host = os.stat(HOST_RESOLV_CONF)
    except OSError:
        return path
    if (host.st_dev, host.st_ino) == (info.st_dev, info.st_ino):
        raise HostStateError(
            f"--dns: {guest.label} uses the host's own /etc/resolv.conf; not changing it"
        )
    return path


def write_guest_resolv_conf(
    guest: Guest, servers: list[str], domain: str | None, push: Push
) -> None:
    if not servers:
        return
    path = guest_resolv_conf(guest)
    try:
        with open(path, "rb") as f:
            before: bytes | None = f.read()
    except FileNotFoundError:
        before = None
    directory = os.path.dirname(path)
    made_directory = not os.path.isdir(directory) and path.startswith("/etc/netns/")
    if made_directory:
        os.makedirs(directory, mode=0o755)
    # O_NOFOLLOW: a link swapped in since the check above is refused, not followed
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(render(servers, domain))

    def undo() -> None:
        if before is None:
            os.unlink(path)
            if made_directory:
                os.rmdir(directory)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
            with os.fdopen(fd, "wb") as f:
                f.write(before)

    push(f"restore {path}", undo)


def _is_regular(mode: int) -> bool:
    return (mode & 0o170000) == 0o100000
