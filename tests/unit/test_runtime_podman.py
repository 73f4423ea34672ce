"""Podman's state files, as the podman resolver reads them: storage.conf's roots, the
order of a look-up (full ID, name, unique ID prefix), the one-object fast path, and
files that are not what podman writes (hostile or broken): refused, never followed,
never waited on."""

from __future__ import annotations

import hashlib
import os

import pytest

from pipework.errors import HostStateError
from pipework.guests import podman
from pipework.names import parse_guest_ref

A = "a" * 63 + "1"
B = "ab" + "0" * 62
C = "c0ffee" + "1" * 58


def _go_json(entries: list[tuple[str, list[str]]]) -> str:
    """containers.json as containers/storage (Go's encoding/json) writes it."""
    objs = []
    for cid, names in entries:
        listed = ",".join(f'"{n}"' for n in names)
        meta = '{\\"image-name\\":\\"localhost/x:1\\",\\"name\\":\\"' + (names or ["?"])[0] + '\\"}'
        objs.append(
            f'{{"id":"{cid}","names":[{listed}],"image":"{"e" * 64}","layer":"{"f" * 64}",'
            f'"metadata":"{meta}","created":"2026-01-01T00:00:00Z","flags":{{"MountLabel":""}}}}'
        )
    return "[" + ",".join(objs) + "]"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A rootful store in tmp_path, owned by whoever runs the tests."""
    graph, run = tmp_path / "graph", tmp_path / "run"
    (graph / "overlay-containers").mkdir(parents=True)
    run.mkdir()
    fake = podman._Store(str(graph), str(run), os.getuid(), "rootful")
    monkeypatch.setattr(podman, "_rootful_store", lambda: fake)
    monkeypatch.setattr(podman, "still_in_container", lambda pid, check: pid == os.getpid())

    def write(
        entries: list[tuple[str, list[str]]] | str, running: dict[str, str] | None = None
    ) -> None:
        text = entries if isinstance(entries, str) else _go_json(entries)
        (graph / "overlay-containers" / "containers.json").write_text(text)
        for cid, pid in (running or {}).items():
            d = run / "overlay-containers" / cid / "userdata"
            d.mkdir(parents=True)
            (d / "pidfile").write_text(pid)

    return write


def test_storage_conf_moves_the_roots_only_from_its_storage_table():
    text = (
        '[storage.options]\ngraphroot = "/elsewhere"\n'
        '[storage]\ndriver = "overlay"\n  graphroot = "/srv/graph/" # moved\n'
        'runroot = "relative/run"\n'
    )
    assert podman._storage_roots(text, "/g", "/r") == ("/srv/graph", "/r")


def test_a_podman_prefix_parses_and_a_rootless_name_needs_no_new_syntax():
    assert parse_guest_ref("podman:web").kind == "podman"
    assert parse_guest_ref("podman:web@alice").value == "web@alice"


def test_lookup_order_is_full_id_then_name_then_unique_prefix(store):
    # a container named like another's full ID: the ID wins, as in podman
    entries = [(A, ["web"]), (B, [A]), (C, ["ab"])]
    assert podman._match(entries, A) == [(A, ["web"])]
    assert podman._match(entries, "ab") == [(C, ["ab"])]
    assert podman._match(entries, "c0f") == [(C, ["ab"])]
    assert podman._match(entries, "a") == [(A, ["web"]), (B, [A])]
    assert podman._match(entries, "web2") == []


def test_a_running_container_is_found_by_name_id_and_prefix(store):
    store([(A, ["web"]), (B, ["db"])], {A: f"{os.getpid()}\n"})
    for value in ("web", A, "a" * 12):
        finding = podman.find(value)
        (cand,) = finding.candidates
        assert (cand.name, cand.pid, cand.check) == ("web", os.getpid(), f"{os.getuid()}:{A}")


def test_a_stopped_container_and_a_stale_pid_say_not_running(store):
    store([(A, ["web"]), (B, ["db"])], {B: "4194303"})
    assert podman.find("web").saw == [
        f"container web ({A[:12]}) is not running (stopped: no pidfile)"
    ]
    (said,) = podman.find("db").saw
    assert said == f"container db ({B[:12]}) is not running (exited: its pid 4194303 is gone)"


def test_an_ambiguous_prefix_lists_every_match(store):
    store([(A, ["web"]), (B, ["db"])])
    finding = podman.find("a")
    assert not finding.candidates
    assert finding.ambiguous == [
        f"podman:web ({A[:12]}, stopped: no pidfile)",
        f"podman:db ({B[:12]}, stopped: no pidfile)",
    ]


def test_the_fast_path_agrees_with_parsing_everything():
    entries = [(hashlib.sha256(b"%d" % i).hexdigest(), [f"pwt{i}"]) for i in range(300)]
    entries.append((entries[5][0][:20] + "0" * 44, ["dup"]))  # shares a 20-digit prefix
    text = _go_json(entries)
    parsed = podman._parse_containers(text, "x")
    asked = [n for cid, names in entries for n in (cid, cid[:12], cid[:3], *names)]
    asked += ["localhost", "image-name", "e" * 64, "e" * 12, "nope", entries[5][0][:20]]
    for name in asked:
        fast = podman._one_entry(text, name)
        full = podman._match(parsed, name)
        if fast is not None:
            assert [fast] == full, name
        elif len(full) == 1:
            # only a layout it does not know, or a name mentioned elsewhere first
            assert name in ("e" * 64, "e" * 12) or not full[0][0].startswith(name), name


def test_another_layout_falls_back_to_parsing_everything(store):
    text = _go_json([(A, ["web"]), (B, ["db"])]).replace('"id":"', '"id": "')
    store(text, {B: f"{os.getpid()}"})
    assert podman._one_entry(text, "db") is None
    assert podman.find("db").candidates[0].pid == os.getpid()


def test_hostile_entries_are_skipped_and_names_checked(store):
    text = (
        '[{"id":"../../etc","names":["x"]},{"id":"' + "A" * 64 + '","names":["y"]},'
        '{"id":"' + A + '","names":["bad/../name\\u001b[31m"]},{"id":5},"junk"]'
    )
    store(text, {A: str(os.getpid())})
    assert podman.find("x").saw[0].startswith("no container x")
    assert podman.find("y").saw[0].startswith("no container y")
    (cand,) = podman.find(A).candidates
    assert cand.name == A  # not the name no user could have typed


def test_broken_json_is_an_error_naming_the_file(store):
    store('[{"id":"' + A + '","names":["web"]')
    with pytest.raises(HostStateError, match=r"containers\.json: not valid JSON"):
        podman.find("web")


def test_a_pidfile_that_is_not_a_pid_is_not_running(store):
    for junk in ("0", "-1", "12a", "99999999", "", "1" * 70):
        store([(A, ["web"])])
        d = podman._rootful_store().runroot + f"/overlay-containers/{A}/userdata"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/pidfile", "w") as f:
            f.write(junk)
        (said,) = podman.find("web").saw
        assert "is not running" in said, junk


def test_state_files_are_read_only_as_small_regular_files_of_their_owner(tmp_path):
    uid = os.getuid()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert podman._read_text(str(fifo), 100, uid) is None  # no hang on a FIFO
    real = tmp_path / "real"
    real.write_text("1234")
    link = tmp_path / "link"
    link.symlink_to(real)
    assert podman._read_text(str(real), 100, uid) == "1234"
    assert podman._read_text(str(link), 100, uid) is None
    assert podman._read_text(str(real), 3, uid) is None
    assert podman._read_text(str(real), 100, uid + 1) is None
    assert podman._read_text("/dev/zero", 100, 0) is None


def test_a_rootless_store_is_a_named_users_default_one():
    finding = podman.Finding("podman")
    assert podman._rootless_store("pwt-no-such-user", finding) is None
    assert "no user 'pwt-no-such-user'" in finding.saw[0]
    assert podman._rootless_store("root", finding) is None  # root's is the rootful store
    finding = podman.find("web@")
    assert "no user ''" in finding.saw[0]


def test_still_in_container_refuses_what_is_not_an_id():
    assert podman.still_in_container(os.getpid(), "0:/") is False
    assert podman.still_in_container(os.getpid(), f"0:{A}") is False
