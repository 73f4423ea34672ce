"""pipework as a CNI plugin, run as a runtime runs it, against the spec's commands.

Every call is the real ``pipework`` executable with the ``CNI_*`` environment and
the configuration on stdin (CNI_PATH=/usr/lib/cni), on real namespaces and
bridges. IPAM is either Debian's ``host-local`` plugin, delegated to, or the
built-in ``"type": "pipework"``: every test that allocates addresses runs with
both, and reads the reservation files of the data dir (the two share host-local's
layout) as well as the kernel's state.

Debian's host-local (containernetworking-plugins 1.1.1) speaks up to 1.0.0: a
1.1.0 configuration given to it is refused with code 1, which the plugin passes
on, and it has no GC. The tests expect that from it as long as its VERSION says
so, and the 1.1.0 scenarios (GC) add with 1.0.0 then collect with 1.1.0.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .cni import CNI_DIR, invoke
from .conftest import (
    Cleanup,
    addresses,
    ip_json,
    link,
    require,
    sh,
    unique,
)

NET = "pwtconf"
HOST_LOCAL = f"{CNI_DIR}/host-local"
# not 192.0.2.0/24: this host's own uplink and default gateway (192.0.2.1) are in it,
# and isGateway puts the gateway address on a bridge
V4 = [{"subnet": "198.51.100.0/24"}]
V6 = [{"subnet": "2001:db8::/64"}]
V4_OTHER = [{"subnet": "203.0.113.0/24"}]


def host_local_versions() -> list[str]:
    proc = subprocess.run(
        [HOST_LOCAL],
        input=b'{"cniVersion": "1.0.0"}',
        capture_output=True,
        env={"CNI_COMMAND": "VERSION"},
        timeout=30,
        check=False,
    )
    versions = json.loads(proc.stdout).get("supportedVersions", [])
    return [str(v) for v in versions]


@pytest.fixture(params=["host-local", "pipework"])
def ipam_kind(request: pytest.FixtureRequest) -> str:
    kind = str(request.param)
    require(os.access(HOST_LOCAL, os.X_OK), f"{HOST_LOCAL} (containernetworking-plugins)")
    if kind == "pipework":
        present = importlib.util.find_spec("pipework.cni.hostlocal") is not None
        require(present, "pipework.cni.hostlocal (the built-in IPAM) is not there yet")
    return kind


class Net:
    """One CNI network of a test: its bridge (made by the plugin or by the test), its
    IPAM and data dir, and a namespace; each call is the real plugin's."""

    def __init__(
        self, kind: str, data_dir: Path, netns: str, bridge: str, cleanup: Cleanup
    ) -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.netns = netns
        self.bridge = bridge
        self.cleanup = cleanup
        self.cid = unique("pwtcid")

    def ipam(self, *range_sets: list[dict[str, str]], **extra: object) -> dict[str, object]:
        return {
            "type": self.kind,
            "dataDir": str(self.data_dir),
            "ranges": list(range_sets or (V4,)),
            **extra,
        }

    def config(
        self, version: str = "1.0.0", *, name: str = NET, ipam: object = None, **fields: object
    ) -> dict[str, object]:
        base: dict[str, object] = {
            "cniVersion": version,
            "name": name,
            "type": "pipework",
            "bridge": self.bridge,
            "ipam": self.ipam() if ipam is None else ipam,
        }
        base.update(fields)
        return {k: v for k, v in base.items() if v is not None}

    def call(
        self, config: dict[str, object], command: str, **kw: object
    ) -> tuple[int, dict[str, object] | None]:
        kw.setdefault("netns", self.netns)
        kw.setdefault("container_id", self.cid)
        return invoke(config, command, **kw)  # type: ignore[arg-type]

    def add(self, config: dict[str, object], **kw: object) -> dict[str, object]:
        code, out = self.call(config, "ADD", **kw)
        assert code == 0, out
        assert out is not None
        return out

    def check(
        self, config: dict[str, object], result: dict[str, object], **kw: object
    ) -> tuple[int, dict[str, object] | None]:
        return self.call(dict(config, prevResult=result), "CHECK", **kw)

    def delete(self, config: dict[str, object], **kw: object) -> None:
        code, out = self.call(config, "DEL", **kw)
        assert (code, out) == (0, None), out

    def reserved(self, name: str = NET) -> list[str]:
        """The addresses the data dir holds for network ``name``."""
        store = self.data_dir / name
        if not store.is_dir():
            return []
        return sorted(
            p.name for p in store.iterdir() if p.name != "lock" and not p.name.startswith("last_")
        )

    def made_bridge(self, name: str) -> str:
        """A bridge name the plugin will make, removed after the test."""
        self.cleanup.add(f"bridge {name}", lambda: sh("ip", "link", "del", name, check=False))
        return name


@pytest.fixture
def net(
    ipam_kind: str, tmp_path: Path, make_netns: Callable[..., str], cleanup: Cleanup
) -> Iterator[Net]:
    bridge = unique("pwtbr")
    cleanup.add(f"bridge {bridge}", lambda: sh("ip", "link", "del", bridge, check=False))
    yield Net(ipam_kind, tmp_path / "ipam", make_netns(), bridge, cleanup)


def inode(netns: str) -> int:
    return os.stat(f"/run/netns/{netns}").st_ino


def host_ends(mark_guest: str) -> list[dict[str, object]]:
    """The host's links whose pipework mark names the guest label ``mark_guest``."""
    return [
        entry
        for entry in ip_json("-d", "link", "show")
        if f"guest={mark_guest} " in str(entry.get("ifalias", ""))
    ]


def routes(netns: str, family: str = "-4") -> list[dict[str, object]]:
    return ip_json(family, "route", "show", netns=netns)


def bare(cidr: str) -> str:
    return cidr.partition("/")[0]


def ips_of(result: dict[str, object]) -> list[str]:
    return [str(ip["address"]) for ip in result.get("ips", [])]  # type: ignore[attr-defined]


def guest_iface(result: dict[str, object], ifname: str = "eth0") -> dict[str, object]:
    for entry in result["interfaces"]:  # type: ignore[attr-defined]
        if entry["name"] == ifname and entry.get("sandbox"):
            return entry  # type: ignore[no-any-return]
    raise AssertionError(f"no {ifname} with a sandbox in {result}")


def assert_error(code: int, out: dict[str, object] | None, expected: int) -> None:
    """The spec's failure: non-zero exit, and the error JSON on stdout with its code."""
    assert code != 0
    assert out is not None, "no JSON error on stdout"
    assert out.get("code") == expected, out
    assert isinstance(out.get("msg"), str) and out["msg"]
    assert "cniVersion" in out


# --- ADD, per version ------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_add_result_in_each_version_matches_the_live_state(net: Net, version: str) -> None:
    config = net.config(version)
    if net.kind == "host-local" and version not in host_local_versions():
        code, out = net.call(config, "ADD")
        assert_error(code, out, 1)  # the delegate's refusal, passed on
        assert net.reserved() == []
        assert host_ends(f"cni:{NET}/{net.cid}") == []
        return
    result = net.add(config)
    assert result["cniVersion"] == version
    assert set(result) == {"cniVersion", "interfaces", "ips", "dns"}
    bridge_entry, veth_entry, inside = result["interfaces"]  # type: ignore[misc]
    assert bridge_entry["name"] == net.bridge
    assert inside == guest_iface(result)
    assert inside["sandbox"] == f"/run/netns/{net.netns}"
    assert ("mtu" in inside) == (version == "1.1.0")
    (ip,) = result["ips"]  # type: ignore[misc]
    assert ("version" in ip) == (version < "1.0.0")
    if version < "1.0.0":
        assert ip["version"] == "4"
    assert ip["interface"] == 2
    assert ip["gateway"] == "198.51.100.1"

    eth0 = link("eth0", net.netns)
    assert eth0 is not None
    assert eth0["address"] == inside["mac"]
    assert "UP" in eth0["flags"]  # type: ignore[operator]
    if version == "1.1.0":
        assert eth0["mtu"] == inside["mtu"]
    assert addresses("eth0", net.netns) == [ip["address"]]
    subnet = [r for r in routes(net.netns) if r["dst"] == "198.51.100.0/24"]
    assert subnet and subnet[0]["dev"] == "eth0"
    veth = link(str(veth_entry["name"]))
    assert veth is not None
    assert veth["master"] == net.bridge
    assert veth["address"] == veth_entry["mac"]
    assert veth["ifalias"] == (f"pipework guest=cni:{NET}/{net.cid} if=eth0 ns={inode(net.netns)}")
    assert net.reserved() == [bare(str(ip["address"]))]
    if version >= "0.4.0":
        assert net.check(config, result) == (0, None)
    net.delete(config)
    assert link(str(veth_entry["name"])) is None
    assert net.reserved() == []


# --- addressing -------------------------------------------------------------------


def test_ipv6(net: Net) -> None:
    config = net.config(ipam=net.ipam(V6))
    result = net.add(config)
    (address,) = ips_of(result)
    assert address.startswith("2001:db8::") and address.endswith("/64")
    assert addresses("eth0", net.netns) == [address]
    assert net.reserved() == [bare(address)]


def test_dual_stack(net: Net) -> None:
    config = net.config(ipam=net.ipam(V4, V6), isDefaultGateway=True)
    result = net.add(config)
    v4, v6 = ips_of(result)
    assert v4.startswith("198.51.100.") and v6.startswith("2001:db8::")
    assert sorted(addresses("eth0", net.netns)) == sorted([v4, v6])
    assert {r["gateway"] for r in routes(net.netns) if r["dst"] == "default"} == {"198.51.100.1"}
    default6 = [r for r in routes(net.netns, "-6") if r["dst"] == "default"]
    assert [r["gateway"] for r in default6] == ["2001:db8::1"]
    assert sorted(net.reserved()) == sorted([bare(v4), bare(v6)])
    assert net.check(config, result) == (0, None)
    sh("ip", "-n", net.netns, "-6", "route", "del", "default")
    code, out = net.check(config, result)
    assert code != 0 and out is not None and "::/0" in str(out["msg"])


def test_two_ranges_give_one_address_from_each(net: Net) -> None:
    config = net.config(ipam=net.ipam(V4, V4_OTHER))
    result = net.add(config)
    first, second = ips_of(result)
    assert first.startswith("198.51.100.") and second.startswith("203.0.113.")
    assert sorted(addresses("eth0", net.netns)) == sorted([first, second])
    assert [ip["interface"] for ip in result["ips"]] == [2, 2]  # type: ignore[attr-defined]


def test_an_existing_bridge_is_reused_with_its_ifindex(
    net: Net, make_bridge: Callable[..., str]
) -> None:
    net.bridge = make_bridge(unique("pwtbr"))
    before = link(net.bridge)
    assert before is not None
    result = net.add(net.config())
    after = link(net.bridge)
    assert after is not None
    assert after["ifindex"] == before["ifindex"]
    assert result["interfaces"][0]["name"] == net.bridge  # type: ignore[index]
    net.delete(net.config())
    assert link(net.bridge) is not None  # not the plugin's to remove


def test_is_gateway_puts_the_gateway_on_the_bridge(net: Net) -> None:
    net.add(net.config(isGateway=True))
    assert addresses(net.bridge) == ["198.51.100.1/24"]
    assert not [r for r in routes(net.netns) if r["dst"] == "default"]


def test_without_is_gateway_the_bridge_gets_no_address(net: Net) -> None:
    net.add(net.config())
    assert addresses(net.bridge) == []


def test_is_default_gateway_makes_the_default_route(net: Net) -> None:
    # a /28 of its own: other tests' bridges on this host may hold the same /24 at the
    # same time, and the host would answer this gateway's ARP through the first of them
    ipam = net.ipam([{"subnet": "203.0.113.208/28"}])
    result = net.add(net.config(isDefaultGateway=True, ipam=ipam))
    defaults = [r for r in routes(net.netns) if r["dst"] == "default"]
    assert [(r["gateway"], r["dev"]) for r in defaults] == [("203.0.113.209", "eth0")]
    assert {"dst": "0.0.0.0/0", "gw": "203.0.113.209"} in result["routes"]  # type: ignore[operator]
    assert addresses(net.bridge) == ["203.0.113.209/28"]  # isDefaultGateway implies isGateway
    assert in_netns_pings(net.netns, "203.0.113.209")


def in_netns_pings(netns: str, address: str) -> bool:
    res = sh("ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", address, check=False)
    return res.returncode == 0


def test_ipam_routes_are_installed(net: Net) -> None:
    ipam = net.ipam(
        routes=[{"dst": "203.0.113.0/25"}, {"dst": "203.0.113.128/25", "gw": "198.51.100.9"}]
    )
    result = net.add(net.config(ipam=ipam))
    live = {r["dst"]: r.get("gateway") for r in routes(net.netns)}
    assert live["203.0.113.0/25"] == "198.51.100.1"  # no gw: through the address's gateway
    assert live["203.0.113.128/25"] == "198.51.100.9"
    assert [r["dst"] for r in result["routes"]] == ["203.0.113.0/25", "203.0.113.128/25"]  # type: ignore[attr-defined]


def test_mtu(net: Net) -> None:
    result = net.add(net.config("1.1.0" if net.kind == "pipework" else "1.0.0", mtu=1400))
    eth0 = link("eth0", net.netns)
    assert eth0 is not None and eth0["mtu"] == 1400
    veth = link(str(result["interfaces"][1]["name"]))  # type: ignore[index]
    assert veth is not None and veth["mtu"] == 1400
    if net.kind == "pipework":
        assert guest_iface(result)["mtu"] == 1400


def test_mac_from_cni_args(net: Net) -> None:
    # host-local refuses a key it does not read unless told to ignore it, as runtimes do
    result = net.add(net.config(), args="IgnoreUnknown=1;MAC=02:00:c0:00:02:42")
    eth0 = link("eth0", net.netns)
    assert eth0 is not None and eth0["address"] == "02:00:c0:00:02:42"
    assert guest_iface(result)["mac"] == "02:00:c0:00:02:42"


def test_mac_from_the_runtime_config_capability(net: Net) -> None:
    config = net.config(capabilities={"mac": True}, runtimeConfig={"mac": "02:00:c0:00:02:43"})
    result = net.add(config)
    eth0 = link("eth0", net.netns)
    assert eth0 is not None and eth0["address"] == "02:00:c0:00:02:43"
    assert guest_iface(result)["mac"] == "02:00:c0:00:02:43"


def test_requested_ip_from_cni_args(net: Net) -> None:
    result = net.add(net.config(), args="IP=198.51.100.77")
    assert ips_of(result) == ["198.51.100.77/24"]
    assert addresses("eth0", net.netns) == ["198.51.100.77/24"]
    assert net.reserved() == ["198.51.100.77"]


def test_requested_ip_from_the_runtime_config_capability(net: Net) -> None:
    config = net.config(capabilities={"ips": True}, runtimeConfig={"ips": ["198.51.100.78/24"]})
    result = net.add(config)
    assert ips_of(result) == ["198.51.100.78/24"]
    assert addresses("eth0", net.netns) == ["198.51.100.78/24"]
    assert net.reserved() == ["198.51.100.78"]


def test_an_empty_ipam_gives_a_layer_2_attachment(net: Net) -> None:
    config = net.config(ipam={})
    result = net.add(config)
    assert "ips" not in result
    eth0 = link("eth0", net.netns)
    assert eth0 is not None and "UP" in eth0["flags"]  # type: ignore[operator]
    assert addresses("eth0", net.netns) == []
    assert net.check(config, result) == (0, None)
    net.delete(config)
    assert link("eth0", net.netns) is None


# --- DEL ----------------------------------------------------------------------------


def test_del_without_add_succeeds(net: Net) -> None:
    net.delete(net.config())
    assert link(net.bridge) is None
    assert net.reserved() == []


def test_del_twice_succeeds(net: Net) -> None:
    config = net.config()
    result = net.add(config)
    net.delete(config)
    net.delete(config)
    assert link(str(result["interfaces"][1]["name"])) is None  # type: ignore[index]
    assert link("eth0", net.netns) is None
    assert net.reserved() == []


def test_del_with_an_empty_netns_removes_the_host_end_and_reservation(net: Net) -> None:
    config = net.config()
    result = net.add(config)
    net.delete(config, netns="")
    assert link(str(result["interfaces"][1]["name"])) is None  # type: ignore[index]
    assert net.reserved() == []


def test_del_after_the_netns_is_gone(net: Net) -> None:
    config = net.config()
    result = net.add(config)
    veth = str(result["interfaces"][1]["name"])  # type: ignore[index]
    sh("ip", "netns", "del", net.netns)
    net.delete(config)
    assert link(veth) is None
    assert host_ends(f"cni:{NET}/{net.cid}") == []
    assert net.reserved() == []


def test_del_removes_only_its_own_attachment(net: Net, make_netns: Callable[..., str]) -> None:
    config = net.config()
    mine = net.add(config)
    other_ns = make_netns()
    other = net.add(config, netns=other_ns, container_id="pwtother")
    net.delete(config)
    assert link(str(mine["interfaces"][1]["name"])) is None  # type: ignore[index]
    assert link(str(other["interfaces"][1]["name"])) is not None  # type: ignore[index]
    assert net.reserved() == [bare(ips_of(other)[0])]


# --- CHECK ----------------------------------------------------------------------------


@pytest.fixture
def added(net: Net) -> tuple[Net, dict[str, object], dict[str, object]]:
    ipam = net.ipam(routes=[{"dst": "203.0.113.0/25"}])
    config = net.config(ipam=ipam, isDefaultGateway=True)
    return net, config, net.add(config)


def test_check_passes_after_add(added: tuple[Net, dict[str, object], dict[str, object]]) -> None:
    net, config, result = added
    assert net.check(config, result) == (0, None)


def test_check_fails_when_an_address_was_removed(
    added: tuple[Net, dict[str, object], dict[str, object]],
) -> None:
    net, config, result = added
    sh("ip", "-n", net.netns, "addr", "del", ips_of(result)[0], "dev", "eth0")
    code, out = net.check(config, result)
    assert code != 0 and out is not None and isinstance(out["code"], int)
    assert bare(ips_of(result)[0]) in str(out["msg"])


def test_check_fails_when_the_veth_moved_to_another_bridge(
    added: tuple[Net, dict[str, object], dict[str, object]], make_bridge: Callable[..., str]
) -> None:
    net, config, result = added
    other = make_bridge(unique("pwtbr"))
    veth = str(result["interfaces"][1]["name"])  # type: ignore[index]
    sh("ip", "link", "set", veth, "master", other)
    code, out = net.check(config, result)
    assert code != 0 and out is not None and isinstance(out["code"], int)
    assert net.bridge in str(out["msg"])


def test_check_fails_when_the_mac_changed(
    added: tuple[Net, dict[str, object], dict[str, object]],
) -> None:
    net, config, result = added
    sh("ip", "-n", net.netns, "link", "set", "eth0", "address", "02:00:c0:00:02:99")
    code, out = net.check(config, result)
    assert code != 0 and out is not None and isinstance(out["code"], int)
    assert "MAC" in str(out["msg"])


@pytest.mark.parametrize("dst", ["203.0.113.0/25", "default"])
def test_check_fails_when_a_route_was_removed(
    added: tuple[Net, dict[str, object], dict[str, object]], dst: str
) -> None:
    net, config, result = added
    sh("ip", "-n", net.netns, "route", "del", dst)
    code, out = net.check(config, result)
    assert code != 0 and out is not None and isinstance(out["code"], int)


def test_check_fails_when_the_interface_is_gone(
    added: tuple[Net, dict[str, object], dict[str, object]],
) -> None:
    net, config, result = added
    sh("ip", "-n", net.netns, "link", "del", "eth0")
    code, out = net.check(config, result)
    assert code != 0 and out is not None and isinstance(out["code"], int)


def test_check_fails_when_the_reservation_was_released(
    added: tuple[Net, dict[str, object], dict[str, object]],
) -> None:
    net, config, result = added
    (net.data_dir / NET / bare(ips_of(result)[0])).unlink()
    code, out = net.check(config, result)
    assert code != 0 and out is not None and isinstance(out["code"], int)


# --- failures after IPAM release the addresses ---------------------------------------


def test_add_failing_on_a_taken_ifname_releases_the_address(net: Net) -> None:
    sh("ip", "-n", net.netns, "link", "add", "eth0", "type", "veth", "peer", "name", "pwtpeer")
    config = net.config()
    code, out = net.call(config, "ADD")
    assert code != 0 and out is not None and isinstance(out["code"], int)
    assert net.reserved() == []
    assert host_ends(f"cni:{NET}/{net.cid}") == []
    eth0 = link("eth0", net.netns)
    assert eth0 is not None and eth0["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]
    assert link("pwtpeer", net.netns) is not None  # the other interface is left alone
    assert addresses("eth0", net.netns) == []
    assert link(net.bridge) is None  # the bridge this ADD made goes with it


def test_add_failing_on_an_mtu_too_small_for_ipv6_releases_the_address(net: Net) -> None:
    config = net.config(mtu=1200, ipam=net.ipam(V4, V6))
    code, out = net.call(config, "ADD")
    assert code != 0 and out is not None and isinstance(out["code"], int)
    assert net.reserved() == []
    assert host_ends(f"cni:{NET}/{net.cid}") == []
    assert link("eth0", net.netns) is None
    assert link(net.bridge) is None


def test_add_into_a_missing_netns_is_code_3_and_allocates_nothing(net: Net) -> None:
    code, out = net.call(net.config(), "ADD", netns="/run/netns/pwt-no-such-ns")
    assert_error(code, out, 3)
    assert net.reserved() == []


def test_an_unknown_field_is_code_2_on_stdout(net: Net) -> None:
    code, out = net.call(net.config(hairpinMode=True), "ADD")
    assert_error(code, out, 2)
    assert link(net.bridge) is None


def test_check_without_prev_result_is_an_error(net: Net) -> None:
    code, out = net.call(net.config(), "CHECK")
    assert_error(code, out, 7)


# --- GC and STATUS ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_removes_only_this_networks_unlisted_attachments(
    net: Net, make_netns: Callable[..., str], key: str
) -> None:
    config = net.config()
    kept = net.add(config, container_id="pwtkept")
    stale_ns = make_netns()
    stale = net.add(config, netns=stale_ns, container_id="pwtstale")
    other_config = net.config(name="pwtconf2")
    other = net.add(other_config, netns=make_netns(), container_id="pwtstale")

    gc = dict(net.config("1.1.0"), **{key: [{"containerID": "pwtkept", "ifname": "eth0"}]})
    code, out = net.call(gc, "GC", netns="", container_id="")
    assert (code, out) == (0, None)

    assert link(str(stale["interfaces"][1]["name"])) is None  # type: ignore[index]
    assert link("eth0", stale_ns) is None
    assert link(str(kept["interfaces"][1]["name"])) is not None  # type: ignore[index]
    assert link(str(other["interfaces"][1]["name"])) is not None  # type: ignore[index]
    assert net.reserved("pwtconf2") == [bare(ips_of(other)[0])]
    if net.kind == "pipework" or "1.1.0" in host_local_versions():
        assert net.reserved() == [bare(ips_of(kept)[0])]


def test_status_of_a_bridge_network_is_ok(net: Net) -> None:
    # a delegate that does not speak 1.1.0 is not asked (host-local 1.1.1 here)
    config = net.config("1.1.0")
    assert net.call(config, "STATUS", netns="", container_id="") == (0, None)


def test_status_of_a_missing_master_is_code_50(net: Net) -> None:
    config = net.config("1.1.0", bridge=None, master="pwtnonic0", ipam={})
    code, out = net.call(config, "STATUS", netns="", container_id="")
    assert_error(code, out, 50)


def test_status_with_its_ipam_plugin_missing_is_code_50(net: Net) -> None:
    # not installed (yet) is "not available", not an invalid configuration
    config = net.config("1.1.0", ipam={"type": "pwt-no-such-ipam"})
    code, out = net.call(config, "STATUS", netns="", container_id="")
    assert_error(code, out, 50)


# --- chaining --------------------------------------------------------------------------


def test_chained_add_keeps_the_previous_interfaces_and_shifts_indexes(net: Net) -> None:
    first = net.add(net.config(name="pwtconf0"), ifname="eth1")
    bridge2 = net.made_bridge(unique("pwtbr"))
    ipam2 = net.ipam(V4_OTHER)
    config = net.config(name=NET, bridge=bridge2, ipam=ipam2, prevResult=first)
    result = net.add(config)
    before = first["interfaces"]
    assert isinstance(before, list)
    assert result["interfaces"][: len(before)] == before  # type: ignore[index]
    assert len(result["interfaces"]) == len(before) + 3  # type: ignore[arg-type]
    ips = result["ips"]
    assert isinstance(ips, list)
    assert ips[0] == first["ips"][0]  # type: ignore[index]
    assert ips[1]["interface"] == len(before) + 2
    assert result["interfaces"][ips[1]["interface"]]["name"] == "eth0"  # type: ignore[index]
    assert ips[1]["address"].startswith("203.0.113.")
    assert net.check(config, result) == (0, None)
    net.delete(net.config(name="pwtconf0"), ifname="eth1")
    net.delete(net.config(name=NET, bridge=bridge2, ipam=ipam2))
    assert net.reserved("pwtconf0") == [] and net.reserved() == []


# --- macvlan on a NIC --------------------------------------------------------------------


def test_macvlan_on_a_nic_add_check_del(net: Net, nic: Callable[..., str]) -> None:
    master = nic()
    config = net.config(bridge=None, master=master, mode="bridge")
    result = net.add(config)
    assert [i["name"] for i in result["interfaces"]] == ["eth0"]  # type: ignore[attr-defined]
    eth0 = link("eth0", net.netns)
    assert eth0 is not None
    assert eth0["linkinfo"]["info_kind"] == "macvlan"  # type: ignore[index]
    assert eth0["linkinfo"]["info_data"]["mode"] == "bridge"  # type: ignore[index]
    assert addresses("eth0", net.netns) == ips_of(result)
    assert net.check(config, result) == (0, None)
    net.delete(config)
    assert link("eth0", net.netns) is None
    assert link(master) is not None
    assert net.reserved() == []
