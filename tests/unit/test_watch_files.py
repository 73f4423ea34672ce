"""The attachments.d source: declaration files read, refused and followed with inotify.

A temporary directory stands in for /etc/pipework/attachments.d; inotify is the
kernel's own, on that directory. Ownership tests chown files, so they need root
(as every test of this repository runs); without it they are skipped.
"""

from __future__ import annotations

import os
import select
from pathlib import Path

import pytest

from pipework._lowlevel.inotify import decode_events
from pipework.names import GuestRef
from pipework.watch.declare import BadDeclaration, Declaration
from pipework.watch.files import FileSource
from pipework.watch.source import SourceLost

WEB = "br1 lxc:web 198.51.100.10/24"
DB = "br1 -i eth2 db 198.51.100.20/24"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def texts(found: list[Declaration | BadDeclaration]) -> list[str]:
    return [f.text for f in found if isinstance(f, Declaration)]


def bad(found: list[Declaration | BadDeclaration]) -> list[BadDeclaration]:
    return [f for f in found if isinstance(f, BadDeclaration)]


def wait_readable(source: FileSource, timeout: float = 2.0) -> bool:
    fd = source.fileno()
    assert fd is not None
    return bool(select.select([fd], [], [], timeout)[0])


@pytest.fixture
def conf_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "attachments.d"
    directory.mkdir(mode=0o755)
    return directory


@pytest.fixture
def watched(conf_dir: Path):
    source = FileSource(str(conf_dir))
    assert source.reconnect()
    yield source
    source.close()


# ---------------------------------------------------------------- reading


def test_lines_of_conf_files_are_declarations_and_comments_are_skipped(conf_dir: Path) -> None:
    (conf_dir / "lab.conf").write_text(f"# the lab\n\n{WEB}\n   # indented comment\n{DB}\n")
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == [WEB, DB]
    assert [f.source for f in found] == [f"{conf_dir}/lab.conf:3", f"{conf_dir}/lab.conf:5"]


def test_files_not_ending_in_conf_are_not_read(conf_dir: Path) -> None:
    (conf_dir / "lab.conf").write_text(WEB + "\n")
    (conf_dir / "lab.conf~").write_text(DB + "\n")
    (conf_dir / ".lab.conf.swp").write_text(DB + "\n")
    (conf_dir / "notes.txt").write_text(DB + "\n")
    assert texts(FileSource(str(conf_dir)).running()) == [WEB]


def test_files_are_read_in_the_order_of_their_names(conf_dir: Path) -> None:
    (conf_dir / "20-db.conf").write_text(DB + "\n")
    (conf_dir / "10-web.conf").write_text(WEB + "\n")
    assert texts(FileSource(str(conf_dir)).running()) == [WEB, DB]


def test_a_bad_line_is_one_bad_declaration_naming_its_file_and_line(conf_dir: Path) -> None:
    (conf_dir / "lab.conf").write_text(f"{WEB}\nbr1 web not-an-address\n")
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == [WEB]
    [error] = bad(found)
    assert error.source == f"{conf_dir}/lab.conf:2"


def test_a_missing_directory_declares_nothing(tmp_path: Path) -> None:
    assert FileSource(str(tmp_path / "absent")).running() == []


def test_declarations_for_a_started_guest_are_its_lines_only(conf_dir: Path) -> None:
    other = "br1 lxc:other 198.51.100.30/24"
    bare = "br2 -i eth3 web 203.0.113.10/24"
    (conf_dir / "lab.conf").write_text(f"{WEB}\n{other}\n{bare}\nbroken line\n")
    found = FileSource(str(conf_dir)).declarations_for([GuestRef("lxc", "web")])
    assert [f.text for f in found] == [WEB, bare]  # a bare name matches any runtime's


def test_a_docker_guest_does_not_get_an_lxc_line(conf_dir: Path) -> None:
    (conf_dir / "lab.conf").write_text(WEB + "\n")
    assert FileSource(str(conf_dir)).declarations_for([GuestRef("docker", "web")]) == []


# ---------------------------------------------------------------- refusals


@needs_root
def test_a_file_owned_by_another_user_is_refused_and_the_others_read(conf_dir: Path) -> None:
    (conf_dir / "a.conf").write_text(DB + "\n")
    planted = conf_dir / "b.conf"
    planted.write_text(WEB + "\n")
    os.chown(planted, 4242, 4242)
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == [DB]
    [error] = bad(found)
    assert error.source == str(planted)
    assert "uid 4242" in error.error


def test_a_file_writable_by_every_user_is_refused(conf_dir: Path) -> None:
    path = conf_dir / "lab.conf"
    path.write_text(WEB + "\n")
    path.chmod(0o666)
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == []
    assert "writable by every user" in bad(found)[0].error


@needs_root
def test_a_file_writable_by_a_group_other_than_root_is_refused(conf_dir: Path) -> None:
    path = conf_dir / "lab.conf"
    path.write_text(WEB + "\n")
    os.chown(path, 0, 4242)
    path.chmod(0o664)
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == []
    assert "group 4242" in bad(found)[0].error


def test_a_directory_writable_by_every_user_is_not_read(conf_dir: Path) -> None:
    (conf_dir / "lab.conf").write_text(WEB + "\n")
    conf_dir.chmod(0o777)
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == []
    assert bad(found)[0].source == str(conf_dir)


def test_a_symbolic_link_is_not_followed(conf_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.conf"
    target.write_text(WEB + "\n")
    (conf_dir / "lab.conf").symlink_to(target)
    found = FileSource(str(conf_dir)).running()
    assert texts(found) == []
    assert "symbolic link" in bad(found)[0].error


def test_a_fifo_is_refused_without_blocking(conf_dir: Path) -> None:
    os.mkfifo(conf_dir / "lab.conf")
    found = FileSource(str(conf_dir)).running()
    assert "not a regular file" in bad(found)[0].error


def test_a_file_larger_than_the_budget_is_refused_unread(conf_dir: Path) -> None:
    (conf_dir / "big.conf").write_bytes(b"#" * (2 << 20))
    found = FileSource(str(conf_dir)).running()
    assert "larger than" in bad(found)[0].error


# ---------------------------------------------------------------- inotify


def test_a_file_appearing_asks_for_everything_again(conf_dir: Path, watched: FileSource) -> None:
    (conf_dir / "lab.conf").write_text(WEB + "\n")
    assert wait_readable(watched)
    assert watched.read() is None
    assert texts(watched.running()) == [WEB]


def test_a_file_renamed_into_place_asks_for_everything_again(
    conf_dir: Path, watched: FileSource
) -> None:
    # what editors and configuration management do: write aside, rename over
    (conf_dir / ".lab.conf.tmp").write_text(WEB + "\n")
    assert wait_readable(watched)
    assert watched.read() == [], "a hidden temporary file is nobody's declaration yet"
    os.rename(conf_dir / ".lab.conf.tmp", conf_dir / "lab.conf")
    assert wait_readable(watched)
    assert watched.read() is None


def test_a_file_edited_asks_again_and_the_new_line_is_read(
    conf_dir: Path, watched: FileSource
) -> None:
    path = conf_dir / "lab.conf"
    path.write_text(WEB + "\n")
    assert wait_readable(watched)
    watched.read()
    with path.open("a") as f:
        f.write(DB + "\n")
    assert wait_readable(watched)
    assert watched.read() is None
    assert texts(watched.running()) == [WEB, DB]


def test_a_file_removed_asks_again_and_its_lines_are_gone(
    conf_dir: Path, watched: FileSource
) -> None:
    path = conf_dir / "lab.conf"
    path.write_text(WEB + "\n")
    assert wait_readable(watched)
    watched.read()
    path.unlink()
    assert wait_readable(watched)
    assert watched.read() is None
    assert watched.running() == []


def test_a_chmod_asks_again(conf_dir: Path, watched: FileSource) -> None:
    path = conf_dir / "lab.conf"
    path.write_text(WEB + "\n")
    assert wait_readable(watched)
    watched.read()
    path.chmod(0o666)
    assert wait_readable(watched)
    assert watched.read() is None
    assert texts(watched.running()) == []


def test_other_files_changing_ask_for_nothing(conf_dir: Path, watched: FileSource) -> None:
    (conf_dir / "README").write_text("not a declaration\n")
    assert wait_readable(watched)
    assert watched.read() == []


def test_a_missing_directory_is_retried_until_it_appears(tmp_path: Path) -> None:
    directory = tmp_path / "attachments.d"
    source = FileSource(str(directory))
    with pytest.raises(SourceLost, match="does not exist"):
        source.reconnect()
    assert source.fileno() is None
    directory.mkdir()
    try:
        assert source.reconnect()
        (directory / "lab.conf").write_text(WEB + "\n")
        assert wait_readable(source)
        assert source.read() is None
    finally:
        source.close()


def test_the_directory_removed_while_watched_is_a_lost_source(
    conf_dir: Path, watched: FileSource
) -> None:
    conf_dir.rmdir()
    assert wait_readable(watched)
    with pytest.raises(SourceLost, match="removed"):
        watched.read()
    assert watched.fileno() is None


def test_close_releases_the_inotify_fd(watched: FileSource) -> None:
    fd = watched.fileno()
    assert fd is not None
    watched.close()
    assert watched.fileno() is None
    with pytest.raises(OSError):
        os.fstat(fd)


# ---------------------------------------------------------------- the event decoder


def test_decode_events_reads_names_padded_with_nuls() -> None:
    import struct

    data = struct.pack("iIII", 1, 0x100, 0, 16) + b"lab.conf" + b"\0" * 8
    data += struct.pack("iIII", 2, 0x8000, 7, 0)
    events = decode_events(data)
    assert [(e.wd, e.mask, e.cookie, e.name) for e in events] == [
        (1, 0x100, 0, "lab.conf"),
        (2, 0x8000, 7, ""),
    ]


def test_decode_events_drops_a_truncated_tail() -> None:
    import struct

    data = struct.pack("iIII", 1, 0x100, 0, 16) + b"lab.conf"
    assert decode_events(data) == []
