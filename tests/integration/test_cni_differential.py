"""pipework against the reference bridge plugin, given the same network configuration.

One netconf (cniVersion 1.0.0: bridge, isGateway, isDefaultGateway, mtu, host-local
IPAM with a range and a route) goes to Debian's ``/usr/lib/cni/bridge`` as
``"type": "bridge"`` and to pipework as ``"type": "pipework"``, each into a
namespace of its own on a bridge of its own, each IPAM with a data dir of its own
(so both hand out the same first address). The container's side must come out the
same (addresses, routes, MTU, link up, default route), and so must the bridge's
gateway addresses, the host end's MTU and port, and the result's structure: the
same keys, three interfaces in the same roles (bridge, host end, container), the
same ips with the same interface index, the same routes and dns.

Deliberate differences, not compared:

- the host end's name: the reference's is ``veth`` and 8 random hex digits,
  pipework's ``veth`` and 10 hex digits of a hash of network, container ID and
  ifname (found again without state); so are MACs, random on both sides;
- the bridge's MAC: the reference's bridge keeps the address it was made with,
  pipework's takes its lowest port's (the kernel's default for a bridge);
- IPv6 DAD: the reference turns it off on the container interface by sysctl
  (accept_dad=0, unless its enableDad), pipework leaves the sysctl alone and adds
  the addresses with the nodad flag; both leave a usable, non-tentative address;
- gratuitous ARP: the reference sets arp_notify=1 on the container interface so
  the kernel announces, pipework sends the announcement itself and leaves the
  sysctl alone;
- the container interface's txqueuelen (the reference's veth inside has none);
- CHECK of a result whose IPAM route has no gw: the reference's refuses its own
  (it looks for the route without a gateway, having installed it through one),
  pipework's accepts it; the CHECK comparison gives that route its gateway;
- the reference's ipMasq, hairpinMode, vlan trunks and the like are not used: the
  configuration is what both implement.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from .cni import CNI_DIR, invoke
from .conftest import PIPEWORK, Cleanup, ip_json, link, require, sh, unique

REFERENCE = f"{CNI_DIR}/bridge"
NET = "pwtdiff"
# not 192.0.2.0/24: this host's own uplink and default gateway are in it
STACKS = {
    "v4": [[{"subnet": "198.51.100.0/24"}]],
    "dual": [[{"subnet": "198.51.100.0/24"}], [{"subnet": "2001:db8:7::/64"}]],
}


class Side:
    """One implementation's attachment: its namespace, bridge, data dir and result."""

    def __init__(self, kind: str, netns: str, bridge: str, data_dir: Path, stack: str) -> None:
        self.kind = kind
        self.netns = netns
        self.bridge = bridge
        self.data_dir = data_dir
        self.config: dict[str, object] = {
            "cniVersion": "1.0.0",
            "name": NET,
            "type": kind,
            "bridge": bridge,
            "isGateway": True,
            "isDefaultGateway": True,
            "mtu": 1400,
            "ipam": {
                "type": "host-local",
                "dataDir": str(data_dir),
                "ranges": STACKS[stack],
                "routes": [{"dst": "203.0.113.0/24"}],
            },
        }
        self.program = REFERENCE if kind == "bridge" else PIPEWORK
        self.result: dict[str, object] = {}

    def call(self, command: str) -> tuple[int, dict[str, object] | None]:
        return invoke(
            self.config, command, netns=self.netns, container_id="pwtdiffcid", program=self.program
        )

    def add(self) -> None:
        code, out = self.call("ADD")
        assert code == 0, (self.kind, out)
        assert out is not None
        self.result = out

    def reserved(self) -> list[str]:
        store = self.data_dir / NET
        names = [p.name for p in store.iterdir()] if store.is_dir() else []
        return sorted(n for n in names if n != "lock" and not n.startswith("last_"))


@pytest.fixture(params=sorted(STACKS))
def sides(
    request: pytest.FixtureRequest,
    make_netns: Callable[..., str],
    cleanup: Cleanup,
    tmp_path: Path,
) -> tuple[Side, Side]:
    require(os.access(REFERENCE, os.X_OK), f"{REFERENCE} (containernetworking-plugins)")
    # The reference's isGateway turns forwarding on host-wide (ipv4 ip_forward, ipv6
    # all.forwarding, which adds each interface's subnet-router anycast route): put
    # the host's own values back, so the host is left as it was found.
    for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
        value = Path(path).read_text()
        cleanup.add(f"{path} = {value.strip()}", lambda p=path, v=value: Path(p).write_text(v))
    made = []
    for kind in ("bridge", "pipework"):
        bridge = unique("pwtbr")
        cleanup.add(f"bridge {bridge}", lambda b=bridge: sh("ip", "link", "del", b, check=False))
        side = Side(kind, make_netns(), bridge, tmp_path / kind, str(request.param))
        # the reference's own DEL is the way its veth goes before the namespace does
        cleanup.add(f"{kind} DEL", lambda s=side: s.call("DEL"))
        side.add()
        made.append(side)
    return made[0], made[1]


def guest_addresses(side: Side) -> list[tuple[str, int, str | None]]:
    return sorted(
        (str(a["local"]), int(a["prefixlen"]), a.get("broadcast"))
        for entry in ip_json("addr", "show", "dev", "eth0", netns=side.netns)
        for a in entry["addr_info"]  # type: ignore[attr-defined]
        if a.get("scope") == "global"
    )


def bridge_addresses(side: Side) -> list[tuple[str, int, str | None]]:
    return sorted(
        (str(a["local"]), int(a["prefixlen"]), a.get("broadcast"))
        for entry in ip_json("addr", "show", "dev", side.bridge)
        for a in entry["addr_info"]  # type: ignore[attr-defined]
        if a.get("scope") == "global"
    )


def guest_routes(side: Side) -> list[tuple[object, ...]]:
    """Every route of the namespace, in the main table and the local one, with the
    attributes that make it behave; link-local ones left out."""
    seen = []
    for family in ("-4", "-6"):
        for route in ip_json(family, "route", "show", "table", "all", netns=side.netns):
            dst = str(route.get("dst"))
            if dst.startswith(("fe80:", "ff00:")) or route.get("dev") == "lo":
                continue
            seen.append(
                tuple(
                    str(route.get(k))
                    for k in ("type", "dst", "gateway", "dev", "scope", "prefsrc", "table")
                )
            )
    return sorted(seen)


def shape(result: dict[str, object]) -> dict[str, object]:
    """What the two results must share: keys, the interfaces' roles, ips, routes, dns."""
    interfaces = result["interfaces"]
    assert isinstance(interfaces, list)
    return {
        "keys": sorted(result),
        "interface keys": [sorted(i) for i in interfaces],
        "roles": [
            ("sandbox" if i.get("sandbox") else "host", i["name"] == "eth0") for i in interfaces
        ],
        "ips": sorted(json.dumps(ip, sort_keys=True) for ip in result["ips"]),  # type: ignore[attr-defined]
        "routes": sorted(json.dumps(r, sort_keys=True) for r in result["routes"]),  # type: ignore[attr-defined]
        "dns": result["dns"],
    }


def test_results_have_the_same_structure(sides: tuple[Side, Side]) -> None:
    reference, ours = sides
    assert shape(ours.result) == shape(reference.result)
    for side in sides:
        interfaces = side.result["interfaces"]
        assert isinstance(interfaces, list)
        assert interfaces[0]["name"] == side.bridge
        assert interfaces[2]["sandbox"] == f"/run/netns/{side.netns}"


def test_the_container_has_the_same_addresses(sides: tuple[Side, Side]) -> None:
    reference, ours = sides
    assert guest_addresses(ours) == guest_addresses(reference)
    assert guest_addresses(ours)  # not two empty lists


def test_the_container_has_the_same_routes(sides: tuple[Side, Side]) -> None:
    reference, ours = sides
    assert guest_routes(ours) == guest_routes(reference)


def test_the_container_has_the_same_default_routes(sides: tuple[Side, Side]) -> None:
    def defaults(side: Side) -> list[tuple[str, str]]:
        return sorted(
            (str(r["gateway"]), str(r["dev"]))
            for family in ("-4", "-6")
            for r in ip_json(family, "route", "show", "default", netns=side.netns)
        )

    reference, ours = sides
    assert defaults(ours) == defaults(reference)
    assert ("198.51.100.1", "eth0") in defaults(ours)


def test_the_container_interface_has_the_same_mtu_and_is_up(sides: tuple[Side, Side]) -> None:
    def state(side: Side) -> tuple[object, ...]:
        eth0 = link("eth0", side.netns)
        assert eth0 is not None
        return eth0["mtu"], "UP" in eth0["flags"], eth0["operstate"]  # type: ignore[operator]

    reference, ours = sides
    assert state(ours) == state(reference) == (1400, True, "UP")


def test_the_bridge_gets_the_same_gateway_addresses(sides: tuple[Side, Side]) -> None:
    reference, ours = sides
    assert bridge_addresses(ours) == bridge_addresses(reference)
    assert bridge_addresses(ours)


def test_the_host_end_is_the_same_kind_of_port(sides: tuple[Side, Side]) -> None:
    def host_end(side: Side) -> tuple[object, ...]:
        name = side.result["interfaces"][1]["name"]  # type: ignore[index]
        veth = link(str(name))
        assert veth is not None
        bridge = link(side.bridge)
        assert bridge is not None
        return (
            veth["master"] == side.bridge,
            veth["mtu"],
            veth["operstate"],
            veth["linkinfo"]["info_kind"],  # type: ignore[index]
            bridge["mtu"],
        )

    reference, ours = sides
    assert host_end(ours) == host_end(reference)


def test_del_leaves_the_same(sides: tuple[Side, Side]) -> None:
    def after_del(side: Side) -> tuple[object, ...]:
        assert side.call("DEL") == (0, None)
        veth = str(side.result["interfaces"][1]["name"])  # type: ignore[index]
        return (
            link("eth0", side.netns) is None,
            link(veth) is None,
            side.reserved(),
            link(side.bridge) is not None,
            bridge_addresses(side),
        )

    reference, ours = sides
    before = bridge_addresses(reference)
    assert after_del(ours) == after_del(reference) == (True, True, [], True, before)


def test_each_checks_its_own_result(sides: tuple[Side, Side]) -> None:
    """The IPAM route without a gw is given its gateway in the prevResult: the reference
    (1.1.1) fails CHECK on its own result otherwise, looking for a route with no gateway
    where it installed one through the address's gateway, as pipework does."""
    for side in sides:
        prev = json.loads(json.dumps(side.result))
        for route in prev["routes"]:
            if route["dst"] == "203.0.113.0/24":
                route["gw"] = "198.51.100.1"
        config = dict(side.config, prevResult=prev)
        code, out = invoke(
            config, "CHECK", netns=side.netns, container_id="pwtdiffcid", program=side.program
        )
        assert (code, out) == (0, None), side.kind


def test_pipework_checks_a_route_without_gw_as_it_installed_it(sides: tuple[Side, Side]) -> None:
    _reference, ours = sides
    config = dict(ours.config, prevResult=ours.result)
    code, out = invoke(
        config, "CHECK", netns=ours.netns, container_id="pwtdiffcid", program=ours.program
    )
    assert (code, out) == (0, None)
