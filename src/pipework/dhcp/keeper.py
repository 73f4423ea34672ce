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

A server on the guest's network decides how often it is asked, so nothing it
says may make this process spin (it did, on a zero-second lease: 1500 exchanges
a second and a log growing without end). The lease times are floored
(client.MIN_LEASE, MIN_RENEWAL); an unanswered renewal is retried per RFC 2131
4.4.5, after half the time left until T2 (then until the lease runs out), at
least a minute apart; a lease that cannot be had again is asked for after an
exponential back-off with jitter (10 s, doubling, up to 5 minutes); and the log
keeps only its last ``_LOG_KEEP`` bytes once it passes ``_LOG_MAX``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from .._lowlevel.runstate import write_atomically
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
#: RFC 2131 4.4.5: an unanswered renewal is retried no sooner than this (seconds)
_RETRY_MIN = 60.0
#: seconds: the first pause after a failed attempt to get a new lease, and the longest
_BACKOFF_FIRST, _BACKOFF_MAX = 10.0, 300.0
#: bytes: past _LOG_MAX the log is cut to its last _LOG_KEEP bytes
_LOG_MAX, _LOG_KEEP = 64 * 1024, 16 * 1024


def backoff(failures: int, random: float) -> float:
    """Seconds to wait after ``failures`` failed attempts in a row (1, 2...): doubling
    from _BACKOFF_FIRST up to _BACKOFF_MAX, then spread by +-25 % (``random`` in
    [0, 1)) so that the guests of one rogue server do not ask in step."""
    delay = min(_BACKOFF_MAX, _BACKOFF_FIRST * (1 << min(failures - 1, 16)))
    return delay * (0.75 + random / 2)


def retry_after_silence(now: float, until: float) -> float:
    """When to try again after an unanswered renewal or rebinding (RFC 2131 4.4.5):
    half the time left until ``until`` (T2, or the end of the lease), at least
    _RETRY_MIN, but never past ``until``, where the next state starts."""
    return min(until, now + max(_RETRY_MIN, (until - now) / 2))


def _random() -> float:
    return int.from_bytes(os.urandom(2), "big") / 65536


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
        self.failures = 0  # attempts to get a new lease that failed in a row
        self.stop: str | None = None
        self.log_file = open(state.path(name, "log"), "a", buffering=1)  # noqa: SIM115

    def log(self, text: str) -> None:
        self.log_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")
        if self.log_file.tell() > _LOG_MAX:
            self._trim_log()

    def _trim_log(self) -> None:
        """Keep the last _LOG_KEEP bytes, from a line start: /run is memory."""
        from .._lowlevel.runstate import write_atomically

        target = state.path(self.name, "log")
        self.log_file.close()
        with open(target, "rb") as f:
            f.seek(max(0, os.path.getsize(target) - _LOG_KEEP))
            tail = f.read()
        tail = tail[tail.find(b"\n") + 1 :]
        write_atomically(target, "(earlier lines dropped)\n" + tail.decode(errors="replace"))
        self.log_file = open(target, "a", buffering=1)  # noqa: SIM115

    def _failed(self, now: float, what: str) -> None:
        """No new lease this time: try again after the back-off."""
        self.failures += 1
        delay = backoff(self.failures, _random())
        self.next_try = now + delay
        self.log(f"{what}; next attempt in {delay:.0f} s")

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
        if now < self.next_try:  # with a lease or without: a failure waits too
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
                    # one try: a NAK comes back here, after the back-off
                    fresh = session.obtain(_ATTEMPT_TIMEOUT, attempts=1)
                except DhcpFailed as exc:
                    self._failed(time.time(), f"no lease: {exc}")
                    return True
                for note in apply_lease(nl, index, label, fresh, expiring=True, push=no_undo):
                    self.log(note)
                self._keep(fresh, "new lease")
                return True
            rebind = now >= lease.rebind_at
            try:
                new = session.renew(lease, _ATTEMPT_TIMEOUT, rebind=rebind)
            except DhcpFailed as exc:
                later = time.time()
                self.next_try = retry_after_silence(
                    later, lease.expires if rebind else lease.rebind_at
                )
                self.log(
                    f"{'rebinding' if rebind else 'renewal'} failed: {exc}; "
                    f"next attempt in {max(0.0, self.next_try - later):.0f} s"
                )
                return True
            if new is None or new.address != lease.address:
                self._drop(nl, index, lease)
                self.lease = None
                # RFC 2131: a NAK sends the client back to DISCOVER at once; a server
                # that refuses again is asked after the back-off
                if self.failures:
                    self._failed(time.time(), "the server refused the renewal (DHCPNAK)")
                else:
                    self.failures = 1
                    self.log("the server refused the renewal (DHCPNAK): asking again")
                return True
            add_lease_address(nl, index, label, new, expiring=True, replace=True)
            self._keep(new, "renewed" if not rebind else "rebound")
            return True
        finally:
            session.close()
            nl.close()

    def _keep(self, lease: Lease, what: str) -> None:
        from .client import MIN_LEASE

        self.lease = lease
        self.next_try = lease.renew_at
        self.failures = 0
        self.rec["lease"] = state.lease_to_json(lease)
        state.save(self.name, self.rec)
        held = "" if lease.infinite or lease.lease_time >= MIN_LEASE else f" (held {MIN_LEASE} s)"
        self.log(f"{what}: {'.'.join(map(str, lease.address))}/{lease.prefixlen} for "
                 f"{lease.lease_time} s{held}")  # fmt: skip

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
            # at most a tick: the guest and the signals are checked between attempts
            time.sleep(max(0.0, min(_TICK, self.next_try - time.time())))


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
