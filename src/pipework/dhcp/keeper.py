"""The lease renewal process of ``dhcp-f`` / ``--dhcp-keep``.

Started by the attach as ``python -m pipework.dhcp.keeper KEY``, it detaches
(a double fork: never anyone's zombie) and then, per RFC 2131 4.4.5, renews the
lease at T1 by unicast to its server, rebinds at T2 by broadcast, and when the
lease runs out anyway removes the address and asks for a new one. Each renewal
extends the address's lifetime, so an address is never used past its lease.

It holds nothing of the guest between renewals: no namespace fd, no socket
(either would keep a dead guest's namespace alive). Twice a second it checks
that the guest still exists (its process with the same start time, or its
namespace file with the same inode) and ends when it does not. SIGTERM
(``pipework detach``) releases the lease first; SIGUSR1 (a rolled-back attach)
does not. Its state and pid file are state.py's; it removes both when it ends.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from .._lowlevel.statedir import write_atomically
from . import state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypedDict

    from ..engine.context import AttachContext
    from ..netlink.socket import NetlinkSocket
    from .client import Lease, Session

    class KeeperRecord(TypedDict):
        """What the renewal process needs to find the guest interface again (its JSON)."""

        guest: str  # the label, for messages
        pid: int | None  # the guest's process, with its start time: not a reused pid
        starttime: int | None
        netns_path: str  # else the namespace file, with the inode it must still have
        netns_inode: int
        ifname: str
        ifindex: int  # the interface, by index, with its name and MAC
        mac: str
        hostname: str | None
        vendor_class: str | None
        lease: dict[str, object]  # state.lease_to_json


_TICK = 0.5  # seconds between checks that the guest is still there
_ATTEMPT_TIMEOUT = 10.0


def record(ctx: AttachContext, lease: Lease, hostname: str | None) -> KeeperRecord:
    """What the renewal process needs to find the guest interface again."""
    guest = ctx.guest
    dhcp = ctx.spec.addressing.dhcp
    assert dhcp is not None
    link = ctx.guest_end()
    path = f"/proc/{guest.pid}/ns/net" if guest.pid is not None else guest.netns.path
    return {
        "guest": guest.label,
        "pid": guest.pid,
        "starttime": guest.starttime,
        "netns_path": path,
        "netns_inode": guest.netns.inode,
        "ifname": ctx.spec.container_ifname,
        "ifindex": link.index,
        "mac": (link.address or b"").hex(),
        "hostname": hostname,
        "vendor_class": dhcp.vendor_class,
        "lease": state.lease_to_json(lease),
    }


def start(name: str) -> int:
    """Start the renewal process for state KEY ``name``; its pid once it runs."""
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipework.dhcp.keeper", "--daemon", name],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        close_fds=True,
        start_new_session=True,
    )
    # the first process exits once its detached child has written the pid file
    _out, err = proc.communicate(timeout=30)
    pid = state.keeper_pid(name)
    if proc.returncode != 0 or pid is None:
        from ..errors import CommandError

        raise CommandError(
            f"start the DHCP renewal process for {name}: "
            + (err.decode(errors="replace").strip() or f"exit {proc.returncode}")
        )
    return pid


def stop(name: str, *, release: bool, timeout: float = 5.0) -> bool:
    """Stop the renewal process of KEY ``name`` (releasing the lease or not) and wait
    for it to end; False when there was none."""
    pid = state.keeper_pid(name)
    if pid is None:
        state.remove(name)
        return False
    try:
        os.kill(pid, signal.SIGTERM if release else signal.SIGUSR1)
    except ProcessLookupError:
        state.remove(name)
        return False
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    if os.path.exists(f"/proc/{pid}"):
        os.kill(pid, signal.SIGKILL)
    state.remove(name)
    return True


# -- the process itself ---------------------------------------------------------------


class _Keeper:
    def __init__(self, name: str, rec: dict[str, object]) -> None:
        from .client import Lease

        self.name = name
        self.rec = rec
        raw = rec["lease"]
        assert isinstance(raw, dict)
        lease = state.lease_from_json(raw)
        assert isinstance(lease, Lease)
        self.lease: Lease | None = lease
        self.next_try = lease.renew_at
        self.stop: str | None = None
        self.log_file = open(state.path(name, "log"), "a", buffering=1)  # noqa: SIM115

    def log(self, text: str) -> None:
        self.log_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")

    # the guest

    def guest_alive(self) -> bool:
        rec = self.rec
        pid = rec.get("pid")
        if isinstance(pid, int):
            from .._lowlevel.procfs import process_starttime

            return process_starttime(pid) == rec.get("starttime")
        try:
            return os.stat(str(rec["netns_path"])).st_ino == rec["netns_inode"]
        except OSError:
            return False

    def enter(self) -> tuple[NetlinkSocket, Session] | None:
        """A netlink socket and a client session inside the guest, for one attempt;
        None when the guest or its interface is gone."""
        from ..errors import PipeworkError
        from ..netlink.socket import NetlinkSocket
        from ..netns import NetNS, inside
        from .client import Session

        rec = self.rec
        try:
            ns = NetNS.open(str(rec["netns_path"]), str(rec["guest"]))
        except PipeworkError:
            return None
        try:
            if ns.inode != rec["netns_inode"]:
                return None
            with inside(ns):
                nl = NetlinkSocket(str(rec["guest"]))
                try:
                    index = rec["ifindex"]
                    assert isinstance(index, int)
                    link = nl.link(index=index, obj=str(rec["ifname"]))
                    if (
                        link is None
                        or link.name != rec["ifname"]
                        or (link.address or b"").hex() != rec["mac"]
                    ):
                        raise PipeworkError("not the interface pipework attached")
                    hostname, vendor = rec["hostname"], rec["vendor_class"]
                    session = Session(
                        str(rec["ifname"]),
                        link.address or b"",
                        hostname=hostname if isinstance(hostname, str) else None,
                        vendor_class=vendor if isinstance(vendor, str) else None,
                    )
                    session.open()
                except PipeworkError:
                    nl.close()
                    return None
            return nl, session
        finally:
            ns.close()

    # the protocol

    def step(self) -> bool:
        """One attempt when one is due; False when the guest interface is gone."""
        from ..steps import no_undo
        from .client import DhcpFailed
        from .configure import add_lease_address, apply_lease

        now = time.time()
        lease: Lease | None = self.lease
        if lease is not None and now < self.next_try:
            return True
        entered = self.enter()
        if entered is None:
            self.log("the guest interface is gone")
            return False
        nl, session = entered
        index, label = self.rec["ifindex"], str(self.rec["guest"])
        assert isinstance(index, int)
        try:
            if lease is not None and now >= lease.expires:
                self.log("the lease ran out: removing the address, asking again")
                self._drop(nl, index, lease)
                self.lease = lease = None
            if lease is None:
                try:
                    fresh = session.obtain(_ATTEMPT_TIMEOUT)
                except DhcpFailed as exc:
                    self.log(f"no lease: {exc}")
                    self.next_try = now + 10
                    return True
                apply_lease(nl, index, label, fresh, expiring=True, push=no_undo)
                self._keep(fresh, "new lease")
                return True
            rebind = now >= lease.rebind_at
            try:
                new = session.renew(lease, _ATTEMPT_TIMEOUT, rebind=rebind)
            except DhcpFailed as exc:
                until = lease.expires if rebind else lease.rebind_at
                self.next_try = now + max(1.0, (until - now) / 2)
                self.log(f"{'rebinding' if rebind else 'renewal'} unanswered: {exc}")
                return True
            if new is None or new.address != lease.address:
                self.log("the server refused the renewal (DHCPNAK): asking again")
                self._drop(nl, index, lease)
                self.lease = None
                self.next_try = now
                return True
            add_lease_address(nl, index, label, new, expiring=True, replace=True)
            self._keep(new, "renewed" if not rebind else "rebound")
            return True
        finally:
            session.close()
            nl.close()

    def _keep(self, lease: Lease, what: str) -> None:
        self.lease = lease
        self.next_try = lease.renew_at
        self.rec["lease"] = state.lease_to_json(lease)
        state.save(self.name, self.rec)
        self.log(f"{what}: {'.'.join(map(str, lease.address))}/{lease.prefixlen} for "
                 f"{lease.lease_time} s")  # fmt: skip

    def _drop(self, nl: NetlinkSocket, index: int, lease: Lease) -> None:
        from ..netlink import messages as m
        from ..steps import gone_ok

        # the address may be gone already, its lifetime having run out
        gone_ok(
            lambda: nl.request(
                m.delete_address(index, m.AF_INET, lease.address, lease.prefixlen),
                op="remove",
                obj="the leased address",
            )
        )()

    def release(self) -> None:
        from ..errors import PipeworkError

        lease = self.lease
        if lease is None:
            return
        entered = self.enter()
        if entered is None:
            return
        nl, session = entered
        try:
            session.release(lease)
            self.log("released the lease")
        except (OSError, PipeworkError):
            pass
        finally:
            session.close()
            nl.close()

    def run(self) -> None:
        while True:
            if self.stop is not None:
                if self.stop == "release":
                    self.release()
                self.log(f"stopped ({self.stop})")
                return
            if not self.guest_alive():
                self.log("the guest is gone")
                return
            if not self.step():
                return
            lease = self.lease
            wake = self.next_try if lease is not None else time.time() + _TICK
            time.sleep(max(0.0, min(_TICK, wake - time.time())))


def _daemonize(name: str) -> None:
    """Fork; the parent exits when the child has written its pid file (so the
    attach knows the pid), and the child, in its own session, carries on."""
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        os.read(read_end, 1)  # EOF once the child wrote the pid file (or died)
        os._exit(0 if state.keeper_pid(name) is not None else 1)
    os.close(read_end)
    os.chdir("/")
    os.umask(0o022)
    write_atomically(state.path(name, "pid"), f"{os.getpid()}\n")
    os.close(write_end)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: list[str]) -> int:
    daemon = argv[:1] == ["--daemon"]
    if daemon:
        argv = argv[1:]
    if len(argv) != 1:
        print("usage: python -m pipework.dhcp.keeper [--daemon] KEY", file=sys.stderr)
        return 2
    name = argv[0]
    rec = state.load(name)
    if rec is None:
        print(f"no DHCP state for {name} in {state.STATE_DIR}", file=sys.stderr)
        return 1
    if daemon:
        _daemonize(name)
    else:
        write_atomically(state.path(name, "pid"), f"{os.getpid()}\n")
    keeper = _Keeper(name, rec)

    def on_signal(signum: int, _frame: object) -> None:
        keeper.stop = "release" if signum in (signal.SIGTERM, signal.SIGINT) else "quiet"

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        keeper.run()
    except Exception as exc:  # the last word goes to the log, not to a closed stderr
        keeper.log(f"failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        keeper.log_file.close()
        state.remove(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
