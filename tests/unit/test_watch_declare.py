"""Declarations read as pipework reads a command line: either syntax, the container
left out of a label, a container's own declarations limited to itself, and the
reconciler's log saying each outcome once."""

from __future__ import annotations

import io

import pytest

from pipework.cli.legacy import insert_guest
from pipework.names import GuestRef
from pipework.watch.declare import (
    BadDeclaration,
    Declaration,
    expand_macros,
    from_environment,
    from_file_text,
    from_labels,
    parse_declaration,
)
from pipework.watch.log import Log
from pipework.watch.reconcile import Reconciler

WEB = GuestRef("docker", "a" * 64)


def spec_of(text: str, **kw: object) -> Declaration:
    found = parse_declaration(text, "test", **kw)  # type: ignore[arg-type]
    assert isinstance(found, Declaration), found
    return found


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["br1", "198.51.100.10/24"], ["br1", "G", "198.51.100.10/24"]),
        (["br1", "-i", "eth2", "198.51.100.10/24"], ["br1", "-i", "eth2", "G", "198.51.100.10/24"]),
        (
            ["--mtu", "1400", "br1", "-l", "v0", "dhcp"],
            ["--mtu", "1400", "br1", "-l", "v0", "G", "dhcp"],
        ),
        (["--create-bridge", "lab0", "0/0"], ["--create-bridge", "lab0", "G", "0/0"]),
        (["--", "-odd", "0/0"], ["--", "-odd", "G", "0/0"]),
    ],
)
def test_the_guest_goes_after_the_host_interface_and_its_options(words, expected):
    assert insert_guest(words, "G") == expected


def test_a_label_in_the_original_syntax_attaches_its_container():
    found = spec_of("br1 -i eth2 198.51.100.10/24@198.51.100.1", implied=WEB)
    assert found.guest == WEB and found.spec.host_if == "br1"
    assert found.spec.container_ifname == "eth2"
    assert [str(a) for a in found.spec.addressing.addresses] == ["198.51.100.10/24"]
    assert [str(g) for g in found.spec.addressing.gateways] == ["198.51.100.1"]


def test_a_label_in_the_modern_syntax_attaches_its_container():
    found = spec_of("attach --to br1 --ip 203.0.113.5/24 --ifname eth3", implied=WEB)
    assert (found.guest, found.spec.container_ifname) == (WEB, "eth3")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("br1", "missing"),
        ("tc qdisc add dev eth1 root netem", "not declared"),
        ("br1 'unclosed", "cannot split"),
        ("br1 198.51.100.10/24\nbr2 198.51.100.11/24", "one command line"),
        ("br1 web 198.51.100.10/24", "invalid address"),  # a label may not name a guest
    ],
)
def test_what_is_no_declaration_says_why(text, why):
    found = parse_declaration(text, "label pipework.attach of docker:web", implied=WEB)
    assert isinstance(found, BadDeclaration) and why in found.error


def test_a_label_suffix_names_the_interface_unless_the_text_names_another():
    labels = {
        "pipework.attach.eth2": "br1 198.51.100.10/24",
        "pipework.attach.eth3": "br1 -i eth4 198.51.100.11/24",
        "unrelated": "br9 nonsense",
    }
    eth2, eth3 = from_labels(labels, WEB, "docker:web")
    assert isinstance(eth2, Declaration) and eth2.spec.container_ifname == "eth2"
    assert isinstance(eth3, BadDeclaration) and "not eth3" in eth3.error


def test_a_container_may_declare_only_itself():
    own = (WEB, GuestRef(None, "web"))
    env = {
        "pipework_cmd": "br1 @CONTAINER_NAME@ 198.51.100.20/24",
        "pipework_cmd_eth2": "pipework br1 -i eth2 web 198.51.100.21/24",
        "pipework_cmd_x": "br1 db 198.51.100.22/24",
        "PATH": "/bin",
    }
    found = from_environment(env, own, "docker:web", {"@CONTAINER_NAME@": "web"})
    assert [type(f).__name__ for f in found] == ["Declaration", "Declaration", "BadDeclaration"]
    assert all(f.guest == WEB for f in found if isinstance(f, Declaration))  # the canonical one
    assert "names db" in found[2].error  # type: ignore[union-attr]


def test_macros_are_replaced_and_unknown_ones_left_as_they_are():
    values = {"@CONTAINER_NAME@": "web_3", "@INSTANCE@": "3"}
    text = "br1 @CONTAINER_NAME@ 198.51.100.1@INSTANCE@/24 @NODE_NUM@"
    assert expand_macros(text, values) == "br1 web_3 198.51.100.13/24 @NODE_NUM@"


def test_a_file_skips_comments_and_names_each_line():
    text = "# the lab\n\n  br1 lxc:web 198.51.100.30/24  \nbr1 nope\n"
    good, bad = from_file_text(text, "/etc/pipework/attachments.d/lab.conf")
    assert isinstance(good, Declaration) and good.guest == GuestRef("lxc", "web")
    assert good.source.endswith("lab.conf:3")
    assert isinstance(bad, BadDeclaration) and bad.source.endswith("lab.conf:4")


def test_the_reconciler_says_an_unchanged_outcome_once():
    out = io.StringIO()
    reconciler = Reconciler(Log(stream=out))
    bad = BadDeclaration("f.conf:1", "br1 nope", "missing an address")
    first = reconciler.run([bad])
    second = reconciler.run([bad])
    assert (first.invalid, second.invalid, first.ok) == (1, 1, False)
    assert out.getvalue().count("invalid: f.conf:1") == 1


def test_json_log_lines_are_one_object_each():
    import json

    out = io.StringIO()
    Log(json=True, stream=out).say("attached", "netns:a eth1 to br1", source="f.conf:1")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["action"] == "attached" and record["source"] == "f.conf:1"


def test_text_log_lines_show_control_characters_instead_of_obeying_them():
    out = io.StringIO()
    Log(stream=out).say("invalid", "label of docker:\x1b[2Jweb")
    assert "\x1b" not in out.getvalue() and "\\x1b" in out.getvalue()
