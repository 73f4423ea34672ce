"""The built-in IPAM's own address handling, against ``ipaddress`` as the reference.

``hostlocal`` parses and writes addresses with ``inet_pton`` and integers so that a
plugin run does not pay for importing ``ipaddress``; these tests hold it to what
``ipaddress`` accepts and writes (the file names host-local's Go code writes too),
and check that the import stays cheap.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pipework.cni import hostlocal

NET = "pwtnet"

PARSE_CASES = [
    "192.0.2.1",
    "0.0.0.0",  # noqa: S104 - parsed, never bound
    "255.255.255.255",
    "256.0.0.1",
    "192.0.2.01",
    "192.0.2.0001",
    "192.0.2",
    "192.0.2.1.5",
    "192.0.2.",
    ".192.0.2.1",
    "0x1.0.0.1",
    " 192.0.2.1",
    "192.0.2.1 ",
    "192.0.2.1\n",
    "192.0.2.1\x00",
    "192.0.2.1/24",
    "\u0661.\u0662.\u0663.\u0664",
    "",
    ":",
    "::",
    ":::",
    "::1",
    "1::",
    ":1::",
    "1::2::3",
    "1:::2",
    "::1:",
    "1::2:",
    "2001:db8::1",
    "2001:DB8::A",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "2001:db8:0:0:0:0:0:1:2",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6::7:8",
    "12345::",
    "00000::",
    "g::",
    "fe80::1%eth0",
    "[2001:db8::1]",
    "::ffff:192.0.2.1",
    "::ffff:c000:201",
    "::ffff:192.0.2.01",
    "::ffff:0:0",
    "::192.0.2.1",
    "::1.2.3",
    "1:2:3:4:5:6:192.0.2.1",
    "1:2:3:4:5:6:7:192.0.2.1",
    "1:2:3:4:5::192.0.2.1",
    "192.0.2.1::",
    "::192.0.2.1:1",
]


def seeded(seed: int) -> random.Random:
    """Repeatable inputs: a failure names the same text on every run."""
    return random.Random(seed)  # noqa: S311 - test inputs, not secrets


def reference_parse(text: str) -> tuple[int, int] | None:
    """What the ipaddress-based implementation made of a text (mapped IPv6 as IPv4)."""
    if "%" in text or not text.isascii():
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version, int(ip)


@pytest.mark.parametrize("text", PARSE_CASES)
def test_an_address_text_is_taken_exactly_when_ipaddress_takes_it(text: str) -> None:
    assert hostlocal._parse_ip_text(text) == reference_parse(text)


def test_mutated_address_texts_are_taken_exactly_when_ipaddress_takes_them() -> None:
    # one to three characters inserted, deleted or replaced in valid texts: the edges
    # (group counts, "::" placement, embedded IPv4, leading zeros) where parsers differ
    rng = seeded(5)
    seeds = [str(ipaddress.IPv6Address(v)) for v in random_ipv6_values(500)]
    seeds += [ipaddress.IPv6Address(v).exploded for v in random_ipv6_values(100)]
    seeds += ["::ffff:192.0.2.1", "1:2:3:4:5:6:192.0.2.1", "::192.0.2.1", "198.51.100.255"]
    differ = []
    for _ in range(20000):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars) + 1)
            edit = rng.randrange(3)
            if edit == 0:
                chars.insert(at, rng.choice("0123456789abcdefg:."))
            elif at < len(chars):
                if edit == 1:
                    del chars[at]
                else:
                    chars[at] = rng.choice("0123456789abcdefg:.")
        text = "".join(chars)
        if hostlocal._parse_ip_text(text) != reference_parse(text):
            differ.append(text)
    assert differ == []


def random_ipv6_values(count: int) -> list[int]:
    """Values whose groups are zero often, in runs of every length and position."""
    rng = seeded(6)
    values = [0, 1, (1 << 128) - 1, 0x1020304, 0x20000, 0xFFFF << 32]
    for _ in range(count):
        groups = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(1 << 16))) for _ in range(8)]
        values.append(int.from_bytes(b"".join(g.to_bytes(2, "big") for g in groups), "big"))
    return values


def test_ipv6_text_is_ipaddress_canonical_form() -> None:
    differ = [
        v
        for v in random_ipv6_values(20000)
        if hostlocal._text((6, v)) != str(ipaddress.IPv6Address(v))
    ]
    assert differ == []


def test_ipv4_text_is_dotted_decimal() -> None:
    rng = seeded(4)
    values = [0, 1, 0xFFFFFFFF, *(rng.randrange(1 << 32) for _ in range(2000))]
    assert [hostlocal._text((4, v)) for v in values] == [
        str(ipaddress.IPv4Address(v)) for v in values
    ]


def test_an_ipv4_compatible_ipv6_reservation_is_named_in_hex_as_host_local_names_it(
    tmp_path: Path,
) -> None:
    # glibc's inet_ntop would write "::1.2.3.2"; Go and ipaddress write "::102:302"
    conf = {"type": "pipework", "dataDir": str(tmp_path), "ranges": [[{"subnet": "::102:300/125"}]]}
    result = hostlocal.add(conf, NET, "c1", "eth0")
    assert result["ips"] == [{"address": "::102:302/125", "gateway": "::102:301"}]
    assert (tmp_path / NET / "::102:302").read_bytes() == b"c1\r\neth0"
    assert hostlocal.held(conf, NET, "c1", "eth0") == ["::102:302"]


def test_an_ipv4_mapped_request_is_given_as_the_ipv4_address(tmp_path: Path) -> None:
    conf = {"type": "pipework", "dataDir": str(tmp_path), "ranges": [[{"subnet": "192.0.2.0/29"}]]}
    result = hostlocal.add(conf, NET, "c1", "eth0", ["::ffff:192.0.2.5"])
    assert result["ips"] == [{"address": "192.0.2.5/29", "gateway": "192.0.2.1"}]
    assert (tmp_path / NET / "192.0.2.5").read_bytes() == b"c1\r\neth0"


def test_importing_it_loads_no_costly_module() -> None:
    # the plugin runs as "python -IS" once per container: every import is paid each time
    src = str(Path(hostlocal.__file__).resolve().parents[2])
    code = (
        f"import sys; sys.path.insert(0, {src!r}); "
        "import pipework.inet, pipework.cni.errors; before = set(sys.modules); "
        "import pipework.cni.hostlocal; print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-IS", "-c", code], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    assert "pipework.cni.hostlocal" in out
    costly = {"ipaddress", "typing", "dataclasses", "re", "collections", "inspect", "functools"}
    assert costly.isdisjoint(out), out
