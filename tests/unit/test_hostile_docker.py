"""A broken or hostile Docker daemon can neither hang pipework nor crash it.

A fake daemon (``fake_docker``) answers on a unix socket with whatever a case
says: garbage, broken chunked framing, a body trickled a byte at a time, an
endless stream, nesting 100000 deep, escape sequences in names. pipework runs as
a separate process, as a user runs it (``DOCKER_HOST=unix://…``, with its overall
deadline shortened to one second and its address space capped), so that a
regression fails the test instead of hanging or swapping the machine. Each case
must end within a bound, with exit 1 and one line that names the step, the socket,
what went wrong and what to try; never a traceback, never exit 70.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipework._lowlevel import jsonlite, unixhttp

from .fake_docker import (
    CHUNKED_HEAD,
    CID,
    Answer,
    FakeDocker,
    endless,
    hold,
    http,
    say,
    trickle,
)

DEADLINE_S = 1.0
#: what a run may take at most, start-up included: a guard against hangs, not a benchmark
BOUND_S = 3 * DEADLINE_S + 2

_CLIENT = r"""
import resource, sys
# a regression that eats memory ends here, not in the machine's swap
resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
import pipework.guests.docker as docker
docker.TIMEOUT_S = float(sys.argv[1])
from pipework.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def run_pipework(daemon: FakeDocker, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-c", _CLIENT, str(DEADLINE_S), *args],
        capture_output=True,
        text=True,
        env={
            "DOCKER_HOST": f"unix://{daemon.path}",
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            # (to run these cases against another tree of pipework)
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
        timeout=30,
        check=False,
    )
    return res, time.monotonic() - start


def assert_one_clear_line(res: subprocess.CompletedProcess[str], daemon: FakeDocker) -> str:
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith(f"pipework: ask the Docker daemon at {daemon.path} for container web: ")
    assert "DOCKER_HOST" in line  # what to try
    assert line.isprintable()
    return line


def ok_inspect(name: str = "/web", status: str = "exited") -> bytes:
    state = f'{{"Status": "{status}", "Running": false, "Pid": 0}}'
    body = f'{{"Id": "{CID}", "Name": "{name}", "State": {state}}}'.encode()
    return http(body)


#: (case, what the daemon answers, what the message says went wrong)
IMMEDIATE: list[tuple[str, Answer, str]] = [
    ("garbage bytes", say(b"\x00\xffSSH-2.0-OpenSSH_9.2\r\n\x1b[2J"), "not an HTTP response"),
    ("a status line without a code", say(b"HTTP/1.1 OK\r\n\r\n{}"), "malformed status line"),
    ("a status code of letters", say(b"HTTP/1.1 2x0 OK\r\n\r\n{}"), "malformed status line"),
    ("closed without a byte", say(b""), "closed the connection without answering"),
    ("closed in the headers", say(b"HTTP/1.1 200 OK\r\nContent-"), "closed the connection"),
    (
        "headers that never end",
        endless(b"HTTP/1.1 200 OK\r\n", b"X-Pad: " + b"p" * 100 + b"\r\n"),
        "headers longer than",
    ),
    (
        "a chunk size of 2**72",
        say(CHUNKED_HEAD + b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
        "chunk size",
    ),
    ("a negative chunk size", say(CHUNKED_HEAD + b"-6\r\nabcdef\r\n0\r\n\r\n"), "chunk size"),
    ("a chunk size that is not hex", say(CHUNKED_HEAD + b"zz\r\nab\r\n0\r\n\r\n"), "chunk size"),
    ("a chunk size with 0x", say(CHUNKED_HEAD + b"0x2\r\nab\r\n0\r\n\r\n"), "chunk size"),
    ("an empty chunk size", say(CHUNKED_HEAD + b"\r\nab\r\n0\r\n\r\n"), "chunk size"),
    (
        "chunk data not followed by CRLF",
        say(CHUNKED_HEAD + b"2\r\n{}xx0\r\n\r\n"),
        "not followed by CRLF",
    ),
    ("no last chunk", say(CHUNKED_HEAD + b"2\r\n{}\r\n"), "closed the connection"),
    (
        "more chunks than the byte budget",
        endless(CHUNKED_HEAD, b"1000\r\n" + b" " * 0x1000 + b"\r\n"),
        "more than 16 MiB",
    ),
    (
        "an endless stream, fast",
        endless(b"HTTP/1.1 200 OK\r\n\r\n", b"[" * 65536),
        "more than 16 MiB",
    ),
    (
        "a Content-Length beyond the budget",
        say(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}"),
        "Content-Length",
    ),
    (
        "a Content-Length that is not a number",
        say(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}"),
        "Content-Length",
    ),
    (
        "a transfer coding other than chunked",
        say(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        "transfer coding",
    ),
    ("JSON nested 100000 deep", say(http(b"[" * 100000 + b"]" * 100000)), "nested deeper"),
    ("an object nested 100000 deep", say(http(b'{"a":' * 100000 + b"}" * 100000)), "nested"),
    ("a body that is not JSON", say(http(b"<html>nope</html>")), "not valid JSON"),
    ("JSON that is not an object", say(http(b"[1, 2]")), "not a container's description"),
    ("a container without an Id", say(http(b'{"Name": "/web"}')), "no valid container Id"),
    ("an Id that is not hex", say(http(b'{"Id": "/", "Name": "/web"}')), "no valid container Id"),
]


@pytest.mark.parametrize(
    ("answer", "wrong"), [c[1:] for c in IMMEDIATE], ids=[c[0] for c in IMMEDIATE]
)
def test_a_broken_answer_is_one_clear_line_and_exit_1(answer: Answer, wrong: str) -> None:
    with FakeDocker(answer) as daemon:
        res, took = run_pipework(daemon, "inspect", "docker:web")
    line = assert_one_clear_line(res, daemon)
    assert wrong in line
    assert took < BOUND_S


SLOW: list[tuple[str, Answer]] = [
    ("a whole answer trickled a byte every 0.2 s", trickle(ok_inspect(), 0.2)),
    ("a chunked answer trickled", trickle(CHUNKED_HEAD + b"2\r\n{}\r\n0\r\n\r\n", 0.2)),
    ("an endless slow stream", endless(b"HTTP/1.1 200 OK\r\n\r\n", b"[" * 10, 0.05)),
    ("endless small chunks", endless(CHUNKED_HEAD, b"1\r\n \r\n", 0.05)),
    ("silence after connecting", hold()),
    ("headers that stop coming", hold(b"HTTP/1.1 200 OK\r\nContent-Type: appl")),
]


@pytest.mark.parametrize("answer", [c[1] for c in SLOW], ids=[c[0] for c in SLOW])
def test_a_slow_answer_ends_at_the_one_overall_deadline(answer: Answer) -> None:
    with FakeDocker(answer) as daemon:
        res, took = run_pipework(daemon, "inspect", "docker:web")
    line = assert_one_clear_line(res, daemon)
    assert f"no complete answer within {DEADLINE_S:g} s" in line
    assert DEADLINE_S <= took < BOUND_S


def test_escape_sequences_from_the_daemon_never_reach_the_terminal() -> None:
    hostile = "/\\u001b[31mweb\\u001b]0;pwned\\u0007\\r\\u009b2J"
    inspect = ok_inspect(name=hostile, status="\\u001b[2Jexited\\r")
    with FakeDocker(say(inspect)) as daemon:
        res, _ = run_pipework(daemon, "inspect", "docker:web")
        res_json, _ = run_pipework(daemon, "inspect", "--json", "docker:web")
        legacy, _ = run_pipework(daemon, "brpwtnone0", "docker:web", "192.0.2.10/24")
    for out in (res.stdout, res.stderr, res_json.stdout, legacy.stderr):
        assert not any(ch in out for ch in "\x1b\x07\r\x9b"), repr(out)
    assert "\\x1b[2Jexited" in res.stdout
    assert res.returncode == 1 and legacy.returncode == 1
    assert "container web" in legacy.stderr and "not running" in legacy.stderr
    assert len(legacy.stderr.splitlines()) == 1


def test_an_error_message_from_the_daemon_is_escaped() -> None:
    body = b'{"message": "\\u001b[31mno such thing\\u001b[0m\\r"}'
    with FakeDocker(say(http(body, "500 Internal Server Error"))) as daemon:
        res, _ = run_pipework(daemon, "brpwtnone0", "docker:web", "192.0.2.10/24")
    assert res.returncode == 1
    assert "\x1b" not in res.stderr and "\r" not in res.stderr
    assert "\\x1b[31mno such thing" in res.stderr
    assert len(res.stderr.splitlines()) == 1


# --- the pieces, in this process ---------------------------------------------------


def test_the_byte_budget_bounds_memory_too() -> None:
    import tracemalloc

    with FakeDocker(endless(b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 65536)) as daemon:
        tracemalloc.start()
        try:
            with pytest.raises(unixhttp.ResponseError, match="more than 1 MiB"):
                unixhttp.get(daemon.path, "/x", timeout=5, max_bytes=1 << 20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 4 << 20


def test_a_well_formed_chunked_answer_is_read_whole() -> None:
    body = CHUNKED_HEAD + b'3;ext=1\r\n{"a\r\nA\r\n": [1, 2]}\r\n0\r\nX-Trailer: y\r\n\r\n'
    with FakeDocker(say(body)) as daemon:
        resp = unixhttp.get(daemon.path, "/x", timeout=5)
    assert resp.status == 200
    assert jsonlite.loads(resp.body) == {"a": [1, 2]}


def test_an_answer_is_read_to_its_length_without_waiting_for_the_close() -> None:
    with FakeDocker(endless(http(b'{"a": 1}'), b"", 0.05)) as daemon:
        start = time.monotonic()
        resp = unixhttp.get(daemon.path, "/x", timeout=5)
    assert jsonlite.loads(resp.body) == {"a": 1}
    assert time.monotonic() - start < 2


def test_nesting_is_refused_at_a_fixed_depth() -> None:
    assert jsonlite.loads("[" * 512 + "]" * 512) is not None
    with pytest.raises(ValueError, match="nested deeper than 512"):
        jsonlite.loads("[" * 513 + "]" * 513)
    # brackets inside strings are text, not nesting; escaped quotes do not end strings
    text = '["' + "[{" * 5000 + '\\"\\\\", ' + "[" * 500 + "]" * 500 + "]"
    assert jsonlite.loads(text)[0] == "[{" * 5000 + '"\\'
