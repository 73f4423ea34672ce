"""The LXD and Incus resolvers against a recorded API exchange, and against liars.

The answers below are what Debian 12's LXD 5.0.2 sent for ``GET /1.0/instances/NAME``
and ``GET /1.0/instances/NAME/state`` (a running container, a stopped one, an
unknown name; the long fields trimmed), served by the fake daemon of
``fake_docker`` (it answers whatever a case says), by path. The real daemon is in
tests/integration/test_runtime_lxd.py. A pid from the daemon is taken only when it
is a process of the container's LXC payload cgroup: the pid of this test process is
not, so a state naming it is the case of a daemon that lies.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pipework.errors import HostStateError, UsageError
from pipework.guests import cgroup, incus, lxd
from pipework.names import parse_guest_ref

from .fake_docker import (
    CHUNKED_HEAD,
    Answer,
    FakeDocker,
    endless,
    hold,
    http,
    say,
    trickle,
)

_HEADERS = "Date: Sat, 05 Dec 2026 06:43:58 GMT\r\n"
_SYNC = '{"type":"sync","status":"Success","status_code":200,"operation":"","error_code":0,'


def _instance(status: str, code: int, kind: str = "container") -> bytes:
    return http(
        (
            f'{_SYNC}"error":"","metadata":{{"architecture":"x86_64","config":{{}},'
            '"devices":{},"ephemeral":false,"profiles":[],"stateful":false,"description":"",'
            '"created_at":"2026-12-05T06:59:57.100990826Z","expanded_config":{},'
            f'"expanded_devices":{{}},"name":"web","status":"{status}","status_code":{code},'
            '"last_used_at":"2026-12-05T06:59:57.273690535Z","location":"none",'
            f'"type":"{kind}","project":"default"}}}}'
        ).encode(),
        headers=_HEADERS,
    )


def _state(status: str, code: int, pid: int | str) -> bytes:
    return http(
        (
            f'{_SYNC}"error":"","metadata":{{"status":"{status}","status_code":{code},'
            '"disk":{},"memory":{"usage":319488,"usage_peak":1150976,"swap_usage":0,'
            f'"swap_usage_peak":0}},"network":null,"pid":{pid},"processes":2,'
            '"cpu":{"usage":9118169}}}'
        ).encode(),
        headers=_HEADERS,
    )


RUNNING = _instance("Running", 103)
STOPPED = _instance("Stopped", 102)
NOT_FOUND = http(
    b'{"type":"error","status":"","status_code":0,"operation":"","error_code":404,'
    b'"error":"Instance not found","metadata":null}',
    "404 Not Found",
    "X-Content-Type-Options: nosniff\r\n" + _HEADERS,
)


def state(pid: int | str) -> bytes:
    return _state("Running", 103, pid)


def lxd_daemon(instance: Answer | bytes, state: Answer | bytes | None = None) -> FakeDocker:
    """A fake daemon answering ``instance`` to GET /1.0/instances/NAME, ``state`` to
    GET /1.0/instances/NAME/state (each bytes at once, or any answer of fake_docker)."""
    answers = [say(a) if isinstance(a, bytes) else a for a in (instance, state or b"")]
    daemon = FakeDocker(answers[0])

    def route(conn: socket.socket, stop: threading.Event) -> None:
        line = daemon.requests[-1].split(b"\r\n", 1)[0]
        answers[b"/state" in line](conn, stop)

    daemon.answer = route
    return daemon


_VARS = ("LXD_SOCKET", "LXD_DIR", "INCUS_SOCKET", "INCUS_DIR")


@pytest.fixture(autouse=True)
def _no_environment() -> Iterator[None]:
    """No socket named by the environment, but the one a case sets (removed after)."""
    saved = {var: os.environ.pop(var) for var in _VARS if var in os.environ}
    yield
    for var in _VARS:
        os.environ.pop(var, None)
    os.environ.update(saved)


@pytest.fixture
def no_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process sees no payload cgroup: the daemon's state is asked for the pid."""
    monkeypatch.setattr(lxd, "init_pid", lambda lxc_name: None)


def ask(daemon: FakeDocker, name: str = "web", runtime: lxd.LxdResolver = lxd.RESOLVER):
    os.environ[runtime.env_socket] = daemon.path  # removed by the fixture
    return lxd.find(runtime, name)


def paths(daemon: FakeDocker) -> list[bytes]:
    return [r.split(b"\r\n", 1)[0] for r in daemon.requests]


def test_a_running_container_takes_its_init_pid_from_the_kernel(monkeypatch):
    monkeypatch.setattr(lxd, "init_pid", lambda name: os.getpid() if name == "web" else None)
    with lxd_daemon(RUNNING) as daemon:
        finding = ask(daemon)
    assert paths(daemon) == [b"GET /1.0/instances/web HTTP/1.0"], "the slow /state is not asked"
    (cand,) = finding.candidates
    assert (cand.runtime, cand.name, cand.pid) == ("lxd", "web", os.getpid())
    assert cand.ns_path == f"/proc/{os.getpid()}/ns/net"
    assert cand.check == "web", "the payload cgroup is checked again after pinning"
    assert cand.detail == (
        f"LXD API at {daemon.path}: container web Running; init pid {os.getpid()} "
        "from cgroup lxc.payload.web"
    )


def test_the_init_is_the_first_process_of_the_payload_cgroup_at_the_top(monkeypatch, tmp_path):
    for rel, pid in [
        ("lxc.payload.web", os.getpid()),
        ("lxc.monitor.web", 1),  # older, but the monitor: the host's namespace
        ("lxc.payload.evil/lxc.payload.other", 1),  # made by evil's root, not at the top
    ]:
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "cgroup.procs").write_text(f"{pid}\n")
    mounts = [cgroup.CgroupMount(str(tmp_path), 2, ())]
    monkeypatch.setattr(cgroup, "standard_mounts", lambda: mounts)
    assert lxd.init_pid("web") == os.getpid()
    assert lxd.init_pid("other") is None
    assert lxd.init_pid("nope") is None


def test_without_the_cgroup_the_daemons_state_gives_the_pid(monkeypatch, no_cgroup):
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: check == "web")
    with lxd_daemon(RUNNING, state(os.getpid())) as daemon:
        (cand,) = ask(daemon).candidates
    assert paths(daemon) == [
        b"GET /1.0/instances/web HTTP/1.0",
        b"GET /1.0/instances/web/state HTTP/1.0",
    ]
    assert cand.pid == os.getpid()
    assert cand.detail.endswith(f"init pid {os.getpid()} from the daemon's state")


def test_a_state_pid_outside_the_containers_cgroup_is_refused(no_cgroup):
    # This process is in no lxc.payload.web: a daemon that lies.
    with lxd_daemon(RUNNING, state(os.getpid())) as daemon:
        finding = ask(daemon)
    assert finding.candidates == []
    assert finding.summary() == (
        f"lxd: instance web: the daemon's pid {os.getpid()} is not in the container's "
        "cgroup lxc.payload.web"
    )


def test_the_hosts_init_is_never_a_containers_process(no_cgroup):
    with lxd_daemon(RUNNING, state(1)) as daemon:
        assert ask(daemon).candidates == []


def test_a_virtual_machine_is_not_plumbed():
    # its state's pid would be its qemu, a process of the host's network namespace
    with lxd_daemon(_instance("Running", 103, "virtual-machine")) as daemon:
        finding = ask(daemon)
    assert finding.summary() == (
        "lxd: instance web is a virtual-machine, not a container: pipework plumbs containers"
    )
    assert len(daemon.requests) == 1


def test_a_stopped_container_says_so():
    with lxd_daemon(STOPPED) as daemon:
        finding = ask(daemon)
    assert finding.candidates == []
    assert finding.summary() == "lxd: instance web is not running (status: Stopped)"


def test_an_unknown_name_is_not_found():
    with lxd_daemon(NOT_FOUND) as daemon:
        assert ask(daemon).summary() == "lxd: no instance web"


def test_a_refusal_is_reported_in_the_daemons_words():
    body = b'{"type":"error","error_code":403,"error":"not authorized","metadata":null}'
    with lxd_daemon(http(body, "403 Forbidden")) as daemon:
        assert ask(daemon).summary() == "lxd: daemon answered HTTP 403: not authorized"


@pytest.mark.parametrize("pid", ["-1", str(1 << 22), '"42"', "true", "4.5", "null"])
def test_a_pid_that_is_no_pid_is_an_error_naming_the_daemon(pid, no_cgroup):
    with lxd_daemon(RUNNING, state(pid)) as daemon, pytest.raises(HostStateError) as err:
        ask(daemon)
    assert f"ask the LXD daemon at {daemon.path} for instance web: the answer has no valid pid" in (
        str(err.value)
    )
    assert "LXD_SOCKET" in (err.value.hint or "")


def test_no_pid_yet_is_a_container_starting(no_cgroup):
    with lxd_daemon(RUNNING, state(0)) as daemon:
        assert ask(daemon).summary() == (
            "lxd: instance web is running but has no process yet (starting?)"
        )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html>", "not valid JSON"),
        (b'{"type":"async","metadata":{"pid":1}}', "not a synchronous API response"),
        (b"[1, 2]", "not a synchronous API response"),
        (b'{"type":"sync","metadata":null}', "no metadata"),
    ],
)
def test_an_answer_that_is_not_an_instance_is_an_error(body, said):
    with lxd_daemon(http(body)) as daemon, pytest.raises(HostStateError, match=said):
        ask(daemon)


def test_a_status_from_the_daemon_is_shown_only_when_it_is_a_word():
    with lxd_daemon(_instance("Stopped\\u001b[2J", 102)) as daemon:
        assert ask(daemon).summary() == "lxd: instance web is not running (status: unknown)"


def test_running_without_the_running_code_is_not_running(monkeypatch):
    monkeypatch.setattr(lxd, "init_pid", lambda name: os.getpid())
    with lxd_daemon(_instance("Running", 102)) as daemon:
        assert ask(daemon).candidates == []


def test_a_silent_or_trickling_daemon_ends_at_the_deadline(monkeypatch, no_cgroup):
    monkeypatch.setattr(lxd, "TIMEOUT_S", 0.5)
    for answers in ((hold(),), (trickle(RUNNING, 0.05),), (RUNNING, hold())):
        start = time.monotonic()
        with lxd_daemon(*answers) as daemon, pytest.raises(HostStateError, match=r"within 0\.5 s"):
            ask(daemon)
        assert time.monotonic() - start < 3


def test_an_endless_or_oversized_answer_ends_at_the_byte_budget():
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{"
    for answer in (say(huge), endless(CHUNKED_HEAD, b"10000\r\n" + b" " * 65536 + b"\r\n")):
        with lxd_daemon(answer) as daemon, pytest.raises(HostStateError, match="byte budget"):
            ask(daemon)


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
    monkeypatch.setattr(lxd, "init_pid", lambda name: os.getpid())
    with lxd_daemon(RUNNING) as daemon:
        finding = ask(daemon, runtime=incus.RESOLVER)
    (cand,) = finding.candidates
    assert (cand.runtime, cand.name) == ("incus", "web")
    assert cand.detail.startswith(f"Incus API at {daemon.path}: ")
    monkeypatch.setattr(lxd, "init_pid", lambda name: None)
    with lxd_daemon(RUNNING, state("-5")) as daemon, pytest.raises(HostStateError) as err:
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
    monkeypatch.setattr(lxd, "init_pid", checked.append)  # returns None: ask the state
    monkeypatch.setattr(lxd, "in_container", lambda pid, check: checked.append(check) or True)
    with lxd_daemon(RUNNING, state(os.getpid())) as daemon:
        (cand,) = ask(daemon, "pwt+p/web").candidates
    assert paths(daemon) == [
        b"GET /1.0/instances/web?project=pwt%2Bp HTTP/1.0",
        b"GET /1.0/instances/web/state?project=pwt%2Bp HTTP/1.0",
    ]
    # LXC names another project's container PROJECT_NAME
    assert checked == ["pwt+p_web", "pwt+p_web"]
    assert (cand.name, cand.check) == ("pwt+p/web", "pwt+p_web")


def test_the_default_project_is_the_plain_name(monkeypatch):
    monkeypatch.setattr(lxd, "init_pid", lambda name: os.getpid() if name == "web" else None)
    with lxd_daemon(RUNNING) as daemon:
        (cand,) = ask(daemon, "default/web").candidates
    assert paths(daemon) == [b"GET /1.0/instances/web HTTP/1.0"]
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
