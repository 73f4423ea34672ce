"""``pipework shim`` parses its arguments before any change, and refuses what it cannot do."""

from __future__ import annotations

import pytest

from pipework.errors import UsageError
from pipework.marks import parse_shim_mark, parse_veth_mark, shim_mark
from pipework.ops.shim import parse_shim


def test_nic_address_and_routes():
    req = parse_shim(["eth0", "192.0.2.250/32", "--route", "192.0.2.192/27", "-v"])
    assert req is not None
    assert (req.nic, str(req.address), [str(r) for r in req.routes]) == (
        "eth0",
        "192.0.2.250/32",
        ["192.0.2.192/27"],
    )
    assert req.verbose and not req.remove


def test_remove_takes_the_nic_alone():
    req = parse_shim(["eth0", "--remove"])
    assert req is not None and req.remove and req.address is None
    with pytest.raises(UsageError):
        parse_shim(["eth0", "192.0.2.250/32", "--remove"])


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["eth0"],
        ["eth0", "192.0.2.250"],  # no prefix
        ["eth0", "192.0.2.250/32", "--route", "0.0.0.0/0"],
        ["eth0", "192.0.2.250/32", "--route"],
        ["bad/name", "192.0.2.250/32"],
        ["eth0", "192.0.2.250/32", "--what"],
    ],
)
def test_refused(argv):
    with pytest.raises(UsageError):
        parse_shim(argv)


def test_help():
    assert parse_shim(["--help"]) is None


def test_the_shim_mark_is_not_a_veth_mark():
    mark = shim_mark("eth0", auto=True)
    assert parse_shim_mark(mark) == {"kind": "shim", "parent": "eth0", "auto": "1"}
    assert parse_veth_mark(mark) is None
    assert parse_shim_mark("pipework bridge") is None


def test_detach_takes_shim_nic():
    from pipework.cli.modern import parse_modern

    command = parse_modern(["detach", "shim:eth0", "-v"])
    assert command.values["shim"] == "eth0" and command.guest is None


@pytest.mark.parametrize(
    "argv",
    [
        ["detach", "shim:eth0", "--all"],
        ["detach", "shim:eth0", "--ifname", "eth1"],
        ["detach", "shim:"],
        ["detach", "shim:" + "x" * 16],
    ],
)
def test_detach_shim_refuses_what_it_cannot_do(argv):
    from pipework.cli.modern import parse_modern

    with pytest.raises(UsageError):
        parse_modern(argv)
