"""Docker guests for real: containers from a locally imported busybox image, --network none.

pipework finds them through the Engine API socket (no `docker` subprocess), by
name, full ID or unique ID prefix. Images are never pulled: `--pull never`.
"""

from __future__ import annotations

from .conftest import link, pipework, sh, unique


def _inspect(name: str, template: str) -> str:
    return sh("docker", "inspect", "-f", template, name).stdout.strip()


def test_two_docker_containers_ping_each_other(container, bridge_name):
    a, b = container(), container()
    br = bridge_name()
    res = pipework(br, a, "198.51.100.1/24")
    assert res.returncode == 0, res.stderr
    assert pipework(br, b, "198.51.100.2/24").returncode == 0
    sh("docker", "exec", a, "ping", "-c", "1", "-W", "3", "198.51.100.2")
    pid = _inspect(a, "{{.State.Pid}}")
    assert link(f"veth1pl{pid}")["master"] == br


def test_container_by_id_prefix_and_by_full_id(container, bridge_name):
    a, b = container(), container()
    br = bridge_name()
    assert pipework(br, _inspect(a, "{{.Id}}")[:12], "198.51.100.3/24").returncode == 0
    res = pipework(br, f"docker:{_inspect(b, '{{.Id}}')}", "198.51.100.4/24")
    assert res.returncode == 0, res.stderr
    sh("docker", "exec", a, "ping", "-c", "1", "-W", "3", "198.51.100.4")


def test_no_docker_command_is_needed(container, bridge_name, tmp_path):
    ct = container()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ip").symlink_to("/usr/sbin/ip")
    res = pipework(bridge_name(), ct, "198.51.100.5/24", env={"PATH": str(bindir)})
    assert res.returncode == 0, res.stderr


def test_stopped_container_gives_a_clear_error(container, bridge_name):
    ct = container(start=False)
    br = bridge_name()
    res = pipework(br, ct, "198.51.100.6/24")
    assert res.returncode == 1
    assert f"container {ct}" in res.stderr and "not running" in res.stderr
    assert link(br) is None


def test_exited_container_gives_a_clear_error(container, bridge_name):
    ct = container()
    sh("docker", "kill", ct)
    br = bridge_name()
    res = pipework(br, f"docker:{ct}", "198.51.100.7/24")
    assert res.returncode == 1
    assert "is not running (state: exited)" in res.stderr
    assert link(br) is None


def test_docker_host_unix_socket_is_honoured(container, bridge_name):
    ct = container()
    res = pipework(
        bridge_name(), ct, "198.51.100.8/24", env={"DOCKER_HOST": "unix:///var/run/docker.sock"}
    )
    assert res.returncode == 0, res.stderr
    res = pipework(
        bridge_name(),
        f"docker:{ct}",
        "198.51.100.9/24",
        env={"DOCKER_HOST": "unix:///run/pwt-no-such.sock"},
    )
    assert res.returncode == 1
    assert "no socket at /run/pwt-no-such.sock" in res.stderr
    res = pipework(
        bridge_name(),
        f"docker:{ct}",
        "198.51.100.9/24",
        env={"DOCKER_HOST": "tcp://127.0.0.1:2375"},
    )
    assert res.returncode == 1
    assert "DOCKER_HOST=tcp://127.0.0.1:2375 is not a local unix socket" in res.stderr


def test_host_network_container_is_refused(image, cleanup, bridge_name):
    name = unique("pwt-dk")
    cleanup.add(f"container {name}", lambda: sh("docker", "rm", "-f", name, check=False))
    sh(
        "docker",
        "run",
        "-d",
        "--pull",
        "never",
        "--network",
        "host",
        "--name",
        name,
        image,
        "/bin/sleep",
        "600",
    )
    br = bridge_name()
    res = pipework(br, name, "198.51.100.10/24")
    assert res.returncode == 1
    assert "shares this host's network namespace" in res.stderr
    assert link(br) is None


def test_an_ambiguous_id_prefix_lists_the_containers(container, bridge_name):
    # Two of at most 17 containers share their first hex digit (pigeonhole).
    by_digit: dict[str, list[str]] = {}
    for _ in range(17):
        name = container(start=False)
        cid = _inspect(name, "{{.Id}}")
        by_digit.setdefault(cid[0], []).append(cid[:12])
        if len(by_digit[cid[0]]) == 2:
            break
    digit, ids = next((d, i) for d, i in by_digit.items() if len(i) == 2)
    br = bridge_name()
    res = pipework(br, f"docker:{digit}", "198.51.100.11/24")
    assert res.returncode == 1
    assert f"guest '{digit}' matches 2 guests in docker" in res.stderr
    assert all(cid in res.stderr for cid in ids)
    assert link(br) is None
