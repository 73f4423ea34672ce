"""A broken or hostile Docker daemon, end to end: the ``pipework`` command against a
fake daemon (``DOCKER_HOST=unix://…``) and a real bridge.

Each case must end at once with exit 1, one line naming the step, and the host as
it was: no veth, nothing on the bridge (and the autouse snapshot: no link, address
or route changed). The unit suite (tests/unit/test_hostile_docker.py) has every
kind of broken answer, the slow ones included; these are the ones that must also
hold for the installed command attaching to a real bridge.
"""

from __future__ import annotations

import time

import pytest

from unit.fake_docker import CHUNKED_HEAD, CID, Answer, FakeDocker, http, say

from .conftest import ip_json, pipework, unique


def _ports(bridge: str) -> list[str]:
    return [str(entry["ifname"]) for entry in ip_json("link", "show", "master", bridge)]


def _veths() -> list[str]:
    return [str(e["ifname"]) for e in ip_json("link", "show", "type", "veth")]


CASES: list[tuple[str, Answer, str]] = [
    ("garbage", say(b"SSH-2.0-OpenSSH_9.2\r\n"), "not an HTTP response"),
    ("a negative chunk size", say(CHUNKED_HEAD + b"-6\r\nabcdef\r\n0\r\n\r\n"), "chunk size"),
    ("JSON nested 100000 deep", say(http(b"[" * 100000 + b"]" * 100000)), "nested deeper"),
]


@pytest.mark.parametrize(("answer", "wrong"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_broken_daemon_fails_the_attach_cleanly(make_bridge, answer, wrong):
    br = make_bridge()
    name = unique("pwtweb")
    veths = _veths()
    with FakeDocker(answer) as daemon:
        start = time.monotonic()
        res = pipework(
            br, name, "192.0.2.10/24", env={"DOCKER_HOST": f"unix://{daemon.path}"}, timeout=20
        )
        took = time.monotonic() - start
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.endswith("\n")
    assert res.stderr.startswith(
        f"pipework: ask the Docker daemon at {daemon.path} for container {name}: "
    )
    assert wrong in res.stderr and "DOCKER_HOST" in res.stderr
    assert took < 10
    assert _ports(br) == [] and _veths() == veths


def test_a_daemon_cannot_point_pipework_at_a_process_outside_the_container(
    make_bridge, make_netns, spawn
):
    """It says the container runs as some process of the host's choosing; the process
    is not in a cgroup of that container ID, so nothing is attached to it."""
    ns = make_netns()
    proc = spawn("ip", "netns", "exec", ns, "sleep", "600")
    time.sleep(0.2)  # let ip exec sleep in the netns
    br = make_bridge()
    name = unique("pwtweb")
    state = f'{{"Status": "running", "Running": true, "Pid": {proc.pid}}}'
    inspect = http(f'{{"Id": "{CID}", "Name": "/{name}", "State": {state}}}'.encode())
    with FakeDocker(say(inspect)) as daemon:
        res = pipework(br, name, "192.0.2.10/24", env={"DOCKER_HOST": f"unix://{daemon.path}"})
    assert res.returncode == 1, res.stderr
    assert res.stderr.count("\n") == 1
    assert f"pid {proc.pid} no longer belongs to it" in res.stderr
    assert _ports(br) == []
    assert [e["ifname"] for e in ip_json("link", "show", netns=ns)] == ["lo"]


def test_escape_sequences_in_a_container_name_reach_no_terminal(make_bridge):
    br = make_bridge()
    name = unique("pwtweb")
    hostile = '{"Status": "\\u001b]0;pwned\\u0007exited", "Running": false, "Pid": 0}'
    inspect = http(
        f'{{"Id": "{CID}", "Name": "/\\u001b[31m{name}\\r", "State": {hostile}}}'.encode()
    )
    with FakeDocker(say(inspect)) as daemon:
        res = pipework(br, name, "192.0.2.10/24", env={"DOCKER_HOST": f"unix://{daemon.path}"})
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1
    assert not any(ch in res.stderr for ch in "\x1b\x07\r")
    assert f"container {name} ({CID[:12]}) is not running" in res.stderr
    assert "\\x1b]0;pwned\\x07exited" in res.stderr
    assert _ports(br) == []
