"""The Podman source's events-log follower and event parsing, on a file of the test's own.

Appending to a file under ``tmp_path`` is what a ``podman`` process does to
/run/libpod/events/events.log (events_logger "file"): inotify then reports the
IN_MODIFY the loop waits for. The lines are Podman 4.3's own, as this host wrote them.
"""

from __future__ import annotations

import json
import os
import select
from pathlib import Path

import pytest

from pipework.names import GuestRef
from pipework.watch import podman
from pipework.watch.podman import LogFollower, PodmanSource, parse_event, started
from pipework.watch.source import SourceLost

CID = "4873e1e057c00bf1a23778ae04ba33e8ac5a7f9da09ee3f47e8bf6a68315a8fd"


def event(status: str, *, cid: str = CID, name: str = "web", kind: str = "container") -> bytes:
    record: dict[str, object] = {
        "ID": cid,
        "Image": "localhost/pwt-busybox:podman",
        "Name": name,
        "Status": status,
        "Time": "2026-12-05T08:57:26.128195637Z",
        "Type": kind,
        "Attributes": {"pipework.attach": "br1 198.51.100.5/24"},
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def readable(fd: int | None, timeout: float = 2.0) -> bool:
    assert fd is not None
    return bool(select.select([fd], [], [], timeout)[0])


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "events.log"
    path.write_bytes(event("start", name="before"))  # there before: not a start now
    return path


@pytest.fixture
def follower(log: Path):
    f = LogFollower(str(log), owner=os.getuid())
    assert f.open()
    yield f
    f.close()


def test_appended_lines_are_read_not_what_was_there(log, follower):
    append(log, b'{"a":1}\n{"b":2}\n')
    assert readable(follower.fileno())
    assert follower.read_lines() == [b'{"a":1}', b'{"b":2}']


def test_a_partial_line_waits_for_its_end(log, follower):
    append(log, b'{"a":1}\n{"b"')
    assert follower.read_lines() == [b'{"a":1}']
    append(log, b":2}\n")
    assert readable(follower.fileno())
    assert follower.read_lines() == [b'{"b":2}']


def test_truncation_ends_the_stream(log, follower):
    append(log, b'{"a":1}\n')
    assert follower.read_lines() == [b'{"a":1}']
    os.truncate(log, 0)
    assert readable(follower.fileno())
    with pytest.raises(SourceLost, match="truncated"):
        follower.read_lines()


def test_rotation_by_rename_ends_the_stream(log, follower, tmp_path):
    fresh = tmp_path / "events.log.new"
    fresh.write_bytes(b"")
    os.rename(fresh, log)  # as Podman replaces the log when it rotates it
    assert readable(follower.fileno())
    with pytest.raises(SourceLost, match="rotated or removed"):
        follower.read_lines()


def test_removal_ends_the_stream(log, follower):
    log.unlink()
    assert readable(follower.fileno())
    with pytest.raises(SourceLost):
        follower.read_lines()


def test_a_missing_log_is_not_connected_yet(tmp_path):
    source = PodmanSource(str(tmp_path / "events.log"), owner=os.getuid())
    assert source.reconnect() is False
    assert source.fileno() is None


def test_a_log_someone_else_owns_is_not_followed(log):
    assert LogFollower(str(log), owner=os.getuid() + 1).open() is False


def test_a_symbolic_link_is_not_followed(log, tmp_path):
    link = tmp_path / "link.log"
    link.symlink_to(log)
    assert LogFollower(str(link), owner=os.getuid()).open() is False


def test_an_oversize_line_is_skipped_and_the_next_one_read(log, follower, monkeypatch):
    monkeypatch.setattr(podman, "MAX_LINE", 100)
    append(log, b'{"big":"' + b"x" * 150)
    assert follower.read_lines() == []
    append(log, b"x" * 150 + b'"}\n{"next":1}\n')
    assert follower.read_lines() == [b'{"next":1}']


def test_an_oversize_complete_line_is_skipped(log, follower, monkeypatch):
    monkeypatch.setattr(podman, "MAX_LINE", 100)
    append(log, b'{"big":"' + b"x" * 150 + b'"}\n{"next":1}\n')
    assert follower.read_lines() == [b'{"next":1}']


def test_a_backlog_over_budget_asks_for_a_full_pass(log, follower, monkeypatch):
    monkeypatch.setattr(podman, "READ_BUDGET", 1000)
    append(log, event("start") * 10)
    assert follower.read_lines() is None
    append(log, b'{"after":1}\n')
    assert follower.read_lines() == [b'{"after":1}']


def test_a_start_event_names_the_container_three_ways():
    refs = started(parse_event(event("start").rstrip(b"\n")) or {})
    assert refs == [
        GuestRef("podman", CID),
        GuestRef("podman", CID[:12]),
        GuestRef("podman", "web"),
    ]


@pytest.mark.parametrize("status", ["create", "init", "died", "cleanup", "remove", "restart"])
def test_other_container_events_start_nothing(status):
    assert started(parse_event(event(status)) or {}) == []


def test_image_events_start_nothing():
    assert started(parse_event(event("start", kind="image")) or {}) == []


def test_an_id_that_is_not_64_hex_digits_starts_nothing():
    assert started(parse_event(event("start", cid=CID[:63] + "G")) or {}) == []


def test_a_name_that_is_not_a_name_is_left_out():
    refs = started(parse_event(event("start", name="../x")) or {})
    assert refs == [GuestRef("podman", CID), GuestRef("podman", CID[:12])]


def test_the_source_reports_the_starts_appended_and_keeps_their_labels(log):
    source = PodmanSource(str(log), owner=os.getuid())
    assert source.reconnect()
    try:
        append(log, event("create") + b"not json\n" + event("start"))
        assert readable(source.fileno())
        assert source.read() == [
            GuestRef("podman", CID),
            GuestRef("podman", CID[:12]),
            GuestRef("podman", "web"),
        ]
        assert source.labels[CID] == {"pipework.attach": "br1 198.51.100.5/24"}
    finally:
        source.close()
