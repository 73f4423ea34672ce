"""The built-in CNI IPAM (``pipework.cni.hostlocal``) on a temporary data dir.

Each test reads the store back from disk: the files host-local would see are
the effect that matters, not only what ``add`` returns.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from pipework.cni import errors as codes
from pipework.cni import hostlocal
from pipework.cni.errors import CniError

NET = "pwtnet"


def v4(data_dir: Path, subnet: str = "192.0.2.0/29", **extra: object) -> dict[str, object]:
    return {"type": "pipework", "dataDir": str(data_dir), "ranges": [[{"subnet": subnet, **extra}]]}


def store(data_dir: Path) -> Path:
    return data_dir / NET


def reservations(data_dir: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in store(data_dir).iterdir()
        if p.name not in ("lock",) and not p.name.startswith("last_reserved_ip.")
    }


def addresses(result: dict[str, object]) -> list[str]:
    ips = result["ips"]
    assert isinstance(ips, list)
    return [ip["address"] for ip in ips]


def error(call: object, *args: object, **kw: object) -> CniError:
    assert callable(call)
    with pytest.raises(CniError) as info:
        call(*args, **kw)
    return info.value


# --- allocation order -------------------------------------------------------------------


def test_first_address_skips_the_gateway_and_writes_host_locals_files(tmp_path: Path) -> None:
    result = hostlocal.add(v4(tmp_path), NET, "c1", "eth0")
    assert result == {
        "cniVersion": "1.0.0",
        "ips": [{"address": "192.0.2.2/29", "gateway": "192.0.2.1"}],
    }
    assert (store(tmp_path) / "192.0.2.2").read_bytes() == b"c1\r\neth0"
    assert (store(tmp_path) / "last_reserved_ip.0").read_bytes() == b"192.0.2.2"
    assert (store(tmp_path) / "lock").exists()


def test_store_modes_are_host_locals(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        hostlocal.add(v4(tmp_path / "data"), NET, "c1", "eth0")
    finally:
        os.umask(old)
    net = tmp_path / "data" / NET
    assert stat.S_IMODE(net.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o755
    assert stat.S_IMODE((net / "192.0.2.2").stat().st_mode) == 0o644
    assert stat.S_IMODE((net / "last_reserved_ip.0").stat().st_mode) == 0o644
    assert stat.S_IMODE((net / "lock").stat().st_mode) == 0o750  # go-filemutex's mode


def test_next_allocation_continues_after_the_last_reserved(tmp_path: Path) -> None:
    hostlocal.add(v4(tmp_path), NET, "c1", "eth0")
    hostlocal.add(v4(tmp_path), NET, "c2", "eth0")
    hostlocal.delete(v4(tmp_path), NET, "c1", "eth0")
    # .2 is free again, but round-robin goes on from .3
    assert addresses(hostlocal.add(v4(tmp_path), NET, "c3", "eth0")) == ["192.0.2.4/29"]


def test_allocation_wraps_around_to_the_range_start(tmp_path: Path) -> None:
    conf = v4(tmp_path)
    for i in range(5):  # .2 .. .6 (the /29's usable addresses after the gateway)
        hostlocal.add(conf, NET, f"c{i}", "eth0")
    hostlocal.delete(conf, NET, "c1", "eth0")  # frees .3
    assert (store(tmp_path) / "last_reserved_ip.0").read_bytes() == b"192.0.2.6"
    assert addresses(hostlocal.add(conf, NET, "late", "eth0")) == ["192.0.2.3/29"]


def test_explicit_range_and_gateway_inside_it_is_skipped(tmp_path: Path) -> None:
    conf = v4(
        tmp_path,
        "192.0.2.0/24",
        rangeStart="192.0.2.10",
        rangeEnd="192.0.2.12",
        gateway="192.0.2.11",
    )
    got = [addresses(hostlocal.add(conf, NET, f"c{i}", "eth0"))[0] for i in range(2)]
    assert got == ["192.0.2.10/24", "192.0.2.12/24"]
    assert "192.0.2.11" not in reservations(tmp_path)


def test_an_address_reserved_by_someone_else_is_skipped(tmp_path: Path) -> None:
    store(tmp_path).mkdir(parents=True)
    (store(tmp_path) / "192.0.2.2").write_bytes(b"other\r\neth0")
    assert addresses(hostlocal.add(v4(tmp_path), NET, "c1", "eth0")) == ["192.0.2.3/29"]


def test_exhausted_range_says_so_like_host_local_and_reserves_nothing(tmp_path: Path) -> None:
    conf = v4(tmp_path)
    for i in range(5):
        hostlocal.add(conf, NET, f"c{i}", "eth0")
    before = reservations(tmp_path)
    err = error(hostlocal.add, conf, NET, "late", "eth0")
    assert str(err) == (
        "failed to allocate for range 0: no IP addresses available in range set: "
        "192.0.2.1-192.0.2.6"
    )
    assert err.code == codes.TRY_AGAIN_LATER
    assert reservations(tmp_path) == before


# --- requested addresses ----------------------------------------------------------------


def test_requested_address_in_range_is_given(tmp_path: Path) -> None:
    result = hostlocal.add(v4(tmp_path), NET, "c1", "eth0", ["192.0.2.5"])
    assert addresses(result) == ["192.0.2.5/29"]
    assert (store(tmp_path) / "192.0.2.5").read_bytes() == b"c1\r\neth0"


def test_requested_address_with_a_prefix_uses_the_address(tmp_path: Path) -> None:
    result = hostlocal.add(v4(tmp_path), NET, "c1", "eth0", ["192.0.2.5/29"])
    assert addresses(result) == ["192.0.2.5/29"]


def test_requested_address_outside_every_range_set_fails_and_reserves_nothing(
    tmp_path: Path,
) -> None:
    err = error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0", ["198.51.100.7"])
    assert err.code == codes.INVALID_CONFIG
    assert "failed to allocate all requested IPs: 198.51.100.7" in str(err)
    assert reservations(tmp_path) == {}


def test_requested_gateway_is_refused(tmp_path: Path) -> None:
    err = error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0", ["192.0.2.1"])
    assert "requested ip 192.0.2.1 is subnet's gateway" in str(err)
    assert reservations(tmp_path) == {}


def test_requested_address_already_taken_is_refused(tmp_path: Path) -> None:
    hostlocal.add(v4(tmp_path), NET, "c1", "eth0", ["192.0.2.5"])
    err = error(hostlocal.add, v4(tmp_path), NET, "c2", "eth0", ["192.0.2.5"])
    assert "requested IP address 192.0.2.5 is not available in range set" in str(err)
    assert reservations(tmp_path) == {"192.0.2.5": b"c1\r\neth0"}


def test_two_requested_addresses_in_one_range_set_fail(tmp_path: Path) -> None:
    err = error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0", ["192.0.2.4", "192.0.2.5"])
    assert "failed to allocate all requested IPs: 192.0.2.5" in str(err)
    assert reservations(tmp_path) == {}


def test_unparsable_requested_address_is_invalid_config(tmp_path: Path) -> None:
    assert error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0", ["192.0.2"]).code == 7


# --- duplicate rule ---------------------------------------------------------------------


def test_same_container_and_ifname_twice_is_refused(tmp_path: Path) -> None:
    hostlocal.add(v4(tmp_path), NET, "c1", "eth0")
    err = error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0")
    assert str(err) == (
        "failed to allocate for range 0: 192.0.2.2 has been allocated to c1, "
        "duplicate allocation is not allowed"
    )
    assert reservations(tmp_path) == {"192.0.2.2": b"c1\r\neth0"}


def test_same_container_on_another_ifname_gets_another_address(tmp_path: Path) -> None:
    hostlocal.add(v4(tmp_path), NET, "c1", "eth0")
    assert addresses(hostlocal.add(v4(tmp_path), NET, "c1", "eth1")) == ["192.0.2.3/29"]


def test_a_failing_second_range_set_releases_only_what_this_call_took(tmp_path: Path) -> None:
    conf = {
        "dataDir": str(tmp_path),
        "ranges": [[{"subnet": "192.0.2.0/29"}], [{"subnet": "2001:db8::/126"}]],
    }
    # c1/eth0 already holds an IPv6 address (written by someone, e.g. host-local)
    store(tmp_path).mkdir(parents=True)
    (store(tmp_path) / "2001:db8::3").write_bytes(b"c1\r\neth0")
    err = error(hostlocal.add, conf, NET, "c1", "eth0")
    assert "failed to allocate for range 1: 2001:db8::3 has been allocated to c1" in str(err)
    assert reservations(tmp_path) == {"2001:db8::3": b"c1\r\neth0"}


# --- config forms -----------------------------------------------------------------------


def test_legacy_flat_config_is_range_set_zero(tmp_path: Path) -> None:
    conf = {
        "dataDir": str(tmp_path),
        "subnet": "198.51.100.0/24",
        "rangeStart": "198.51.100.20",
        "rangeEnd": "198.51.100.30",
        "gateway": "198.51.100.254",
        "ranges": [[{"subnet": "2001:db8:1::/64"}]],
    }
    result = hostlocal.add(conf, NET, "c1", "eth0")
    assert result["ips"] == [
        {"address": "198.51.100.20/24", "gateway": "198.51.100.254"},
        {"address": "2001:db8:1::2/64", "gateway": "2001:db8:1::1"},
    ]
    assert (store(tmp_path) / "last_reserved_ip.0").read_bytes() == b"198.51.100.20"
    assert (store(tmp_path) / "last_reserved_ip.1").read_bytes() == b"2001:db8:1::2"


def test_a_range_set_of_several_ranges_moves_on_to_the_next_range(tmp_path: Path) -> None:
    conf = {
        "dataDir": str(tmp_path),
        "ranges": [
            [
                {"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.2", "rangeEnd": "192.0.2.2"},
                {"subnet": "198.51.100.0/24", "rangeStart": "198.51.100.9"},
            ]
        ],
    }
    got = [addresses(hostlocal.add(conf, NET, f"c{i}", "eth0"))[0] for i in range(2)]
    assert got == ["192.0.2.2/24", "198.51.100.9/24"]


def test_routes_and_resolv_conf_are_in_the_result(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(
        "# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
        "domain example.test\nsearch a.test b.test\noptions ndots:2\n;x\n"
    )
    conf = v4(tmp_path / "d")
    conf["routes"] = [{"dst": "0.0.0.0/0"}, {"dst": "203.0.113.9/24", "gw": "192.0.2.1"}]
    conf["resolvConf"] = str(resolv)
    result = hostlocal.add(conf, NET, "c1", "eth0")
    assert result["routes"] == [
        {"dst": "0.0.0.0/0"},
        {"dst": "203.0.113.9/24", "gw": "192.0.2.1"},  # host bits echoed, as host-local does
    ]
    assert result["dns"] == {
        "nameservers": ["192.0.2.53", "2001:db8::53"],
        "domain": "example.test",
        "search": ["a.test", "b.test"],
        "options": ["ndots:2"],
    }


def test_default_ipv6_range_ends_on_the_last_address(tmp_path: Path) -> None:
    conf = v4(tmp_path, "2001:db8::/126")
    got = [addresses(hostlocal.add(conf, NET, f"c{i}", "eth0"))[0] for i in range(2)]
    assert got == ["2001:db8::2/126", "2001:db8::3/126"]
    err = error(hostlocal.add, conf, NET, "c9", "eth0")
    assert "no IP addresses available in range set: 2001:db8::1-2001:db8::3" in str(err)


def test_dual_stack_gives_one_address_per_family(tmp_path: Path) -> None:
    conf = {
        "dataDir": str(tmp_path),
        "ranges": [[{"subnet": "2001:db8::/64"}], [{"subnet": "203.0.113.0/24"}]],
    }
    result = hostlocal.add(conf, NET, "c1", "eth0")
    assert addresses(result) == ["2001:db8::2/64", "203.0.113.2/24"]
    assert hostlocal.held(conf, NET, "c1", "eth0") == ["2001:db8::2", "203.0.113.2"]


# --- validation -------------------------------------------------------------------------

BAD_CONFIGS: list[tuple[dict[str, object], str]] = [
    ({"ranges": "192.0.2.0/24"}, "ipam.ranges"),
    ({"ranges": []}, "ipam.ranges"),
    ({}, "ipam.ranges"),
    ({"ranges": [[]]}, "ipam.ranges[0]"),
    ({"ranges": [{"subnet": "192.0.2.0/24"}]}, "ipam.ranges[0]"),
    ({"ranges": [[{"subnet": 42}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "192.0.2.0"}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "192.0.2.300/24"}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "192.0.2.0/33"}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "192.0.2.5/24"}]]}, "host bits"),
    ({"ranges": [[{"subnet": "192.0.2.0/31"}]]}, "too small"),
    ({"ranges": [[{"subnet": "2001:db8::/127"}]]}, "too small"),
    ({"ranges": [[{"subnet": "::ffff:192.0.2.0/120"}]]}, "ipam.ranges[0][0].subnet"),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24", "rangeStart": "198.51.100.1"}]]},
        "ipam.ranges[0][0].rangeStart",
    ),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24", "rangeEnd": "192.0.3.1"}]]},
        "ipam.ranges[0][0].rangeEnd",
    ),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24", "rangeStart": ".10", "rangeEnd": "192.0.2.5"}]]},
        "ipam.ranges[0][0].rangeStart",
    ),
    (
        {
            "ranges": [
                [{"subnet": "192.0.2.0/24", "rangeStart": "192.0.2.10", "rangeEnd": "192.0.2.5"}]
            ]
        },
        "ipam.ranges[0][0].rangeEnd",
    ),
    ({"ranges": [[{"subnet": "192.0.2.0/24", "gateway": 1}]]}, "ipam.ranges[0][0].gateway"),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24", "gateway": "2001:db8::1"}]]},
        "ipam.ranges[0][0].gateway",
    ),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24"}, {"subnet": "192.0.2.0/25"}]]},
        "ipam.ranges[0][1]",
    ),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24"}, {"subnet": "2001:db8::/64"}]]},
        "mixed address families",
    ),
    (
        {"ranges": [[{"subnet": "192.0.2.0/24"}], [{"subnet": "192.0.2.128/25"}]]},
        "range set 0 overlaps with 1",
    ),
    ({"ranges": [[{"Subnet": "192.0.2.0/24"}]]}, "ipam.ranges[0][0].Subnet"),
    ({"ranges": [[{"subnet": "192.0.2.0/24", "rangestart": "192.0.2.9"}]]}, "rangestart"),
    ({"Ranges": [[{"subnet": "192.0.2.0/24"}]]}, "ipam.Ranges"),
    ({"rangeStart": "192.0.2.9", "ranges": [[{"subnet": "198.51.100.0/24"}]]}, "ipam.rangeStart"),
    ({"subnet": "192.0.2.0/24", "routes": {"dst": "0.0.0.0/0"}}, "ipam.routes"),
    ({"subnet": "192.0.2.0/24", "routes": [{"gw": "192.0.2.1"}]}, "ipam.routes[0].dst"),
    ({"subnet": "192.0.2.0/24", "routes": [{"dst": "default"}]}, "ipam.routes[0].dst"),
    ({"subnet": "192.0.2.0/24", "routes": [{"dst": "::/0", "gw": "x"}]}, "ipam.routes[0].gw"),
    ({"subnet": "192.0.2.0/24", "dataDir": "relative/dir"}, "ipam.dataDir"),
    ({"subnet": "192.0.2.0/24", "dataDir": 5}, "ipam.dataDir"),
    ({"subnet": "192.0.2.0/24", "resolvConf": ["x"]}, "ipam.resolvConf"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_CONFIGS)
def test_bad_config_is_invalid_config_naming_the_field(
    tmp_path: Path, bad: dict[str, object], field: str
) -> None:
    conf: dict[str, object] = {"type": "pipework", "dataDir": str(tmp_path / "d"), **bad}
    err = error(hostlocal.add, conf, NET, "c1", "eth0")
    assert err.code == codes.INVALID_CONFIG
    assert field in str(err)
    assert "\n" not in str(err)
    assert not (tmp_path / "d").exists()  # refused before touching the disk


@pytest.mark.parametrize("name", ["", "../etc", ".hidden", "a/b", "a\nb", "net\n", "-x"])
def test_network_names_that_could_leave_the_data_dir_are_refused(tmp_path: Path, name: str) -> None:
    err = error(hostlocal.add, v4(tmp_path / "d"), name, "c1", "eth0")
    assert err.code == codes.INVALID_CONFIG
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(("cid", "ifname"), [("a\r\nb", "eth0"), ("", "eth0"), ("c1", "a/b")])
def test_container_ids_and_ifnames_that_could_forge_a_reservation_are_refused(
    tmp_path: Path, cid: str, ifname: str
) -> None:
    err = error(hostlocal.add, v4(tmp_path / "d"), NET, cid, ifname)
    assert err.code == codes.INVALID_ENVIRONMENT


def test_a_gateway_outside_the_subnet_is_accepted_as_host_local_does(tmp_path: Path) -> None:
    result = hostlocal.add(v4(tmp_path, gateway="198.51.100.1"), NET, "c1", "eth0")
    assert result["ips"] == [{"address": "192.0.2.1/29", "gateway": "198.51.100.1"}]


# --- delete, held, gc -------------------------------------------------------------------


def test_delete_releases_what_the_attachment_holds_and_is_idempotent(tmp_path: Path) -> None:
    conf = v4(tmp_path)
    hostlocal.add(conf, NET, "c1", "eth0")
    hostlocal.add(conf, NET, "c1", "eth1")
    hostlocal.delete(conf, NET, "c1", "eth0")
    assert reservations(tmp_path) == {"192.0.2.3": b"c1\r\neth1"}
    hostlocal.delete(conf, NET, "c1", "eth0")
    assert reservations(tmp_path) == {"192.0.2.3": b"c1\r\neth1"}
    assert (store(tmp_path) / "last_reserved_ip.0").exists()


def test_delete_on_a_network_never_used_creates_nothing(tmp_path: Path) -> None:
    hostlocal.delete(v4(tmp_path / "d"), NET, "c1", "eth0")
    assert not (tmp_path / "d").exists()


def test_legacy_id_only_file_is_held_and_released(tmp_path: Path) -> None:
    store(tmp_path).mkdir(parents=True)
    (store(tmp_path) / "192.0.2.4").write_bytes(b"old-c\n")
    assert hostlocal.held(v4(tmp_path), NET, "old-c", "eth0") == ["192.0.2.4"]
    # it counts for the duplicate rule too
    assert "duplicate" in str(error(hostlocal.add, v4(tmp_path), NET, "old-c", "eth0"))
    hostlocal.delete(v4(tmp_path), NET, "old-c", "eth0")
    assert reservations(tmp_path) == {}


def test_held_lists_only_the_attachments_addresses(tmp_path: Path) -> None:
    conf = v4(tmp_path)
    hostlocal.add(conf, NET, "c1", "eth0")
    hostlocal.add(conf, NET, "c2", "eth0")
    assert hostlocal.held(conf, NET, "c2", "eth0") == ["192.0.2.3"]
    assert hostlocal.held(conf, NET, "c2", "eth1") == []


def test_gc_keeps_valid_attachments_and_releases_the_rest(tmp_path: Path) -> None:
    conf = v4(tmp_path)
    hostlocal.add(conf, NET, "keep", "eth0")  # .2
    hostlocal.add(conf, NET, "keep", "eth1")  # .3
    hostlocal.add(conf, NET, "gone", "eth0")  # .4
    (store(tmp_path) / "192.0.2.6").write_bytes(b"keep")  # legacy form: kept, its ID is valid
    (store(tmp_path) / "192.0.2.5").write_bytes(b"stale")  # legacy form: released
    released = hostlocal.gc(conf, NET, [("keep", "eth0")])
    assert sorted(released) == ["192.0.2.3", "192.0.2.4", "192.0.2.5"]
    assert reservations(tmp_path) == {"192.0.2.2": b"keep\r\neth0", "192.0.2.6": b"keep"}
    assert (store(tmp_path) / "lock").exists()
    assert (store(tmp_path) / "last_reserved_ip.0").exists()


# --- links planted in the data dir ------------------------------------------------------


def test_a_symlink_planted_as_the_network_dir_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / NET).symlink_to(elsewhere)
    err = error(hostlocal.add, v4(tmp_path / "d"), NET, "c1", "eth0")
    assert err.code == codes.IO_FAILURE
    assert list(elsewhere.iterdir()) == []


def test_delete_and_gc_refuse_a_symlinked_network_dir(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "192.0.2.2").write_bytes(b"victim")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / NET).symlink_to(elsewhere)
    assert error(hostlocal.gc, v4(tmp_path / "d"), NET, []).code == codes.IO_FAILURE
    assert error(hostlocal.delete, v4(tmp_path / "d"), NET, "victim", "x").code == 5
    assert (elsewhere / "192.0.2.2").read_bytes() == b"victim"


def test_a_symlink_planted_as_an_ip_file_counts_as_taken_and_is_not_followed(
    tmp_path: Path,
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"c1\r\neth0")  # would match if it were read through the link
    store(tmp_path).mkdir(parents=True)
    (store(tmp_path) / "192.0.2.2").symlink_to(target)
    assert addresses(hostlocal.add(v4(tmp_path), NET, "c2", "eth0")) == ["192.0.2.3/29"]
    assert hostlocal.held(v4(tmp_path), NET, "c1", "eth0") == []
    hostlocal.delete(v4(tmp_path), NET, "c1", "eth0")
    hostlocal.gc(v4(tmp_path), NET, [])
    assert target.read_bytes() == b"c1\r\neth0"


def test_a_symlink_planted_as_last_reserved_ip_is_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    store(tmp_path).mkdir(parents=True)
    (store(tmp_path) / "last_reserved_ip.0").symlink_to(target)
    err = error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0")
    assert err.code == codes.IO_FAILURE
    assert target.read_bytes() == b"untouched"
    assert not (store(tmp_path) / "192.0.2.2").exists()  # the reservation was rolled back


def test_a_symlink_planted_as_the_lock_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    store(tmp_path).mkdir(parents=True)
    (store(tmp_path) / "lock").symlink_to(target)
    assert error(hostlocal.add, v4(tmp_path), NET, "c1", "eth0").code == codes.IO_FAILURE
    assert not target.exists()


def test_legacy_file_survives_delete_when_the_new_form_matched_with_one_range_set(
    tmp_path: Path,
) -> None:
    # host-local's DEL falls back to ID-only files only when a pass released nothing
    conf = v4(tmp_path)
    hostlocal.add(conf, NET, "c1", "eth0")
    (store(tmp_path) / "192.0.2.6").write_bytes(b"c1")
    hostlocal.delete(conf, NET, "c1", "eth0")
    assert reservations(tmp_path) == {"192.0.2.6": b"c1"}


def test_legacy_file_goes_with_the_new_form_with_two_range_sets(tmp_path: Path) -> None:
    # ... and it makes one pass per range set, so the second pass finds only old files
    conf = {
        "dataDir": str(tmp_path),
        "ranges": [[{"subnet": "192.0.2.0/29"}], [{"subnet": "2001:db8::/126"}]],
    }
    hostlocal.add(conf, NET, "c1", "eth0")
    (store(tmp_path) / "192.0.2.6").write_bytes(b"c1")
    hostlocal.delete(conf, NET, "c1", "eth0")
    assert reservations(tmp_path) == {}


def test_add_waits_for_the_lock_host_local_holds(tmp_path: Path) -> None:
    store(tmp_path).mkdir(parents=True)
    fd = os.open(store(tmp_path) / "lock", os.O_RDONLY | os.O_CREAT, 0o750)
    done: list[object] = []
    worker = threading.Thread(
        target=lambda: done.append(hostlocal.add(v4(tmp_path), NET, "c1", "eth0"))
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        worker.start()
        time.sleep(0.3)
        assert worker.is_alive()
        assert reservations(tmp_path) == {}
    finally:
        os.close(fd)  # drops the lock
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert reservations(tmp_path) == {"192.0.2.2": b"c1\r\neth0"}
