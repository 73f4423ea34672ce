"""The Docker source of ``pipework watch`` without a daemon: the event stream's parser
against handwritten and recorded bytes (split anywhere, bounded, malformed), the
guests a start event names, and the declarations of a recorded inspect answer
(labels, ``pipework_cmd*`` variables and their macros). A few cases run the source
against the fake daemon of the hostile tests, over a real unix socket.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import pytest

from pipework.names import GuestRef
from pipework.watch import docker
from pipework.watch.declare import BadDeclaration, Declaration
from pipework.watch.docker import DockerSource, EventParser, declarations_of, started
from pipework.watch.source import SourceLost

from .fake_docker import CHUNKED_HEAD, Answer, FakeDocker, endless, hold, http, say

CID = "3f4e8d2a9b1c" + "0123456789abcdef" * 3 + "cafe"
CID2 = "9" * 64

#: an event as Docker 20.10 (API 1.41) writes it for `docker start`, one line
START = {
    "status": "start",
    "id": CID,
    "from": "pwt-busybox:test",
    "Type": "container",
    "Action": "start",
    "Actor": {
        "ID": CID,
        "Attributes": {
            "image": "pwt-busybox:test",
            "name": "web_3",
            "pipework.attach": "brpwt0 198.51.100.7/24",
        },
    },
    "scope": "local",
    "time": 1764924000,
    "timeNano": 1764924000123456789,
}


def event_line(event: dict[str, object]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def start_of(cid: str, name: str) -> dict[str, object]:
    return {**START, "id": cid, "Actor": {"ID": cid, "Attributes": {"name": name}}}


STREAM = CHUNKED_HEAD + chunk(event_line(START)) + chunk(event_line(start_of(CID2, "db")))


def feed_all(parser: EventParser, pieces: list[bytes]) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events


# ------------------------------------------------------------------ the parser


def test_the_events_of_a_chunked_stream_come_out_in_order() -> None:
    events = EventParser().feed(STREAM)
    assert [e["id"] for e in events] == [CID, CID2]


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_stream_split_anywhere_gives_the_same_events(cut: int) -> None:
    parser = EventParser()
    events = feed_all(parser, [STREAM[:cut], STREAM[cut:]])
    assert [e["id"] for e in events] == [CID, CID2]


def test_a_stream_fed_a_byte_at_a_time_gives_each_event_once_it_is_whole() -> None:
    parser = EventParser()
    seen_at = []
    for i in range(len(STREAM)):
        if parser.feed(STREAM[i : i + 1]):
            seen_at.append(i)
    # each event is out as soon as its newline is in (before its chunk's CRLF)
    first_end = len(CHUNKED_HEAD) + len(b"%x\r\n" % len(event_line(START))) + len(event_line(START))
    assert seen_at[0] == first_end - 1
    assert len(seen_at) == 2


def test_several_events_in_one_chunk() -> None:
    body = event_line(START) + event_line(start_of(CID2, "db")) + event_line(START)
    events = EventParser().feed(CHUNKED_HEAD + chunk(body))
    assert [e["id"] for e in events] == [CID, CID2, CID]


def test_an_event_split_over_chunks() -> None:
    line = event_line(START)
    data = CHUNKED_HEAD + chunk(line[:10]) + chunk(line[10:50]) + chunk(line[50:])
    parser = EventParser()
    assert parser.feed(data[: len(data) - len(chunk(line[50:]))]) == []
    assert [e["id"] for e in parser.feed(chunk(line[50:]))] == [CID]


def test_chunk_extensions_and_blank_lines_are_ignored() -> None:
    data = CHUNKED_HEAD + b"%x;name=value\r\n" % (len(event_line(START)) + 1)
    data += b"\n" + event_line(START) + b"\r\n"
    assert [e["id"] for e in EventParser().feed(data)] == [CID]


def test_a_stream_without_chunks_is_read_until_it_closes() -> None:
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
    events = EventParser().feed(head + event_line(START) + event_line(START))
    assert len(events) == 2


def test_the_head_alone_gives_no_event_and_marks_the_head_done() -> None:
    parser = EventParser()
    assert parser.feed(CHUNKED_HEAD[:-1]) == [] and not parser.head_done
    assert parser.feed(CHUNKED_HEAD[-1:]) == [] and parser.head_done


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"),
        (b"HTTP/1.1 OK\r\n\r\n", "malformed status line"),
        (b'HTTP/1.1 500 Internal Server Error\r\n\r\n{"message":"x"}', "500 Internal"),
        (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported transfer coding"),
        (CHUNKED_HEAD + b"zz\r\n", "malformed chunk size"),
        (CHUNKED_HEAD + b"\r\n", "malformed chunk size"),
        (CHUNKED_HEAD + b"123456789\r\n", "malformed chunk size"),
        (CHUNKED_HEAD + b"2\r\n{}XX", "not followed by CRLF"),
        (CHUNKED_HEAD + chunk(b"not json\n"), "not JSON"),
        (CHUNKED_HEAD + chunk(b"[1, 2]\n"), "not a JSON object"),
        (CHUNKED_HEAD + chunk(b"[" * 600 + b"]" * 600 + b"\n"), "not JSON"),
        (CHUNKED_HEAD + b"0\r\n\r\n", "ended the event stream"),
    ],
)
def test_a_malformed_stream_is_lost(data: bytes, said: str) -> None:
    with pytest.raises(SourceLost, match=said):
        EventParser().feed(data)


def test_a_head_that_never_ends_is_bounded() -> None:
    parser = EventParser()
    with pytest.raises(SourceLost, match="head is longer"):
        for _ in range(docker.MAX_HEAD // 1000 + 2):
            parser.feed(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 1000 + b"\r\n")


def test_a_chunk_larger_than_the_bound_is_refused_before_its_data() -> None:
    with pytest.raises(SourceLost, match="a chunk of"):
        EventParser().feed(CHUNKED_HEAD + b"%x\r\n" % (docker.MAX_CHUNK + 1))


def test_an_event_without_end_is_bounded() -> None:
    parser = EventParser()
    parser.feed(CHUNKED_HEAD)
    piece = chunk(b'{"pad":"' + b"a" * 60000)
    with pytest.raises(SourceLost, match="an event of more than"):
        for _ in range(docker.MAX_EVENT // 60000 + 2):
            parser.feed(piece)


def test_the_bytes_held_between_reads_are_bounded() -> None:
    parser = EventParser()
    parser.feed(CHUNKED_HEAD + b"%x\r\n" % docker.MAX_CHUNK)  # one big chunk, then no end
    with pytest.raises(SourceLost, match="unread bytes"):
        parser.feed(b"x" * (docker.MAX_BUFFERED + 1))


def test_a_size_line_that_never_ends_is_bounded() -> None:
    with pytest.raises(SourceLost, match="size line is too long"):
        EventParser().feed(CHUNKED_HEAD + b"1" + b" " * 300)


# ------------------------------------------------------------------ start events


def test_a_start_names_the_container_by_full_id_short_id_and_name() -> None:
    assert started(START) == [
        GuestRef("docker", CID),
        GuestRef("docker", CID[:12]),
        GuestRef("docker", "web_3"),
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"Action": "die", "status": "die"},
        {"Type": "network"},
    ],
)
def test_other_events_name_no_guest(change: dict[str, object]) -> None:
    assert started({**START, **change}) == []


@pytest.mark.parametrize("bad", [CID[:12], CID.upper(), "../" + CID[3:], 64, None, CID + "0"])
def test_a_start_with_an_id_that_is_not_64_hex_digits_names_no_guest(bad: object) -> None:
    event = {**START, "id": bad, "Actor": {"ID": bad, "Attributes": {"name": "web"}}}
    assert started(event) == []


@pytest.mark.parametrize("bad", ["a b", "../etc", "/", "x" * 300, "-rf", 7, "é"])
def test_a_start_with_a_name_no_user_could_type_names_the_id_only(bad: object) -> None:
    ids = [GuestRef("docker", CID), GuestRef("docker", CID[:12])]
    assert started(start_of(CID, bad)) == ids  # type: ignore[arg-type]


# ------------------------------------------------------------------ declarations

#: trimmed from `docker inspect` of a container run with a label and the dreamcat4
#: image's variables (docker 20.10); the fields the source reads are as Docker writes them
INSPECT: dict[str, object] = {
    "Id": CID,
    "Created": "2026-12-05T08:00:00.000000000Z",
    "Path": "/bin/sleep",
    "Args": ["600"],
    "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0},
    "Name": "/web_3",
    "RestartCount": 0,
    "HostConfig": {"NetworkMode": "none", "RestartPolicy": {"Name": "no"}},
    "Config": {
        "Hostname": "3f4e8d2a9b1c",
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "pipework_cmd=brpwt0 @CONTAINER_NAME@ 198.51.100.@INSTANCE@/24",
            "pipework_cmd_eth2=brpwt1 -i eth2 @CONTAINER_ID@ 203.0.113.@INSTANCE@/24",
            "pipework_cmd_eth3=brpwt1 -i eth3 @HOSTNAME@ 203.0.113.33/24",
            "pipework_cmd_eth4=pipework brpwt1 -i eth4 @COMPOSE_PROJECT_NAME@_web_3 "
            "203.0.113.34/24",
            "not_pipework=brpwt9 other 198.51.100.9/24",
        ],
        "Cmd": ["/bin/sleep", "600"],
        "Image": "pwt-busybox:test",
        "Labels": {
            "com.docker.compose.project": "shop",
            "pipework.attach": "brpwt0 198.51.100.10/24",
            "pipework.attach.eth5": "brpwt1 203.0.113.5/24",
        },
    },
    "NetworkSettings": {"Networks": {"none": {}}},
}


def inspect(**config: object) -> dict[str, object]:
    base = dict(INSPECT["Config"])  # type: ignore[call-overload]
    base.update(config)
    return {**INSPECT, "Config": base}


def by_source(found: list[Declaration | BadDeclaration]) -> dict[str, Declaration | BadDeclaration]:
    return {item.source: item for item in found}


def test_labels_declare_attachments_of_the_container_by_its_full_id() -> None:
    found = by_source(declarations_of(INSPECT))
    first = found["label pipework.attach of docker:web_3"]
    assert isinstance(first, Declaration)
    assert first.guest == GuestRef("docker", CID)
    assert first.spec.host_if == "brpwt0" and first.spec.container_ifname == "eth1"
    assert [str(a) for a in first.spec.addressing.addresses] == ["198.51.100.10/24"]
    fifth = found["label pipework.attach.eth5 of docker:web_3"]
    assert isinstance(fifth, Declaration) and fifth.spec.container_ifname == "eth5"


def test_the_variables_macros_stand_for_the_container() -> None:
    found = by_source(declarations_of(INSPECT))
    cmd = found["variable pipework_cmd of docker:web_3"]
    assert isinstance(cmd, Declaration)
    assert cmd.text == "brpwt0 web_3 198.51.100.3/24"  # @CONTAINER_NAME@, @INSTANCE@
    assert cmd.guest == GuestRef("docker", CID)
    eth2 = found["variable pipework_cmd_eth2 of docker:web_3"]
    assert isinstance(eth2, Declaration)
    assert eth2.text == f"brpwt1 -i eth2 {CID[:12]} 203.0.113.3/24"  # @CONTAINER_ID@
    assert eth2.guest == GuestRef("docker", CID) and eth2.spec.container_ifname == "eth2"


def test_the_hostname_and_compose_project_macros() -> None:
    found = by_source(declarations_of(INSPECT))
    eth3 = found["variable pipework_cmd_eth3 of docker:web_3"]
    # the hostname is the short ID here (Docker's default), so it names the container
    assert isinstance(eth3, Declaration) and eth3.text.split()[3] == CID[:12]
    eth4 = found["variable pipework_cmd_eth4 of docker:web_3"]
    # shop_web_3 is another container's name: refused, not attached
    assert isinstance(eth4, BadDeclaration) and "shop_web_3" in eth4.error


def test_variables_without_the_prefix_declare_nothing() -> None:
    assert not any("not_pipework" in item.source for item in declarations_of(INSPECT))


def test_a_variable_naming_another_container_is_refused() -> None:
    info = inspect(Env=["pipework_cmd=brpwt0 other 198.51.100.5/24"], Labels={})
    (only,) = declarations_of(info)
    assert isinstance(only, BadDeclaration) and "not the container" in only.error


def test_a_hostname_that_is_not_a_name_is_not_spliced_into_the_line() -> None:
    info = inspect(
        Hostname="x --force web_3", Env=["pipework_cmd=brpwt0 @HOSTNAME@ 198.51.100.5/24"]
    )
    bad = by_source(declarations_of(info))["variable pipework_cmd of docker:web_3"]
    assert isinstance(bad, BadDeclaration) and "@HOSTNAME@" in bad.error


def test_a_container_without_declarations_has_none() -> None:
    assert declarations_of(inspect(Env=["PATH=/bin"], Labels={"a": "b"})) == []


def test_a_bad_label_is_one_bad_declaration_naming_the_container() -> None:
    (bad,) = declarations_of(inspect(Env=[], Labels={"pipework.attach": "brpwt0 300.1.2.3/24"}))
    assert isinstance(bad, BadDeclaration)
    assert bad.source == "label pipework.attach of docker:web_3"


@pytest.mark.parametrize(
    "change",
    [
        {"Id": CID[:12]},
        {"Id": "../../" + CID[6:]},
        {"Config": "not a mapping"},
        {"Config": {"Labels": ["pipework.attach=brpwt0 198.51.100.1/24"], "Env": "x"}},
    ],
)
def test_an_inspect_answer_out_of_shape_declares_nothing(change: dict[str, object]) -> None:
    assert declarations_of({**INSPECT, **change}) == []


def test_a_name_no_user_could_type_is_replaced_by_the_short_id() -> None:
    info = {**inspect(Env=["pipework_cmd=brpwt0 @CONTAINER_NAME@ 198.51.100.5/24"])}
    info["Name"] = "/we b"
    found = by_source(declarations_of(info))
    cmd = found[f"variable pipework_cmd of docker:{CID[:12]}"]
    assert isinstance(cmd, Declaration) and cmd.text.split()[1] == CID[:12]


# ------------------------------------------------------------------ over a socket


def test_no_daemon_means_not_connected_yet(tmp_path) -> None:
    source = DockerSource(str(tmp_path / "docker.sock"))
    assert source.reconnect() is False
    assert source.fileno() is None


def test_the_source_asks_for_container_starts_since_a_moment_ago() -> None:
    with FakeDocker(hold(CHUNKED_HEAD)) as daemon:
        source = DockerSource(daemon.path)
        before = time.time()
        assert source.reconnect() is True
        source.close()
    request = daemon.requests[0].decode()
    path = request.split()[1]
    assert path.startswith(docker.EVENTS_PATH + "&since=")
    since = float(path.rpartition("=")[2])
    assert before - docker.REPLAY_S - 1 < since <= before
    assert "%22start%22" in path and "%22container%22" in path


def head_then(data: bytes) -> Answer:
    """The stream's head, then (after the source has taken it) ``data``, then the end."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(CHUNKED_HEAD)
        stop.wait(0.2)
        conn.sendall(data)

    return answer


def test_starts_read_from_the_socket_and_the_end_of_the_stream() -> None:
    body = event_line(START) + event_line(start_of(CID2, "db"))
    answer = head_then(chunk(body[:30]) + chunk(body[30:]))
    with FakeDocker(answer) as daemon:
        source = DockerSource(daemon.path)
        assert source.reconnect() is True
        fd = source.fileno()
        assert fd is not None
        got: list[GuestRef] = []
        with pytest.raises(SourceLost, match="closed the event stream"):
            for _ in range(100):
                select.select([fd], [], [], 5)
                got += source.read() or []
    assert got == [
        GuestRef("docker", CID),
        GuestRef("docker", CID[:12]),
        GuestRef("docker", "web_3"),
        GuestRef("docker", CID2),
        GuestRef("docker", CID2[:12]),
        GuestRef("docker", "db"),
    ]
    assert source.fileno() is None


def test_a_refusal_of_the_event_request_is_a_lost_source_saying_why() -> None:
    answer = say(http(b'{"message":"page not found"}', "404 Not Found"))
    with FakeDocker(answer) as daemon, pytest.raises(SourceLost, match="404 Not Found"):
        DockerSource(daemon.path).reconnect()


def test_a_flood_is_read_a_budget_at_a_time() -> None:
    with FakeDocker(endless(CHUNKED_HEAD, chunk(event_line(START)))) as daemon:
        source = DockerSource(daemon.path)
        assert source.reconnect() is True
        select.select([source.sock], [], [], 5)
        start = time.monotonic()
        got = source.read()
        took = time.monotonic() - start
        source.close()
    # each once
    assert got == [
        GuestRef("docker", CID),
        GuestRef("docker", CID[:12]),
        GuestRef("docker", "web_3"),
    ]
    assert took < 5  # it returned, the stream still flowing


def test_running_lists_then_inspects_the_running_containers() -> None:
    listing = json.dumps([{"Id": CID, "Names": ["/web_3"], "State": "running"}]).encode()
    detail = json.dumps(INSPECT).encode()

    def answer(conn, stop) -> None:  # type: ignore[no-untyped-def]
        conn.sendall(http(listing if len(daemon.requests) == 1 else detail))

    with FakeDocker(answer) as daemon:
        found = DockerSource(daemon.path).running()
    paths = [r.split()[1] for r in daemon.requests]
    assert paths == [b"/containers/json", f"/containers/{CID}/json".encode()]
    assert {item.source for item in found} >= {
        "label pipework.attach of docker:web_3",
        "variable pipework_cmd of docker:web_3",
    }


def test_declarations_for_a_start_inspect_the_container_once() -> None:
    detail = json.dumps(INSPECT).encode()
    with FakeDocker(say(http(detail))) as daemon:
        source = DockerSource(daemon.path)
        found = source.declarations_for(
            [GuestRef("docker", CID), GuestRef("docker", "web_3"), GuestRef("lxc", "web_3")]
        )
    assert [r.split()[1] for r in daemon.requests] == [f"/containers/{CID}/json".encode()]
    assert len(found) == 6


def test_a_container_that_stopped_again_declares_nothing_now() -> None:
    stopped = {**INSPECT, "State": {"Status": "exited", "Running": False, "Pid": 0}}
    with FakeDocker(say(http(json.dumps(stopped).encode()))) as daemon:
        assert DockerSource(daemon.path).declarations_for([GuestRef("docker", CID)]) == []


def test_a_daemon_that_fails_a_pass_is_a_lost_source() -> None:
    with FakeDocker(say(b"garbage\r\n\r\n")) as daemon, pytest.raises(SourceLost):
        DockerSource(daemon.path).running()


def test_declarations_for_a_guest_named_by_a_user_inspect_it_by_that_name() -> None:
    with FakeDocker(say(http(json.dumps(INSPECT).encode()))) as daemon:
        found = DockerSource(daemon.path).declarations_for([GuestRef(None, "web_3")])
    assert [r.split()[1] for r in daemon.requests] == [b"/containers/web_3/json"]
    assert all(item.source.endswith("of docker:web_3") for item in found) and len(found) == 6


def test_declarations_for_a_container_that_is_gone_are_none() -> None:
    answer = say(http(b'{"message":"No such container: web_3"}', "404 Not Found"))
    with FakeDocker(answer) as daemon:
        assert DockerSource(daemon.path).declarations_for([GuestRef("docker", "web_3")]) == []
