"""Hostile DHCP strings: what a server on the guest's network says never adds a line.

The domain name (option 15) goes into the guest's resolv.conf (``--dns``), the
domain and the host name (option 12) into the renewal process's record on the
host. A newline in them would be a line of the server's choosing (``nameserver``
of its own), an escape sequence one for the terminal: the lease parser takes a
name only when it is one, and the file writer checks again.
"""

from __future__ import annotations

import os
import struct
from errno import ENOSYS

import pytest

from pipework.dhcp import packet as p
from pipework.dhcp import resolvconf, state
from pipework.dhcp.client import make_lease
from pipework.errors import HostStateError

MAC = bytes.fromhex("020000000001")
SERVER = bytes((198, 51, 100, 1))


def ack(extra: bytes) -> p.Message:
    """A server's DHCPACK with a usable lease, plus the raw options ``extra``."""
    fixed = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        p.BOOTREPLY, 1, 6, 0, 1, 0, 0x8000, bytes(4), bytes((198, 51, 100, 60)), bytes(4),
        bytes(4), MAC, b"", b"",
    )  # fmt: skip
    options = (
        bytes((p.MESSAGE_TYPE, 1, p.ACK, p.SERVER_ID, 4)) + SERVER
        + bytes((p.LEASE_TIME, 4)) + p.u32(120)
        + bytes((p.SUBNET_MASK, 4, 255, 255, 255, 0))
        + bytes((p.DNS_SERVERS, 4)) + SERVER
        + extra + bytes((p.END,))
    )  # fmt: skip
    return p.decode(fixed + p.MAGIC + options)


def option(code: int, value: bytes) -> bytes:
    return p.encode_option(code, value)


HOSTILE = [
    b"evil.example\nnameserver 203.0.113.66",
    b"evil.example\rnameserver 203.0.113.66",
    b"\nnameserver 203.0.113.66\n",
    b"evil\x1b[31m.example",  # an escape sequence for whoever prints it
    b"evil\x7f.example",
    b"\xc3\xa9t\xc3\xa9.example",  # non-ASCII
    b"evil\t.example",
    b"evil example\tnameserver",
    b"-option.example",
    b"a..example",
    b".",
    b"",
    b"a" * 64 + b".example",  # a label longer than 63
    b"a." * 127 + b"a",  # 255 characters
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_domain_that_is_not_a_name_is_left_out_of_the_lease(value: bytes) -> None:
    lease = make_lease(ack(option(p.DOMAIN_NAME, value)), SERVER)
    assert lease.domain is None
    assert lease.dns == (SERVER,)  # the rest of the lease stands


@pytest.mark.parametrize("value", HOSTILE)
def test_a_host_name_that_is_not_a_name_is_left_out_of_the_lease(value: bytes) -> None:
    assert make_lease(ack(option(p.HOSTNAME, value)), SERVER).hostname is None


def test_a_newline_after_a_nul_is_cut_off_with_it() -> None:
    # some servers count a C string's final NUL; what follows it is not the name
    lease = make_lease(ack(option(p.DOMAIN_NAME, b"pipework.test\0\nnameserver 6.6.6.6")), SERVER)
    assert lease.domain == "pipework.test"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"pipework.test", "pipework.test"),
        (b"pipework.test.", "pipework.test."),
        (b"_srv.corp-1.example", "_srv.corp-1.example"),
        (b"a.example b.example", "a.example b.example"),  # some servers send a list
        (b"a." * 126 + b"a", "a." * 126 + "a"),  # 253 characters
    ],
)
def test_a_domain_that_is_a_name_is_kept(value: bytes, expected: str) -> None:
    assert make_lease(ack(option(p.DOMAIN_NAME, value)), SERVER).domain == expected


def test_more_domains_than_resolv_conf_searches_are_refused() -> None:
    names = b" ".join(b"d%d.example" % i for i in range(7))
    assert make_lease(ack(option(p.DOMAIN_NAME, names)), SERVER).domain is None


def test_a_host_name_is_one_name() -> None:
    lease = make_lease(ack(option(p.HOSTNAME, b"web-1")), SERVER)
    assert lease.hostname == "web-1"
    assert make_lease(ack(option(p.HOSTNAME, b"web-1 web-2")), SERVER).hostname is None


def test_the_written_resolv_conf_has_only_its_own_lines() -> None:
    # render is the last gate before the file, for whatever reaches it
    text = resolvconf.render(
        ["198.51.100.1", "2001:db8::53", "6.6.6.6\nnameserver 203.0.113.66"],
        "evil.example\nnameserver 203.0.113.66",
    )
    assert text == (
        "# written by pipework from a DHCP lease\n"
        "nameserver 198.51.100.1\n"
        "nameserver 2001:db8::53\n"
    )
    assert resolvconf.render(["198.51.100.1"], "pipework.test").splitlines()[1] == (
        "search pipework.test"
    )


def test_a_renewal_record_with_a_bad_name_gives_no_name() -> None:
    lease = make_lease(ack(option(p.DOMAIN_NAME, b"pipework.test")), SERVER)
    record = state.lease_to_json(lease)
    assert state.lease_from_json(record).domain == "pipework.test"
    record.update(domain="x\nnameserver 203.0.113.66", hostname="\x1b]0;owned\x07")
    back = state.lease_from_json(record)
    assert (back.domain, back.hostname) == (None, None)


class _FakeNetns:
    inode = os.stat("/proc/self/ns/net").st_ino


class _FakeGuest:
    """A guest whose process is this one: its root is /, found through /proc."""

    runtime, name, label = "pid", str(os.getpid()), f"pid:{os.getpid()}"
    pid = os.getpid()
    netns = _FakeNetns()

    def alive(self) -> bool:
        return True


def test_without_openat2_dns_in_a_container_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipework._lowlevel import openat2

    def no_openat2(*_args: object, **_kw: object) -> int:
        raise OSError(ENOSYS, os.strerror(ENOSYS))

    monkeypatch.setattr(openat2, "openat2", no_openat2)
    pushed: list[str] = []
    with pytest.raises(HostStateError) as caught:
        resolvconf.write_guest_resolv_conf(
            _FakeGuest(),  # type: ignore[arg-type]
            ["198.51.100.1"],
            None,
            lambda what, _undo: pushed.append(what),
        )
    assert caught.value.exit_code == 1
    assert "--dns needs openat2 (Linux 5.6+) to write inside a container safely" in str(
        caught.value
    )
    assert pushed == []


def test_a_process_sharing_the_hosts_etc_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # this test's own process: its /etc is the host's, its resolv.conf the host's;
    # should the refusal ever break, the test fails before anything is written
    def never(*_args: object) -> None:
        raise AssertionError("pipework was about to write the host's resolv.conf")

    monkeypatch.setattr(resolvconf, "_rewrite", never)
    monkeypatch.setattr(resolvconf, "_create", never)
    with pytest.raises(HostStateError, match="host's"):
        resolvconf.write_guest_resolv_conf(
            _FakeGuest(),  # type: ignore[arg-type]
            ["198.51.100.1"],
            None,
            lambda _what, _undo: None,
        )
