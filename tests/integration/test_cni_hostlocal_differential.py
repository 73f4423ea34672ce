"""pipework's built-in IPAM and the real ``host-local`` plugin sharing one store.

The reference binary (Debian's containernetworking-plugins, /usr/lib/cni/host-local)
runs as a runtime runs it: CNI_* environment, the network configuration on
stdin. pipework's ``hostlocal`` works on the same dataDir and network name.
Nothing here touches the network: IPAM only writes files under a tmp dir.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipework.cni import hostlocal
from pipework.cni.errors import CniError

from .conftest import require

HOST_LOCAL = "/usr/lib/cni/host-local"
NET = "pwtdiff"


@pytest.fixture(autouse=True)
def _host_local_installed() -> None:
    require(os.access(HOST_LOCAL, os.X_OK), f"{HOST_LOCAL} (containernetworking-plugins)")


def ipam(data_dir: Path, *range_sets: list[dict[str, str]]) -> dict[str, object]:
    return {"type": "pipework", "dataDir": str(data_dir), "ranges": list(range_sets)}


def host_local(
    command: str, conf: Mapping[str, object], cid: str, ifname: str = "eth0"
) -> dict[str, object]:
    """Run the real plugin; its parsed stdout (a result or a CNI error), {} for an empty one."""
    netconf = {"cniVersion": "1.0.0", "name": NET, "ipam": {**conf, "type": "host-local"}}
    proc = subprocess.run(
        [HOST_LOCAL],
        input=json.dumps(netconf).encode(),
        capture_output=True,
        timeout=30,
        check=False,
        env={
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": cid,
            "CNI_IFNAME": ifname,
            # IPAM never enters the netns; host-local only requires the variable for ADD
            "CNI_NETNS": "/var/run/netns/pwt-unused",
            "CNI_PATH": "/usr/lib/cni",
            "PATH": "/usr/bin:/bin",
        },
    )
    out: dict[str, object] = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert (proc.returncode == 0) == ("code" not in out), (proc.returncode, out, proc.stderr)
    return out


def addrs(result: Mapping[str, object]) -> list[str]:
    ips = result["ips"]
    assert isinstance(ips, list)
    return [ip["address"] for ip in ips]


def snapshot(data_dir: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of the store: its mode and bytes (the lock's and directories' too)."""
    out: dict[str, tuple[int, bytes]] = {}
    for root, _dirs, files in os.walk(data_dir):
        rel = os.path.relpath(root, data_dir)
        out[rel + "/"] = (stat.S_IMODE(os.stat(root).st_mode), b"")
        for name in files:
            path = Path(root) / name
            out[f"{rel}/{name}"] = (stat.S_IMODE(path.lstat().st_mode), path.read_bytes())
    return out


V4 = [{"subnet": "192.0.2.0/29"}]
V6 = [{"subnet": "2001:db8::/125", "rangeStart": "2001:db8::3"}]


def test_interleaved_adds_never_share_an_address_and_continue_each_others_order(
    tmp_path: Path,
) -> None:
    conf = ipam(tmp_path, V4)
    got = [
        addrs(host_local("ADD", conf, "hl1"))[0],
        addrs(hostlocal.add(conf, NET, "pw1", "eth0"))[0],
        addrs(host_local("ADD", conf, "hl2"))[0],
        addrs(hostlocal.add(conf, NET, "pw2", "eth0"))[0],
    ]
    assert got == ["192.0.2.2/29", "192.0.2.3/29", "192.0.2.4/29", "192.0.2.5/29"]
    assert (tmp_path / NET / "last_reserved_ip.0").read_bytes() == b"192.0.2.5"


def test_each_sees_the_others_reservations(tmp_path: Path) -> None:
    conf = ipam(tmp_path, V4)
    hostlocal.add(conf, NET, "pw1", "eth0")
    host_local("ADD", conf, "hl1")
    assert hostlocal.held(conf, NET, "hl1", "eth0") == ["192.0.2.3"]
    assert host_local("CHECK", conf, "pw1") == {}
    # host-local's duplicate rule sees pipework's file, and pipework's sees host-local's
    refused = host_local("ADD", conf, "pw1")
    assert "192.0.2.2 has been allocated to pw1" in str(refused["msg"])
    with pytest.raises(CniError, match=r"192\.0\.2\.3 has been allocated to hl1"):
        hostlocal.add(conf, NET, "hl1", "eth0")


def test_each_ones_del_releases_the_others_files(tmp_path: Path) -> None:
    conf = ipam(tmp_path, V4, V6)
    hostlocal.add(conf, NET, "pw1", "eth0")
    host_local("ADD", conf, "hl1")
    assert sorted(p.name for p in (tmp_path / NET).iterdir() if p.name[0].isdigit()) == [
        "192.0.2.2",
        "192.0.2.3",
        "2001:db8::3",
        "2001:db8::4",
    ]
    host_local("DEL", conf, "pw1")
    hostlocal.delete(conf, NET, "hl1", "eth0")
    assert sorted(p.name for p in (tmp_path / NET).iterdir()) == [
        "last_reserved_ip.0",
        "last_reserved_ip.1",
        "lock",
    ]


def test_host_locals_legacy_files_are_released_by_either(tmp_path: Path) -> None:
    conf = ipam(tmp_path, V4)
    host_local("ADD", conf, "other")
    for who, delete in (
        ("hl-old", lambda: host_local("DEL", conf, "hl-old")),
        ("pw-old", lambda: hostlocal.delete(conf, NET, "pw-old", "eth0")),
    ):
        (tmp_path / NET / "192.0.2.6").write_bytes(who.encode())
        assert host_local("CHECK", conf, who) == {}
        assert hostlocal.held(conf, NET, who, "eth0") == ["192.0.2.6"]
        delete()
        assert not (tmp_path / NET / "192.0.2.6").exists()
    assert (tmp_path / NET / "192.0.2.2").read_bytes() == b"other\r\neth0"


def _sequence(
    add: object, delete: object, conf: dict[str, object]
) -> list[tuple[str, list[str] | str]]:
    """One script of operations; what each step gave (addresses, or the error text)."""
    steps: list[tuple[str, str, str]] = [
        ("add", "a", "eth0"),
        ("add", "b", "eth0"),
        ("add", "a", "eth1"),
        ("del", "b", "eth0"),
        ("add", "c", "eth0"),
        ("add", "d", "eth0"),
        ("add", "e", "eth0"),  # wraps round to b's address
        ("add", "g", "eth0"),  # the /29 is full: fails, nothing stays
        ("add", "a", "eth0"),  # duplicate
        ("del", "a", "eth0"),
        ("add", "f", "eth0"),
    ]
    log: list[tuple[str, list[str] | str]] = []
    for op, cid, ifname in steps:
        key = f"{op} {cid}/{ifname}"
        if op == "del":
            delete(conf, cid, ifname)  # type: ignore[operator]
            log.append((key, "ok"))
            continue
        log.append((key, add(conf, cid, ifname)))  # type: ignore[operator]
    return log


def _hl_add(conf: dict[str, object], cid: str, ifname: str) -> list[str] | str:
    out = host_local("ADD", conf, cid, ifname)
    # host-local's errors carry no code from the spec (999); compare the words
    return str(out["msg"]) if "code" in out else addrs(out)


def _pw_add(conf: dict[str, object], cid: str, ifname: str) -> list[str] | str:
    try:
        return addrs(hostlocal.add(conf, NET, cid, ifname))
    except CniError as e:
        return str(e)


def test_the_same_operations_from_an_empty_dir_give_the_same_addresses_and_files(
    tmp_path: Path,
) -> None:
    old = os.umask(0o022)
    try:
        hl_conf = ipam(tmp_path / "hl", V4, V6)
        pw_conf = ipam(tmp_path / "pw", V4, V6)
        hl_log = _sequence(_hl_add, lambda c, i, f: host_local("DEL", c, i, f), hl_conf)
        pw_log = _sequence(_pw_add, lambda c, i, f: hostlocal.delete(c, NET, i, f), pw_conf)
    finally:
        os.umask(old)
    assert pw_log == hl_log
    assert pw_log[6] == ("add e/eth0", ["192.0.2.3/29", "2001:db8::4/125"])
    assert "no IP addresses available in range set: 192.0.2.1-192.0.2.6" in str(pw_log[7][1])
    assert "duplicate allocation is not allowed" in str(pw_log[8][1])
    assert snapshot(tmp_path / "pw") == snapshot(tmp_path / "hl")


def test_concurrent_adds_from_both_never_share_an_address(tmp_path: Path) -> None:
    conf = ipam(tmp_path, [{"subnet": "203.0.113.0/27"}])  # 29 addresses after the gateway
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def run(name: str, call: object) -> None:
        try:
            results[name] = call()  # type: ignore[operator]
        except BaseException as e:  # reported below, with the thread's name
            errors.append(e)

    threads = [
        threading.Thread(
            target=run, args=(f"hl{i}", lambda i=i: addrs(host_local("ADD", conf, f"hl{i}")))
        )
        for i in range(12)
    ] + [
        threading.Thread(
            target=run,
            args=(f"pw{i}", lambda i=i: addrs(hostlocal.add(conf, NET, f"pw{i}", "eth0"))),
        )
        for i in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    given = [a for got in results.values() for a in got]
    assert len(given) == 24
    assert len(set(given)) == 24
    on_disk = {p.name for p in (tmp_path / NET).iterdir() if p.name[0].isdigit()}
    assert on_disk == {a.split("/")[0] for a in given}
    for name, got in results.items():
        content = (tmp_path / NET / got[0].split("/")[0]).read_bytes()
        assert content == f"{name}\r\neth0".encode()


@pytest.mark.parametrize("range_sets", [[V4], [V4, V6]], ids=["one-range-set", "two-range-sets"])
def test_del_treats_old_id_only_files_as_host_local_does(
    tmp_path: Path, range_sets: list[list[dict[str, str]]]
) -> None:
    stores = {}
    for who in ("hl", "pw"):
        conf = ipam(tmp_path / who, *range_sets)
        hostlocal.add(conf, NET, "c1", "eth0")
        (tmp_path / who / NET / "192.0.2.6").write_bytes(b"c1")  # an old release's file
        stores[who] = conf
    host_local("DEL", stores["hl"], "c1")
    hostlocal.delete(stores["pw"], NET, "c1", "eth0")
    assert snapshot(tmp_path / "pw") == snapshot(tmp_path / "hl")
