"""The CNI plugin's protocol, without the kernel: the ``CNI_*`` environment, the
configuration on stdin, each spec version's result shape and the error codes.

The codes are the spec's (SPEC.md, "Error"): 1 incompatible version, 2 unsupported
field, 4 invalid environment variables, 6 decoding failure, 7 invalid network
config. Refusals are checked both where they are raised and as the JSON error a
runtime reads on stdout, since that is what it acts on; every refused invocation
here fails before the plugin opens a namespace or a netlink socket.
"""

from __future__ import annotations

import copy
import json

import pytest

from pipework.cni import errors as codes
from pipework.cni import plugin
from pipework.cni.errors import CniError
from pipework.cni.netconf import read_netconf
from pipework.cni.protocol import (
    SUPPORTED_VERSIONS,
    check_version,
    parse_config,
    read_environment,
)
from pipework.cni.result import in_version, normalize

#: a result in the working (1.1.0) shape: a bridge, its host end, the container's
#: interface with its MTU, two addresses on it and a route with a 1.1.0 attribute
WORKING: dict[str, object] = {
    "interfaces": [
        {"name": "pwtbr0", "mac": "02:00:00:00:00:01"},
        {"name": "vethpwt", "mac": "02:00:00:00:00:02"},
        {"name": "eth0", "mac": "02:00:00:00:00:03", "sandbox": "/run/netns/x", "mtu": 1400},
    ],
    "ips": [
        {"address": "192.0.2.2/24", "gateway": "192.0.2.1", "interface": 2},
        {"address": "2001:db8::2/64", "gateway": "2001:db8::1", "interface": 2},
    ],
    "routes": [{"dst": "0.0.0.0/0", "gw": "192.0.2.1", "priority": 10}],
    "dns": {"nameservers": ["192.0.2.53"]},
}

ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "pwt-c1",
    "CNI_NETNS": "/run/netns/pwt-unused",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/usr/lib/cni",
}


def conf(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "cniVersion": "1.0.0",
        "name": "pwtnet",
        "type": "pipework",
        "bridge": "pwtbr0",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def run(
    config: object,
    command: str = "ADD",
    capsys: pytest.CaptureFixture[str] | None = None,
    **env: str,
) -> tuple[int, dict[str, object]]:
    """``plugin.main`` as a runtime calls it; its exit status and the JSON it printed."""
    assert capsys is not None
    environ = dict(ENV, CNI_COMMAND=command, **env)
    stdin = config if isinstance(config, bytes) else json.dumps(config).encode()
    status = plugin.main(environ, stdin)
    out = capsys.readouterr().out
    return status, json.loads(out) if out.strip() else {}


def code_of(call: object) -> int:
    assert callable(call)
    with pytest.raises(CniError) as info:
        call()
    return info.value.code


# --- results, per version ------------------------------------------------------


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_pre_1_0_results_give_every_ip_its_version(version: str) -> None:
    out = in_version(WORKING, version)
    assert out["cniVersion"] == version
    assert [ip["version"] for ip in out["ips"]] == ["4", "6"]  # type: ignore[attr-defined,index]
    assert [ip["interface"] for ip in out["ips"]] == [2, 2]  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_results_before_1_1_drop_the_interface_mtu_and_route_attributes(version: str) -> None:
    out = in_version(WORKING, version)
    assert all("mtu" not in i for i in out["interfaces"])  # type: ignore[attr-defined]
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "192.0.2.1"}]


def test_1_0_results_carry_no_ip_version() -> None:
    out = in_version(WORKING, "1.0.0")
    assert all("version" not in ip for ip in out["ips"])  # type: ignore[attr-defined]


def test_1_1_results_keep_the_interface_mtu_and_route_priority() -> None:
    out = in_version(WORKING, "1.1.0")
    assert out["interfaces"][2]["mtu"] == 1400  # type: ignore[index]
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": "192.0.2.1", "priority": 10}]
    assert all("version" not in ip for ip in out["ips"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_every_version_keeps_dns_and_the_keys_of_the_spec(version: str) -> None:
    out = in_version(WORKING, version)
    assert set(out) == {"cniVersion", "interfaces", "ips", "routes", "dns"}
    assert out["dns"] == {"nameservers": ["192.0.2.53"]}


def test_writing_a_result_leaves_the_working_one_unchanged() -> None:
    before = copy.deepcopy(WORKING)
    for version in SUPPORTED_VERSIONS:
        in_version(WORKING, version)
    assert before == WORKING


def test_an_empty_result_still_has_dns() -> None:
    assert in_version({}, "1.0.0") == {"cniVersion": "1.0.0", "dns": {}}


# --- prevResults of each version, read back -------------------------------------


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_a_prev_result_of_each_version_reads_back_to_the_working_shape(version: str) -> None:
    prev = json.loads(json.dumps(in_version(WORKING, version)))
    back = normalize(prev, "prevResult")
    assert [ip.get("interface") for ip in back["ips"]] == [2, 2]  # type: ignore[attr-defined]
    assert all("version" not in ip for ip in back["ips"])  # type: ignore[attr-defined]
    assert [i["name"] for i in back["interfaces"]] == ["pwtbr0", "vethpwt", "eth0"]  # type: ignore[index]
    assert back["dns"] == {"nameservers": ["192.0.2.53"]}
    if version == "1.1.0":
        assert back == WORKING


def test_a_0_3_0_prev_result_without_interface_indexes_reads() -> None:
    prev = {
        "cniVersion": "0.3.0",
        "ips": [{"version": "4", "address": "192.0.2.9/24", "gateway": "192.0.2.1"}],
    }
    back = normalize(prev, "prevResult")
    assert back["ips"] == [{"address": "192.0.2.9/24", "gateway": "192.0.2.1"}]
    assert back["interfaces"] == []


@pytest.mark.parametrize(
    "prev",
    [
        [],
        {"ips": [{"address": "not-an-ip/24"}]},
        {"ips": [{"address": "192.0.2.2/24", "interface": 3}], "interfaces": [{"name": "a"}]},
        {"routes": [{"gw": "192.0.2.1"}]},
        {"interfaces": [{"mac": "02:00:00:00:00:01"}]},
    ],
)
def test_a_malformed_prev_result_is_a_decoding_failure(prev: object) -> None:
    assert code_of(lambda: normalize(prev, "prevResult")) == codes.DECODING_FAILURE


# --- configuration ----------------------------------------------------------------


def test_json_that_does_not_parse_is_code_6(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(b"{not json", capsys=capsys)
    assert status != 0
    assert out["code"] == codes.DECODING_FAILURE
    assert code_of(lambda: parse_config(b"[1, 2]")) == codes.DECODING_FAILURE


def test_a_missing_cni_version_is_code_7(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(cniVersion=None), capsys=capsys)
    assert (status != 0, out["code"]) == (True, codes.INVALID_CONFIG)


@pytest.mark.parametrize("version", ["0.2.0", "0.1.0", "9.9.9", "1.2.0"])
def test_a_version_pipework_does_not_speak_is_code_1(
    version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(conf(cniVersion=version), capsys=capsys)
    assert status != 0
    assert out["code"] == codes.INCOMPATIBLE_VERSION
    assert version in str(out["msg"])


def test_a_malformed_version_is_code_7() -> None:
    assert code_of(lambda: check_version({"cniVersion": "1.0"}, "ADD")) == codes.INVALID_CONFIG


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1"])
def test_check_on_a_version_before_0_4_0_is_code_1(
    version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(conf(cniVersion=version), "CHECK", capsys=capsys)
    assert (status != 0, out["code"]) == (True, codes.INCOMPATIBLE_VERSION)


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_gc_and_status_before_1_1_0_are_code_1(command: str) -> None:
    assert code_of(lambda: check_version(conf(), command)) == codes.INCOMPATIBLE_VERSION
    assert check_version(conf(cniVersion="1.1.0"), command) == "1.1.0"


def test_every_supported_version_is_accepted_for_add() -> None:
    for version in SUPPORTED_VERSIONS:
        assert check_version(conf(cniVersion=version), "ADD") == version


def test_an_unknown_field_is_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(colour="blue"), capsys=capsys)
    assert (status != 0, out["code"]) == (True, codes.UNSUPPORTED_FIELD)
    assert "colour" in str(out["msg"])


def test_ip_masq_true_is_code_2_and_false_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(ipMasq=True), capsys=capsys)
    assert (status != 0, out["code"]) == (True, codes.UNSUPPORTED_FIELD)
    assert out.get("details")  # says what to use instead
    assert read_netconf(conf(ipMasq=False)).host_if == "pwtbr0"


@pytest.mark.parametrize(
    "fields",
    [
        {"bridge": None, "master": "pwtnic0", "mode": "fast"},
        {"mode": "bridge"},  # mode on a bridge: it is for a master NIC
        {"vlan": 0},
        {"vlan": 4095},
        {"vlan": "10"},
        {"mtu": 67},
        {"mtu": 65536},
        {"mtu": True},
        {"master": "pwtnic0"},
        {"device": "pwtnic0"},
        {"bridge": None, "master": "pwtnic0", "device": "pwtnic1"},
        {"dummy": True},
        {"mac": "not-a-mac"},
        {"bridge": "a/b"},
        {"name": "bad name"},
        {"type": "bridge"},
        {"ipam": {"subnet": "192.0.2.0/24"}},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_an_invalid_configuration_is_code_7(
    fields: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(conf(**fields), capsys=capsys)
    assert status != 0
    assert out["code"] == codes.INVALID_CONFIG, out


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"bridge": None, "master": "pwtnic0", "mode": "vepa"}, ("master", "vepa")),
        ({"bridge": None, "master": "pwtnic0", "mode": "l3s"}, ("master", "l3s")),
        ({"bridge": None, "device": "pwtnic0"}, ("device", None)),
        ({"bridge": None, "dummy": True}, ("dummy", None)),
        ({"bridge": None}, ("bridge", None)),
    ],
)
def test_each_place_reads(fields: dict[str, object], expected: tuple[str, str | None]) -> None:
    got = read_netconf(conf(**fields))
    assert (got.place, got.mode) == expected


def test_is_default_gateway_implies_is_gateway() -> None:
    got = read_netconf(conf(isDefaultGateway=True))
    assert (got.is_gateway, got.is_default_gateway) == (True, True)


# --- environment ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "unset"),
    [
        ("ADD", "CNI_NETNS"),
        ("ADD", "CNI_CONTAINERID"),
        ("ADD", "CNI_IFNAME"),
        ("ADD", "CNI_PATH"),
        ("CHECK", "CNI_NETNS"),
        ("DEL", "CNI_CONTAINERID"),
    ],
)
def test_a_missing_variable_is_code_4(
    command: str, unset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(conf(), command, capsys=capsys, **{unset: ""})
    assert (status != 0, out["code"]) == (True, codes.INVALID_ENVIRONMENT)
    assert unset in str(out["msg"])


def test_del_needs_no_netns() -> None:
    env = read_environment(dict(ENV, CNI_COMMAND="DEL", CNI_NETNS=""))
    assert env.netns == ""


@pytest.mark.parametrize("ifname", ["a/b", "eth 0", "x" * 16, ".", ".."])
def test_a_bad_ifname_is_code_4(ifname: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(), capsys=capsys, CNI_IFNAME=ifname)
    assert (status != 0, out["code"]) == (True, codes.INVALID_ENVIRONMENT)


@pytest.mark.parametrize("cid", ["-leading-dash", "has space", "a/b", "x" * 129])
def test_a_bad_container_id_is_code_4(cid: str) -> None:
    env = dict(ENV, CNI_CONTAINERID=cid)
    assert code_of(lambda: read_environment(env)) == codes.INVALID_ENVIRONMENT


def test_a_relative_netns_is_code_4() -> None:
    env = dict(ENV, CNI_NETNS="run/netns/x")
    assert code_of(lambda: read_environment(env)) == codes.INVALID_ENVIRONMENT


def test_an_unknown_command_is_code_4(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(), "UPDATE", capsys=capsys)
    assert (status != 0, out["code"]) == (True, codes.INVALID_ENVIRONMENT)


def test_an_unknown_cni_args_key_is_code_4(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(), capsys=capsys, CNI_ARGS="K8S_POD_NAME=web")
    assert (status != 0, out["code"]) == (True, codes.INVALID_ENVIRONMENT)
    assert "K8S_POD_NAME" in str(out["msg"])


@pytest.mark.parametrize("ignore", ["1", "true", "TRUE"])
def test_ignore_unknown_accepts_other_plugins_keys(ignore: str) -> None:
    text = f"IgnoreUnknown={ignore};K8S_POD_NAME=web;IP=192.0.2.7"
    env = read_environment(dict(ENV, CNI_ARGS=text))
    assert env.arg("K8S_POD_NAME") == "web"
    assert env.arg("IP") == "192.0.2.7"


def test_ignore_unknown_zero_still_refuses() -> None:
    env = dict(ENV, CNI_ARGS="IgnoreUnknown=0;K8S_POD_NAME=web")
    assert code_of(lambda: read_environment(env)) == codes.INVALID_ENVIRONMENT


@pytest.mark.parametrize("text", ["IP", "=192.0.2.7"])
def test_cni_args_that_are_not_key_value_are_code_4(text: str) -> None:
    env = dict(ENV, CNI_ARGS=text)
    assert code_of(lambda: read_environment(env)) == codes.INVALID_ENVIRONMENT


def test_a_bad_mac_in_cni_args_is_code_4(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(conf(), capsys=capsys, CNI_ARGS="MAC=zz:zz")
    assert (status != 0, out["code"]) == (True, codes.INVALID_ENVIRONMENT)


# --- VERSION and the error shape --------------------------------------------------


def test_version_lists_every_supported_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run(b"", "VERSION", capsys=capsys, CNI_NETNS="", CNI_CONTAINERID="")
    assert status == 0
    assert out == {"cniVersion": "1.1.0", "supportedVersions": list(SUPPORTED_VERSIONS)}


def test_version_answers_in_the_version_asked(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run({"cniVersion": "0.4.0"}, "VERSION", capsys=capsys)
    assert status == 0
    assert out["cniVersion"] == "0.4.0"
    assert out["supportedVersions"] == list(SUPPORTED_VERSIONS)


def test_version_of_an_unspoken_version_answers_in_the_latest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = run({"cniVersion": "0.2.0"}, "VERSION", capsys=capsys)
    assert (status, out["cniVersion"]) == (0, "1.1.0")


def test_an_error_carries_the_configuration_version_and_a_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = run(conf(cniVersion="0.4.0", colour="blue"), capsys=capsys)
    assert status == 1
    assert out["cniVersion"] == "0.4.0"
    assert set(out) <= {"cniVersion", "code", "msg", "details"}
    assert isinstance(out["msg"], str) and out["msg"]


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_the_gc_attachment_list_the_runtime_adds_is_not_an_unknown_field(key: str) -> None:
    config = conf(cniVersion="1.1.0", **{key: [{"containerID": "pwt-c1", "ifname": "eth0"}]})
    assert read_netconf(config).host_if == "pwtbr0"


def test_version_answers_libcnis_probe_whatever_the_other_variables_say(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # libcni (Podman) validates a conflist by asking VERSION with placeholders
    status, out = run(
        {"cniVersion": "1.0.0"},
        "VERSION",
        capsys=capsys,
        CNI_NETNS="dummy",
        CNI_IFNAME="dummy",
        CNI_PATH="dummy",
        CNI_ARGS="not-a-pair",
    )
    assert (status, out["cniVersion"]) == (0, "1.0.0")


def test_an_environment_error_answers_in_the_configuration_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = run(conf(cniVersion="0.3.1"), capsys=capsys, CNI_NETNS="")
    assert (status, out["code"], out["cniVersion"]) == (1, codes.INVALID_ENVIRONMENT, "0.3.1")
