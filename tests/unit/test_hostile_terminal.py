"""What a daemon or a guest chose is shown on the terminal, never obeyed by it.

Container names, states, a daemon's error messages and the interface names a
guest gives its own links can carry ESC, CR, BEL, C1 controls or bidirectional
overrides; the CLI's text goes through ``terminal.printable`` (the integration and
fake-daemon tests check whole runs; these check the pieces).
"""

from __future__ import annotations

import pytest

from pipework._lowlevel.terminal import printable
from pipework.cli.main import _say
from pipework.ops.ls import Seen, render_table

HOSTILE = "\x1b[2J\x1b]0;pwned\x07\r\x9b31m\u202eevil\x00\x7f"


def test_control_characters_become_escapes() -> None:
    shown = printable(HOSTILE)
    assert shown.isprintable()
    assert shown == "\\x1b[2J\\x1b]0;pwned\\x07\\r\\x9b31m\\u202eevil\\x00\\x7f"


@pytest.mark.parametrize("text", ["web", "docker:web eth1", "é ü 日本", "a\\x1b"])
def test_printable_text_is_left_as_it_is(text: str) -> None:
    assert printable(text) is text


def test_lines_keep_their_line_feeds_only() -> None:
    assert printable("a\x1b\nb\r", lines=True) == "a\\x1b\nb\\r"


def test_an_error_message_is_one_escaped_line(capsys: pytest.CaptureFixture[str]) -> None:
    _say(f"container {HOSTILE} is not\nrunning")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err[:-1].isprintable()
    assert "\\x1b[2J" in err and "not running" in err


def _seen(ifname: str) -> Seen:
    return Seen(
        guest="docker:web",
        runtime="docker",
        container_ifname=ifname,
        netns_inode=4026532182,
        host_ifname="veth1pl4242",
        host_index=7,
        bridge="br0",
        addresses=("192.0.2.10/24",),
        mac="02:00:c0:00:02:0a",
        mtu=1500,
        state="up",
        dhcp=None,
    )


def test_ls_escapes_interface_names_a_guest_chose_and_keeps_its_columns() -> None:
    table = render_table([_seen("\x1b[8m\rx"), _seen("eth1")])
    assert all(line.isprintable() for line in table.split("\n"))
    header, first, second = table.split("\n")
    column = header.index("HOST IFNAME")
    assert first.index("veth1pl4242") == second.index("veth1pl4242") == column
    assert "\\x1b[8m\\rx" in first
