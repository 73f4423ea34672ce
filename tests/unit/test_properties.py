"""Property tests: whatever the command line, ``parse_legacy`` answers with a command or a
``UsageError`` carrying a one-line message; never IndexError, ValueError, TypeError...
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipework.cli.legacy import (
    AttachCommand,
    HelpCommand,
    PassthroughCommand,
    WaitCommand,
    parse_legacy,
)
from pipework.errors import UsageError
from pipework.model import AttachSpec

COMMANDS = (AttachCommand, PassthroughCommand, WaitCommand, HelpCommand)

# No example database: the run leaves nothing behind in the work tree.
PROPERTY = settings(max_examples=300, deadline=None, database=None)

_KNOWN_MULTILINE = "\0no such message\0"  # every message is one line now

OPTIONS = [
    "-i",
    "-l",
    "-a",
    "-v",
    "--verbose",
    "--create-bridge",
    "--direct-phys",
    "--mtu",
    "--wait",
    "--timeout",
    "--",
    "-h",
    "--help",
    "-x",
    "-",
    "--mtu=1500",
    "route",
    "rule",
    "tc",
    "dummy",
]

NUMBERS = [
    "4",
    "6",
    "5",
    "0",
    "1",
    "68",
    "1500",
    "65535",
    "65536",
    "-1",
    "4094",
    "4095",
    "nan",
    "inf",
    "1e3",
    "0x10",
]

IFNAMES = [
    "br0",
    "br1",
    "eth1",
    "eth0",
    "a" * 15,
    "a" * 16,
    "a/b",
    "a:b",
    ".",
    "..",
    "",
    " ",
]

GUESTS = [
    "c1",
    "lxc:c1",
    "docker:web",
    "netns:blue",
    "pid:1",
    "pid:0",
    "pid:abc",
    "pid:99999999999999999999",
    "/var/run/netns/blue",
    "/..",
    "/a/../b",
    "netns:/x",
    "lxc:/x",
    "foo:bar",
    ":",
    "a*",
    "$(id)",
    "../x",
    "a" * 300,
]

ADDRESSES = [
    "10.0.0.2/24",
    "10.0.0.2",
    "0/0",
    "0/0@10.0.0.1",
    "10.0.0.2/24@10.0.0.1",
    "10.0.0.2/24@10.0.0.2",
    "10.0.0.2/24@10.0.0.255",
    "10.0.0.2/24@",
    "10.0.0.2/24@@",
    "10.0.0.2/24@2001:db8::1",
    "10.0.0.2/31",
    "10.0.0.2/32",
    "10.0.0.2/33",
    "10.0.0.2/0",
    "10.0.0.2/-1",
    "10.0.0.0/24",
    "010.0.0.1/24",
    "1.2.3/24",
    "256.1.1.1/24",
    "224.0.0.1/24",
    "127.0.0.1/8",
    "2001:db8::1/64",
    "2001:db8::1/64@fe80::1",
    "2001:db8::1/129",
    "fe80::1%eth0/64",
    "::g/64",
    "::/0",
    "::ffff:1.2.3.4/96",
    "/24",
    "@",
    "/",
]

DHCP_MODES = [
    "dhcp",
    "dhcp:-t 5",
    "dhcp-f",
    "udhcpc",
    "udhcpc-f:-q",
    "dhclient",
    "dhclient-f:-v",
    "dhcpcd",
    "dhcpcd-f",
    "dhcpcd:x:y",
]

MACS = [
    "02:00:00:00:00:01",
    "01:00:00:00:00:01",
    "00:00:00:00:00:00",
    "02:00:00:00:00",
    "02:00:00:00:00:zz",
    "U:hello",
    "U:",
    "U:@10",
    "@10",
    "@0",
    "@4095",
    "@abc",
    "@",
    "02:00:00:00:00:01@10",
    "mac:02:00:00:00:00:01",
    "mac:",
    "mac:01:00:00:00:00:01",
]

GARBAGE = [
    "\n",
    "\t",
    "\x1b[2J",
    "\u00e9",
    "\u202e",
    "\uff11",
    "\0",
    "a\0b",
    "x" * 4096,
    "x" * 4097,
]

VOCABULARY = OPTIONS + NUMBERS + IFNAMES + GUESTS + ADDRESSES + DHCP_MODES + MACS + GARBAGE

# Characters that once crashed the parser: non-ASCII digits (str.isdigit() then int())
# and lone surrogates (argv bytes that are not UTF-8); kept as their own property.
_NON_ASCII_DIGITS = "\u00b2\u00b3\u00b9\u2460\u0661\u0662\u0664\u0665\u0660\u096a\uff11"
_SURROGATES = "\udc80\udcff\ud800"


def _safe_char(ch: str) -> bool:
    return ch.isascii() or not ch.isdigit()


SAFE_TEXT = st.text(st.characters(exclude_categories=("Cs",)).filter(_safe_char), max_size=40)
SEPARATORS = st.sampled_from(["", "/", "@", ":", "-", "."])
WORD = st.sampled_from(VOCABULARY)
NUMBER = st.integers(min_value=-10, max_value=100_000).map(str)
COMPOSITE = st.builds(lambda a, sep, b: a + sep + b, WORD | NUMBER, SEPARATORS, WORD | NUMBER)
TOKEN = st.one_of(WORD, WORD, WORD, NUMBER, COMPOSITE, SAFE_TEXT)

BUGGY_TOKEN = st.one_of(
    TOKEN,
    st.builds(
        lambda a, bad: a + bad,
        st.sampled_from(["10.0.0.1/", "@", "pid:", "U:", "U:x"]),
        st.text(st.sampled_from(_NON_ASCII_DIGITS + _SURROGATES), min_size=1, max_size=3),
    ),
)


def check_parse(argv: list[str]) -> None:
    """parse_legacy returns a command, or raises a one-line UsageError; nothing else."""
    before = list(argv)
    try:
        command = parse_legacy(argv)
    except UsageError as error:
        assert argv == before
        assert error.exit_code == 2
        message = str(error)
        assert message
        if not message.startswith(_KNOWN_MULTILINE):
            assert len(message.splitlines()) == 1, message
        return
    assert argv == before
    assert isinstance(command, COMMANDS)
    if isinstance(command, AttachCommand):
        assert isinstance(command.spec, AttachSpec)


@PROPERTY
@given(st.lists(SAFE_TEXT, max_size=8))
def test_parse_legacy_on_arbitrary_text_raises_only_usage_errors(argv):
    check_parse(argv)


@PROPERTY
@given(st.lists(TOKEN, max_size=8))
def test_parse_legacy_on_plausible_tokens_raises_only_usage_errors(argv):
    check_parse(argv)


def mostly(values: list[str]) -> st.SearchStrategy[str]:
    """A token usually drawn from ``values``, sometimes anything at all."""
    return st.one_of(
        st.sampled_from(values), st.sampled_from(values), st.sampled_from(values), TOKEN
    )


GOOD_GUESTS = ["c1", "web", "lxc:c1", "docker:web", "netns:blue", "pid:42", "/run/netns/x"]
GOOD_IFNAMES = ["br0", "br1", "eth1", "eth2", "a" * 15, "veth-x.1@y"]
OPTION_PAIRS = st.one_of(
    st.tuples(st.sampled_from(["-i", "-l"]), mostly(GOOD_IFNAMES)),
    st.tuples(st.just("-a"), mostly(["4", "6", "5"])),
    st.tuples(st.just("--mtu"), mostly(["68", "1500", "9000", "65535", "67", "65536", "x"])),
    st.tuples(st.sampled_from(["-v", "--verbose", "--create-bridge"])),
)


@PROPERTY
@given(
    st.lists(st.sampled_from(["-v", "--create-bridge", "--direct-phys", "--"]), max_size=2),
    mostly([*GOOD_IFNAMES, "dummy", "mac:02:00:00:00:00:01", "mac:", "tc"]),
    st.lists(OPTION_PAIRS, max_size=3),
    mostly([*GUESTS, *GOOD_GUESTS]),
    mostly(ADDRESSES + DHCP_MODES),
    st.lists(mostly(MACS), max_size=1),
)
def test_attach_command_lines_raise_only_usage_errors(globals_, host, options, guest, addr, rest):
    # Random lists mostly stop at the first token; these reach the address and MAC parsers.
    argv = [*globals_, host, *(word for pair in options for word in pair), guest, addr, *rest]
    check_parse(argv)


@PROPERTY
@given(
    st.lists(st.sampled_from(["-v", "--"]), max_size=1),
    st.sampled_from(["route", "rule", "tc"]),
    mostly(GUESTS),
    st.lists(TOKEN, max_size=5),
)
def test_passthrough_command_lines_raise_only_usage_errors(globals_, tool, guest, args):
    check_parse([*globals_, tool, guest, *args])


@PROPERTY
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("-i"), mostly(GOOD_IFNAMES)),
            st.tuples(st.just("--timeout"), mostly([*NUMBERS, "2.5", "86400", "86401"])),
            st.tuples(TOKEN),
        ),
        max_size=3,
    )
)
def test_wait_command_lines_raise_only_usage_errors(options):
    check_parse(["--wait", *(word for pair in options for word in pair)])


@PROPERTY
@given(st.lists(TOKEN, max_size=8))
def test_successful_parse_is_deterministic(argv):
    try:
        first = parse_legacy(argv)
    except UsageError as error:
        with pytest.raises(UsageError) as again:
            parse_legacy(argv)
        assert str(again.value) == str(error)
        return
    assert parse_legacy(argv) == first


# --- inputs that once crashed the parser ---


@settings(PROPERTY, report_multiple_bugs=False)
@given(st.lists(BUGGY_TOKEN, max_size=6))
@example(["br0", "c1", "10.0.0.1/\u00b2"])
def test_parse_legacy_with_non_ascii_digits_and_surrogates_raises_only_usage_errors(argv):
    try:
        parse_legacy(argv)
    except UsageError:
        pass


@settings(PROPERTY, report_multiple_bugs=False)
@given(st.lists(TOKEN, max_size=6))
@example(["br0", "c1", "10.0.0.1\nX"])
def test_every_usage_error_message_is_one_line(argv):
    try:
        parse_legacy(argv)
    except UsageError as error:
        assert len(str(error).splitlines()) == 1
