"""The modern syntax's DHCP options become the same DhcpRequest as the original's."""

from __future__ import annotations

import pytest

from pipework.cli.legacy import parse_legacy
from pipework.cli.modern import ModernCommand, parse_modern
from pipework.errors import UsageError
from pipework.model import DhcpRequest


def dhcp_of(*argv: str) -> DhcpRequest | None:
    command = parse_modern(["attach", "c1", "--to", "br1", *argv])
    assert isinstance(command, ModernCommand) and command.spec is not None
    return command.spec.addressing.dhcp


def test_dhcp_is_the_built_in_client() -> None:
    assert dhcp_of("--dhcp") == DhcpRequest("dhcp")


def test_dhcp_keep_is_dhcp_f() -> None:
    assert dhcp_of("--dhcp-keep") == DhcpRequest("dhcp", True)
    legacy = parse_legacy(["br1", "c1", "dhcp-f"])
    assert legacy.spec.addressing.dhcp == DhcpRequest("dhcp", True)  # type: ignore[union-attr]


def test_built_in_options() -> None:
    assert dhcp_of("--dhcp", "--hostname", "web", "--dns", "--dhcp-timeout", "5") == DhcpRequest(
        "dhcp", hostname="web", dns=True, timeout=5.0
    )


def test_external_client_with_options() -> None:
    assert dhcp_of("--dhcp-client", "udhcpc", "--dhcp-options", "-t 5") == DhcpRequest(
        "udhcpc", False, "-t 5"
    )


def test_legacy_dns_and_timeout_go_with_dhcp() -> None:
    command = parse_legacy(["--dns", "--dhcp-timeout", "2.5", "br1", "c1", "dhcp"])
    assert command.spec.addressing.dhcp == DhcpRequest("dhcp", dns=True, timeout=2.5)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hostname", "web"], "need --dhcp"),
        (["--dhcp", "--dhcp-client", "dhclient"], "external client"),
        (["--dhcp-client", "dhcp"], "unknown DHCP client"),
        (["--dhcp", "--dhcp-options", "-q"], "are for --dhcp-client"),
        (["--dhcp-client", "dhcpcd", "--dns"], "built-in client"),
        (["--dhcp", "--hostname", "a\tb"], "control characters"),
        (["--dhcp", "--dhcp-timeout", "0"], "must be more than 0"),
    ],
)
def test_bad_dhcp_options_are_named(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        dhcp_of(*argv)


def test_dhcpv6_in_both_syntaxes() -> None:
    assert dhcp_of("--dhcp6") == DhcpRequest("dhcp", family=6)
    legacy = parse_legacy(["br1", "-a", "6", "c1", "dhcp"])
    assert legacy.spec.addressing.dhcp == DhcpRequest("dhcp", family=6)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["br1", "-a", "6", "c1", "udhcpc"], "DHCPv6 is the built-in client's"),
        (["br1", "-a", "6", "c1", "dhcp-f"], "not renewed yet"),
    ],
)
def test_dhcpv6_limits_are_named(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_legacy(argv)


def test_dhcp6_excludes_dhcp() -> None:
    with pytest.raises(UsageError, match="--dhcp6 asks for an IPv6 lease"):
        dhcp_of("--dhcp6", "--dhcp")
