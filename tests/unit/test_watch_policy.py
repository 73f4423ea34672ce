"""The operator's policy for declarations (watch/policy.py): its format, which rule
decides, the default without a file, and a file that may not be trusted."""

from __future__ import annotations

import os

import pytest

from pipework.names import GuestRef
from pipework.watch.declare import from_file_text, from_labels
from pipework.watch.policy import (
    DEFAULT,
    PolicyError,
    guest_names,
    load,
    options,
    origin,
    parse,
)

POLICY = """\
# NICs for the lab's containers only
deny macvlan eth9                                  # never this one
allow macvlan,ipvlan eth*,ens* from label guest docker:lab-*
allow direct-phys ens5 guest web
allow bridge br* from label,env
"""


def decide(text, kind, interface, origin="label", guests=("docker:abc",), options=()):
    policy = parse(text, "/etc/pipework/policy.conf")
    return policy.decide(kind, interface, origin, guests, options)


def test_the_first_matching_rule_decides():
    rule = decide(POLICY, "macvlan", "eth9", guests=("docker:lab-1",))
    assert not isinstance(rule, str) and not rule.allow
    assert rule.where == "/etc/pipework/policy.conf:2" and rule.text == "deny macvlan eth9"


def test_a_guest_pattern_matches_the_container_name():
    rule = decide(POLICY, "ipvlan", "ens3", guests=("docker:0123abcd", "docker:lab-2"))
    assert not isinstance(rule, str) and rule.allow and rule.where.endswith(":3")


def test_a_pattern_without_a_colon_matches_the_name_alone():
    rule = decide(POLICY, "direct", "ens5", origin="file", guests=("lxc:web",))
    assert not isinstance(rule, str) and rule.allow


def test_the_source_restricts_a_rule():
    assert isinstance(decide(POLICY, "bridge", "br1", origin="file"), str)
    assert not isinstance(decide(POLICY, "bridge", "br1", origin="env"), str)


def test_no_matching_rule_refuses_naming_the_file():
    assert decide(POLICY, "ovs", "ovsbr0") == "no rule of /etc/pipework/policy.conf allows it"


def test_the_default_allows_linux_bridges_only_from_every_source():
    guests = ("docker:web",)
    for source in ("label", "env", "file"):
        assert DEFAULT.decide("bridge", "br1", source, guests) == DEFAULT.rules[0]
        for kind, interface in (("macvlan", "eth0"), ("direct", "eth0"), ("ovs", "ovsbr0")):
            refusal = DEFAULT.decide(kind, interface, source, guests)
            assert isinstance(refusal, str) and "Linux bridges only" in refusal


@pytest.mark.parametrize(
    "line",
    [
        "permit bridge br1",
        "allow bridge",
        "allow bridges br1",
        "allow bridge br1 from labels",
        "allow bridge br1 guest",
        "allow bridge br1 from label from env",
    ],
)
def test_a_line_that_is_no_rule_is_an_error_naming_it(line):
    with pytest.raises(PolicyError, match=r"policy.conf:2: "):
        parse("# ok\n" + line, "policy.conf")


def test_no_file_is_the_default(tmp_path):
    policy = load(str(tmp_path / "policy.conf"))
    assert policy.rules == DEFAULT.rules
    assert f"(no {tmp_path}/policy.conf)" in policy.fallback


def test_a_file_others_may_write_is_refused(tmp_path):
    path = tmp_path / "policy.conf"
    path.write_text("allow * *\n")
    os.chmod(path, 0o666)  # noqa: S103  (the point of the test)
    with pytest.raises(PolicyError, match="writable by others"):
        load(str(path))
    os.chmod(path, 0o644)
    assert load(str(path)).rules[0].text == "allow * *"


def test_a_link_is_not_followed(tmp_path):
    (tmp_path / "real.conf").write_text("allow * *\n")
    (tmp_path / "policy.conf").symlink_to(tmp_path / "real.conf")
    with pytest.raises(PolicyError):
        load(str(tmp_path / "policy.conf"))


def test_where_a_declaration_came_from():
    (label,) = from_labels({"pipework.attach": "br1 192.0.2.5/24"}, GuestRef("docker", "a" * 64),
                           "docker:web")  # fmt: skip
    (line,) = from_file_text("br1 lxc:web 192.0.2.6/24\n", "/etc/pipework/attachments.d/x.conf")
    assert origin(label) == "label" and guest_names(label) == ("docker:" + "a" * 64, "docker:web")
    assert origin(line) == "file" and guest_names(line) == ("lxc:web",)


def test_the_example_of_docs_watch_md_decides_as_it_says():
    from pathlib import Path

    text = Path(__file__).parents[2].joinpath("docs", "watch.md").read_text()
    example = text.split("```conf\n", 1)[1].split("```", 1)[0]
    policy = parse(example, "/etc/pipework/policy.conf")
    lab, web = ("docker:0a1b2c", "docker:lab-3"), ("docker:0a1b2c", "docker:web")
    allowed = policy.decide("macvlan", "ens4", "label", lab)
    assert not isinstance(allowed, str) and allowed.allow
    assert policy.decide("macvlan", "ens4", "label", web) == (
        "no rule of /etc/pipework/policy.conf allows it"
    )
    refused = policy.decide("direct", "ens4", "label", lab)
    assert not isinstance(refused, str) and not refused.allow
    assert refused.where.endswith(":3") and refused.text == "deny direct-phys ens*"
    assert text.count(f"{refused.where}: {refused.text}") == 1  # the sample log line
    files = ("lxc:web",)
    opts = ("allow-forward",)
    mine = policy.decide("ovs", "ovsbr9", "file", files, opts)
    assert not isinstance(mine, str) and mine.allow and mine.where.endswith(":8")
    assert not policy.decide("macvlan", "eth0", "file", files).allow  # type: ignore[union-attr]


def test_an_option_a_rule_does_not_list_is_refused():
    text = "allow bridge br1 from label with allow-forward\nallow bridge br* from label\n"
    forward = decide(text, "bridge", "br1", options=("allow-forward",))
    assert not isinstance(forward, str) and forward.where.endswith(":1")
    # br2 matches line 2, which does not list it: no rule allows --allow-forward there
    assert isinstance(decide(text, "bridge", "br2", options=("allow-forward",)), str)
    assert isinstance(decide(text, "bridge", "br1", options=("host-shim",)), str)
    plain = decide(text, "bridge", "br2")
    assert not isinstance(plain, str) and plain.allow


def test_the_default_gives_no_option_to_any_source():
    asked = ("allow-forward", "vlan-filtering")
    for source in ("label", "env", "file"):
        assert isinstance(DEFAULT.decide("bridge", "br1", source, ("lxc:web",), asked), str)


def test_the_options_a_declaration_asks_for():
    (label,) = from_labels(
        {"pipework.attach": "attach --to br1 --ip 192.0.2.5/24 --allow-forward"},
        GuestRef("docker", "a" * 64),
        "docker:web",
    )
    assert options(label.spec) == ("allow-forward",)


def test_an_unknown_option_is_an_error():
    with pytest.raises(PolicyError, match="unknown option 'forward'"):
        parse("allow bridge br1 with forward", "policy.conf")
