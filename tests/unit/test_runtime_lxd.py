"""The LXD and Incus resolvers against a recorded API exchange, and against liars.

The answers below are what Debian 12's LXD 5.0.2 sent for ``GET
/1.0/instances/NAME/state`` (a running container, a stopped one, an unknown name),
served by the fake daemon of ``fake_docker`` (it answers whatever a case says).
The real daemon is in tests/integration/test_runtime_lxd.py. A daemon's pid is
taken only when it is a process of the container's LXC payload cgroup: the pid of
this test process is not, so a running answer naming it is the case of a daemon
that lies (or of a virtual machine, whose pid is its qemu on the host).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pipework.errors import HostStateError, UsageError
from pipework.guests import incus, lxd
from pipework.names import parse_guest_ref

from .fake_docker import CHUNKED_HEAD, FakeDocker, endless, hold, http, say, trickle

_HEADERS = "Date: Sat, 05 Dec 2026 06:43:58 GMT\r\n"


def _state(status: str, code: int, pid: int | str) -> bytes:
    # as LXD 5.0.2 sent it, the counters trimmed
    return (
        '{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,'
        f'"error":"","metadata":{{"status":"{status}","status_code":{code},"disk":{{}},'
        '"memory":{"usage":319488,"usage_peak":1150976,"swap_usage":0,"swap_usage_peak":0},'
        f'"network":null,"pid":{pid},"processes":2,"cpu":{{"usage":9118169}}}}}}'
    ).encode()


NOT_FOUND = http(
    b'{"type":"error","status":"","status_code":0,"operation":"","error_code":404,'
    b'"error":"Instance not found","metadata":null}',
    "404 Not Found",
    "X-Content-Type-Options: nosniff\r\n" + _HEADERS,
)
STOPPED = http(_state("Stopped", 102, 0), headers=_HEADERS)


def running(pid: int | str) -> bytes:
    return http(_state("Running", 103, pid), headers=_HEADERS)


_VARS = ("LXD_SOCKET", "LXD_DIR", "INCUS_SOCKET", "INCUS_DIR")


@pytest.fixture(autouse=True)
def _no_environment() -> Iterator[None]:
    """No socket named by the environment, but the one a case sets (removed after)."""
    saved = {var: os.environ.pop(var) for var in _VARS if var in os.environ}
    yield
    for var in _VARS:
        os.environ.pop(var, None)
    os.environ.update(saved)


def ask(daemon: FakeDocker, name: str = "web", runtime: lxd.LxdResolver = lxd.RESOLVER):
    os.environ[runtime.env_socket] = daemon.path  # removed by the fixture
    return lxd.find(runtime, name)


def test_a_running_container_is_found_by_its_init_pid(monkeypatch):
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: check == "web")
    with FakeDocker(say(running(os.getpid()))) as daemon:
        finding = ask(daemon)
    assert daemon.requests[0].startswith(b"GET /1.0/instances/web/state HTTP/1.0\r\n")
    (cand,) = finding.candidates
    assert (cand.runtime, cand.name, cand.pid) == ("lxd", "web", os.getpid())
    assert cand.ns_path == f"/proc/{os.getpid()}/ns/net"
    assert cand.check == "web", "the payload cgroup is checked again after pinning"
    assert cand.detail == f"LXD API at {daemon.path}: instance web Running, init pid {os.getpid()}"


def test_a_pid_outside_the_containers_cgroup_is_refused():
    # This process is in no lxc.payload.web: a lying daemon, or a VM's qemu.
    with FakeDocker(say(running(os.getpid()))) as daemon:
        finding = ask(daemon)
    assert finding.candidates == []
    assert f"the daemon's pid {os.getpid()} is not in the container's cgroup" in finding.summary()
    assert "lxc.payload.web" in finding.summary()


def test_the_hosts_init_is_never_a_containers_process():
    with FakeDocker(say(running(1))) as daemon:
        assert ask(daemon).candidates == []


def test_a_stopped_container_says_so():
    with FakeDocker(say(STOPPED)) as daemon:
        finding = ask(daemon)
    assert finding.candidates == []
    assert finding.summary() == "lxd: instance web is not running (status: Stopped)"


def test_an_unknown_name_is_not_found():
    with FakeDocker(say(NOT_FOUND)) as daemon:
        assert ask(daemon).summary() == "lxd: no instance web"


def test_a_refusal_is_reported_in_the_daemons_words():
    body = b'{"type":"error","error_code":403,"error":"not authorized","metadata":null}'
    with FakeDocker(say(http(body, "403 Forbidden"))) as daemon:
        assert ask(daemon).summary() == "lxd: daemon answered HTTP 403: not authorized"


@pytest.mark.parametrize("pid", ["-1", str(1 << 22), '"42"', "true", "4.5", "null"])
def test_a_pid_that_is_no_pid_is_an_error_naming_the_daemon(pid):
    with FakeDocker(say(running(pid))) as daemon, pytest.raises(HostStateError) as err:
        ask(daemon)
    assert f"ask the LXD daemon at {daemon.path} for instance web: the answer has no valid pid" in (
        str(err.value)
    )
    assert "LXD_SOCKET" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>", "not valid JSON"),
        (b'{"type":"async","metadata":{"pid":1}}', "not a synchronous API response"),
        (b"[1, 2]", "not a synchronous API response"),
        (b'{"type":"sync","metadata":null}', "no instance state"),
    ],
)
def test_an_answer_that_is_not_an_instance_state_is_an_error(body, said):
    with FakeDocker(say(http(body))) as daemon, pytest.raises(HostStateError, match=said):
        ask(daemon)


def test_a_status_from_the_daemon_is_shown_only_when_it_is_a_word():
    body = _state("Stopped\\u001b[2J", 102, 0)
    with FakeDocker(say(http(body))) as daemon:
        assert ask(daemon).summary() == "lxd: instance web is not running (status: unknown)"


def test_running_without_the_running_code_is_not_running(monkeypatch):
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: True)
    with FakeDocker(say(http(_state("Running", 102, os.getpid())))) as daemon:
        assert ask(daemon).candidates == []


def test_a_silent_or_trickling_daemon_ends_at_the_deadline(monkeypatch):
    monkeypatch.setattr(lxd, "TIMEOUT_S", 0.5)
    for answer in (hold(), trickle(running(1), 0.05)):
        start = time.monotonic()
        with FakeDocker(answer) as daemon, pytest.raises(HostStateError, match=r"within 0\.5 s"):
            ask(daemon)
        assert time.monotonic() - start < 3


def test_a_socket_nobody_listens_on_is_a_daemon_not_reachable(tmp_path):
    import socket

    path = str(tmp_path / "lxd.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(path)  # bound, never listening: connect() is refused
        os.environ["LXD_SOCKET"] = path
        finding = lxd.find(lxd.RESOLVER, "web")
    assert finding.summary().startswith(f"lxd: daemon not reachable at {path} (")


def test_no_socket_at_all_says_where_it_looked(tmp_path):
    class Nowhere(lxd.LxdResolver):
        sockets = (str(tmp_path / "a.sock"), str(tmp_path / "b.sock"))

    finding = lxd.find(Nowhere(), "web")
    assert finding.summary() == (
        f"lxd: daemon not running (no socket at {tmp_path}/a.sock or {tmp_path}/b.sock)"
    )


def test_the_socket_is_found_as_the_daemons_own_client_finds_it(tmp_path):
    present = tmp_path / "lxd.sock"
    present.touch()

    class Here(lxd.LxdResolver):
        sockets = (str(tmp_path / "snap.sock"), str(present))

    here = Here()
    assert lxd.socket_path(here, {}) == (str(present), False)
    assert lxd.socket_path(here, {"LXD_DIR": "/srv/lxd"}) == ("/srv/lxd/unix.socket", True)
    both = {"LXD_DIR": "/srv/lxd", "LXD_SOCKET": "/srv/s"}
    assert lxd.socket_path(here, both) == ("/srv/s", True)
    assert lxd.socket_path(incus.RESOLVER, {"LXD_SOCKET": "/srv/s", "INCUS_DIR": "/i"}) == (
        "/i/unix.socket",
        True,
    )


def test_incus_is_the_same_code_on_its_own_socket_and_words(monkeypatch):
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: True)
    with FakeDocker(say(running(os.getpid()))) as daemon:
        finding = ask(daemon, runtime=incus.RESOLVER)
    (cand,) = finding.candidates
    assert (cand.runtime, cand.name) == ("incus", "web")
    assert cand.detail.startswith(f"Incus API at {daemon.path}: ")
    with FakeDocker(say(running("-5"))) as daemon, pytest.raises(HostStateError) as err:
        ask(daemon, runtime=incus.RESOLVER)
    assert "ask the Incus daemon" in str(err.value)
    assert "INCUS_SOCKET" in (err.value.hint or "")


def test_the_prefixes_parse_and_their_names_are_checked():
    assert parse_guest_ref("lxd:web").kind == "lxd"
    assert parse_guest_ref("incus:web-2").kind == "incus"
    assert parse_guest_ref("lxd:pwt-p/web").value == "pwt-p/web"
    for bad in ("lxd:../etc", "lxd:a?b", "incus:a/b/c", "lxd:", "incus:-x", "lxd:/web", "a/b"):
        with pytest.raises(UsageError):
            parse_guest_ref(bad)


def test_a_bare_name_asks_lxd_and_incus_only_where_they_left_a_trace(monkeypatch, tmp_path):
    import sys

    from pipework import guests
    from pipework.guests.base import Finding

    assert "/var/lib/lxd" in guests.RUNTIME_TRACES["lxd"]
    assert "/var/lib/incus" in guests.RUNTIME_TRACES["incus"]
    monkeypatch.setitem(guests.RUNTIME_TRACES, "incus", (str(tmp_path / "incus"),))
    monkeypatch.delitem(sys.modules, "pipework.guests.incus")
    findings: list[Finding] = []
    assert guests._present("incus", findings) is False
    assert "pipework.guests.incus" not in sys.modules
    (tmp_path / "incus").mkdir()
    assert guests._present("incus", findings) is True


@pytest.mark.parametrize("name", ["web_1", "1web", "web-", "a.b", "x@y", "a" * 64, "4242"])
def test_a_name_no_instance_can_have_is_not_asked_of_the_daemon(name):
    # as LXD 5.0 refuses them: "Name can only contain alphanumeric and hyphen characters",
    # "must not start with a number", 'must not end with "-"'; 63 at most (a host name)
    with FakeDocker(say(STOPPED)) as daemon:
        finding = ask(daemon, name)
    assert daemon.requests == []
    assert finding.summary() == (
        f"lxd: {name} cannot be an instance name (a letter, then letters, digits, -)"
    )
    assert lxd.is_instance_name("w") and lxd.is_instance_name("Web-2-" + "a" * 57)


def test_another_projects_instance_is_asked_in_that_project(monkeypatch):
    checked = []
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: checked.append(check) or True)
    with FakeDocker(say(running(os.getpid()))) as daemon:
        (cand,) = ask(daemon, "pwt+p/web").candidates
    request = daemon.requests[0]
    assert request.startswith(b"GET /1.0/instances/web/state?project=pwt%2Bp HTTP/1.0\r\n")
    assert checked == ["pwt+p_web"], "LXC names another project's container PROJECT_NAME"
    assert (cand.name, cand.check) == ("pwt+p/web", "pwt+p_web")


def test_the_default_project_is_the_plain_name(monkeypatch):
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: check == "web")
    with FakeDocker(say(running(os.getpid()))) as daemon:
        (cand,) = ask(daemon, "default/web").candidates
    assert daemon.requests[0].startswith(b"GET /1.0/instances/web/state HTTP/1.0\r\n")
    assert cand.name == "web"


def test_an_unknown_name_in_a_project_says_which_project():
    with FakeDocker(say(NOT_FOUND)) as daemon:
        assert ask(daemon, "pwt-p/web").summary() == "lxd: no instance web in project pwt-p"


def test_a_project_name_lxd_refuses_is_not_asked():
    # LXD: "Project names may not contain underscores" (they join it to the name)
    with FakeDocker(say(STOPPED)) as daemon:
        assert ask(daemon, "a_b/web").summary() == "lxd: a_b cannot be a project name"
    assert daemon.requests == []


def _cgroup_file(tmp_path, pid: int, text: str) -> str:
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "cgroup").write_text(text)
    return str(tmp_path)


@pytest.mark.parametrize(
    ("text", "inside"),
    [
        ("0::/lxc.payload.web\n", True),
        ("0::/lxc.payload.web/init.scope\n", True),  # a systemd container's init
        ("4:memory:/lxc.payload.web\n1:cpu:/lxc.payload.web\n0::/lxc.payload.web\n", True),
        ("0::/lxc.payload/web\n", True),  # LXC 3.1
        ("0::/lxc.payload.web2\n", False),
        ("0::/lxc.monitor.web\n", False),  # the monitor is in the host's namespace
        ("0::/lxc.payload.evil/lxc.payload.web\n", False),  # made by evil's root
        ("0::/user.slice/lxc.payload.web\n", False),
        ("0::/\n", False),
    ],
)
def test_a_pid_counts_only_in_the_payload_cgroup_at_the_top(monkeypatch, tmp_path, text, inside):
    from pipework.guests import cgroup

    proc = _cgroup_file(tmp_path, 4242, text)
    real = cgroup.pid_in_cgroup
    monkeypatch.setattr(cgroup, "pid_in_cgroup", lambda pid, rel: real(pid, rel, proc=proc))
    assert lxd.in_container(4242, "web") is inside
    assert lxd.RESOLVER.still_in_container(4242, "web") is inside


def test_an_endless_or_oversized_answer_ends_at_the_byte_budget():
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{"
    for answer in (say(huge), endless(CHUNKED_HEAD, b"10000\r\n" + b" " * 65536 + b"\r\n")):
        with FakeDocker(answer) as daemon, pytest.raises(HostStateError, match="byte budget"):
            ask(daemon)
