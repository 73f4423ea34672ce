"""pipework from a container: the image of contrib/container/Containerfile, built offline
(a base imported from this Debian host's own packages by contrib/container/rootfs.py,
``docker build --pull=false``: nothing is pulled), run with the exact lines of
docs/container.md, attaches other containers (the locally imported busybox) to a
bridge with addresses that answer ping; the minimal capabilities are each needed;
``pipework watch`` in it attaches a labelled container; and the Kubernetes DaemonSet
of contrib/kubernetes parses, names its hostPaths, and its install script, run in
the image against two directories standing in for the node's, installs a plugin the
host can run.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PIPEWORK, Cleanup, link, require, sh, unique, wait_until
from .test_watch_docker import guest_addresses, pid_of, wait_attached

ROOT = Path(__file__).parents[2]
BASE, IMAGE = "pwt-debian-base:test", "pwt-pipework:test"
GUEST_IMAGE = "pwt-busybox-ctr:test"
DOC = ROOT / "docs" / "container.md"
MANIFEST = ROOT / "contrib" / "kubernetes" / "pipework-cni.yaml"


def build_context() -> bytes:
    """What ``git archive HEAD`` sends, for the files the Containerfile uses (the
    working tree's, so that the test sees uncommitted work as CI sees the commit)."""
    buf = io.BytesIO()
    # GNU, not PAX: the docker client tells a tar from a Dockerfile on stdin by its
    # first header alone, and a PAX one makes it take the tar for a Dockerfile
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for top in ("src/pipework", "contrib/container"):
            for path in sorted((ROOT / top).rglob("*")):
                if "__pycache__" in path.parts or path.is_dir():
                    continue
                tar.add(path, arcname=str(path.relative_to(ROOT)), recursive=False)
    return buf.getvalue()


def build_offline(tool: str, base: str, image: str) -> tuple[int, float]:
    """The base imported from rootfs.py's tar, then the image built on it with no
    pull, by ``tool`` (docker or podman): (the tar's size, when the import ended)."""
    rootfs = subprocess.run(["python3", str(ROOT / "contrib" / "container" / "rootfs.py")],
                            capture_output=True, check=True, timeout=120).stdout  # fmt: skip
    subprocess.run([tool, "import", "-", base], input=rootfs, capture_output=True,
                   check=True, timeout=120)  # fmt: skip
    imported = time.monotonic()
    # Docker 20.10's builder has no 'never' (false: no newer base looked for); the base
    # was just imported, so neither looks anything up
    never = "--pull=false" if tool == "docker" else "--pull=never"
    # Podman runs RUN steps on its default network, making the host bridge
    # cni-podman0 the first time; offline, no step needs a network at all
    network = ["--network=none"] if tool == "podman" else []
    res = subprocess.run(
        [tool, "build", "-q", never, *network, "--build-arg", f"BASE={base}",
         "-f", "contrib/container/Containerfile", "-t", image, "-"],
        input=build_context(), capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return len(rootfs), imported


@pytest.fixture(scope="module")
def pipework_image() -> Iterator[str]:
    require(
        subprocess.run(["docker", "version"], capture_output=True, check=False).returncode == 0,
        "no Docker daemon (scripts/test starts one)",
    )
    started = time.monotonic()
    size, imported = build_offline("docker", BASE, IMAGE)
    print(
        f"\nimage: rootfs {size / 1e6:.1f} MB + import {imported - started:.1f} s, "
        f"build {time.monotonic() - imported:.1f} s"
    )
    yield IMAGE
    subprocess.run(["docker", "rmi", "-f", IMAGE, BASE], capture_output=True, check=False)


@pytest.fixture(scope="module")
def image(pipework_image: str) -> Iterator[str]:
    """conftest's busybox guest image under this module's own tag (``container`` takes
    it from here): the shared tag is removed when another module using it ends."""
    from .conftest import APPLETS

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    subprocess.run(["docker", "import", "-", GUEST_IMAGE], input=buf.getvalue(), check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    yield GUEST_IMAGE
    subprocess.run(["docker", "rmi", "-f", GUEST_IMAGE], capture_output=True, check=False)


def doc_line(marker: str, runtime: str = "docker") -> list[str]:
    """The ``RUNTIME run`` block of docs/container.md whose command ends with ``marker``,
    as an argv (continuation lines joined)."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    for block in blocks:
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            if line.startswith(f"{runtime} run") and line.rstrip().endswith(marker):
                return shlex.split(line)
    raise AssertionError(f"no '{runtime} run … {marker}' in {DOC}")


def run_line(
    marker: str, replace: dict[str, str], drop: tuple[str, ...] = (), runtime: str = "docker"
) -> list[str]:
    """The documented line with the test's names, without ``--cap-add CAP`` for each
    CAP of ``drop``."""
    argv = [replace.get(word, word) for word in doc_line(marker, runtime)]
    for cap in drop:
        index = argv.index(cap)
        assert argv[index - 1] == "--cap-add"
        del argv[index - 1 : index + 1]
    return argv


def test_the_image_is_built_offline_and_runs_pipework(pipework_image):
    res = sh("docker", "run", "--rm", "--network", "none", pipework_image, "pipework", "--version")
    assert res.stdout.startswith("pipework ")
    # the base came from this host's packages, not a registry: no digest, no pull
    digests = sh("docker", "image", "inspect", "-f", "{{json .RepoDigests}}", BASE).stdout
    assert json.loads(digests) == []


def test_pipework_in_the_container_attaches_containers_that_ping(
    pipework_image, container, bridge_name
):
    br, a, b = bridge_name(), container(), container()
    for name, address in ((a, "198.51.100.71/24"), (b, "198.51.100.72/24")):
        names = {"pipework:latest": pipework_image, "br1": br, "web": name,
                 "198.51.100.10/24": address}  # fmt: skip
        argv = run_line("198.51.100.10/24", names)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr
    assert guest_addresses(pid_of(a)) == ["198.51.100.71/24"]
    assert link(f"veth1pl{pid_of(a)}")["master"] == br  # on the host, where it must be
    sh("docker", "exec", a, "ping", "-c", "1", "-W", "3", "198.51.100.72")


@pytest.mark.parametrize("cap", [None, "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"])
def test_the_minimal_set_and_each_of_its_capabilities_is_needed(
    pipework_image, container, bridge_name, cap
):
    """NET_ADMIN, SYS_ADMIN and SYS_PTRACE attach (None: the three); without any one of
    them, the attach fails with pipework's own error line and changes nothing."""
    br, ct = bridge_name(), container()
    drop = ("NET_RAW",) + ((cap,) if cap else ())
    argv = run_line("198.51.100.10/24", {"pipework:latest": pipework_image, "br1": br,
                                          "web": ct, "198.51.100.10/24": "198.51.100.73/24"},
                    drop=drop)  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if cap is None:
        assert res.returncode == 0, res.stderr
        assert guest_addresses(pid_of(ct)) == ["198.51.100.73/24"]
        return
    assert res.returncode != 0, f"attached without {cap}"
    assert res.stderr.startswith("pipework: "), res.stderr  # says what, not a traceback
    assert guest_addresses(pid_of(ct)) == []


def test_a_named_namespace_made_on_the_host_later_is_seen_through_rshared(
    pipework_image, make_netns, bridge_name, cleanup: Cleanup
):
    """The one-shot line's /run/netns mount: a namespace the host adds after the
    container started is there for pipework inside (a long-running watcher needs it)."""
    br = bridge_name()
    name = unique("pwtctr")
    argv = run_line("198.51.100.10/24", {"pipework:latest": pipework_image})
    image_at = argv.index(pipework_image)
    # the same container, started first, then given the attach to run
    argv = [*argv[:2], "-d", "--name", name, *argv[2 : image_at + 1], "sleep", "600"]
    argv.remove("--rm")
    cleanup.add(f"container {name}", lambda: sh("docker", "rm", "-f", name, check=False))
    sh(*argv)
    ns = make_netns()  # after the container started
    res = sh("docker", "exec", name, "pipework", br, ns, "198.51.100.74/24", check=False)
    assert res.returncode == 0, res.stderr
    out = sh("ip", "-n", ns, "-j", "addr", "show", "dev", "eth1").stdout
    assert "198.51.100.74" in out


def test_pipework_watch_in_the_container_attaches_a_labelled_container(
    pipework_image, container, make_bridge, tmp_path, cleanup: Cleanup
):
    br = make_bridge()
    etc = tmp_path / "etc-pipework"
    (etc / "attachments.d").mkdir(parents=True)
    name = unique("pwtwatch")
    names = {"pipework:latest": pipework_image, "pipework-watch": name, "always": "no",
             "/etc/pipework:/etc/pipework:ro": f"{etc}:/etc/pipework:ro"}  # fmt: skip
    argv = run_line("pipework watch", names)
    cleanup.add(f"container {name}", lambda: sh("docker", "rm", "-f", name, check=False))
    sh(*argv)
    wait_until(lambda: "watching" in sh("docker", "logs", name).stderr, 30, "the watcher")
    guest = container("--label", f"pipework.attach={br} 198.51.100.75/24")
    wait_attached(guest, "198.51.100.75/24")
    assert "attached" in sh("docker", "logs", name).stderr


def test_podman_builds_the_image_offline_and_its_line_attaches_a_namespace(
    make_netns, make_bridge, cleanup: Cleanup
):
    require(shutil.which("podman"), "podman is not installed (scripts/test installs it)")
    base, image = "localhost/pwt-debian-base:podman", "localhost/pwt-pipework:podman"
    cleanup.add("podman images", lambda: sh("podman", "rmi", "-f", image, base, check=False))
    build_offline("podman", base, image)
    br, lab1, lab2 = make_bridge(), make_netns(), make_netns()
    names = {"localhost/pipework:latest": image, "br1": br, "lab1": lab1}
    argv = run_line("198.51.100.10/24", names, runtime="podman")
    # this host's limits (see the page), and never a pull
    argv[2:2] = ["--pull=never", "--ulimit", "nofile=20000:20000", "--ulimit",
                 "nproc=32768:32768"]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    sh(PIPEWORK, br, lab2, "198.51.100.11/24")
    sh("ip", "netns", "exec", lab2, "ping", "-c", "1", "-W", "3", "198.51.100.10")


# ----------------------------------------------------------------------- Kubernetes


def manifest() -> list[dict[str, object]]:
    yaml = pytest.importorskip("yaml")  # PyYAML: the test extra
    return [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]


def daemonset() -> dict:
    (ds,) = [d for d in manifest() if d["kind"] == "DaemonSet"]
    return ds


def test_the_daemonset_parses_and_names_the_cni_host_paths():
    ds = daemonset()
    spec = ds["spec"]["template"]["spec"]
    paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    assert sorted(paths.values()) == ["/etc/cni/net.d", "/opt/cni/bin"]
    (install,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in install["volumeMounts"]}
    script = install["command"][-1]
    for volume, path in paths.items():  # mounted where the script writes the node's path
        assert mounts[volume] == "/host" + path and "/host" + path in script
    assert ds["spec"]["selector"]["matchLabels"] == ds["spec"]["template"]["metadata"]["labels"]
    assert spec["hostNetwork"] is True  # a node with no CNI plugin yet has no pod network


def test_the_configmap_network_is_one_pipework_reads():
    from pipework.cni.netconf import read_netconf

    (cm,) = [d for d in manifest() if d["kind"] == "ConfigMap"]
    conflist = json.loads(cm["data"]["pipework.conflist"])
    (plugin,) = conflist["plugins"]
    netconf = read_netconf({**plugin, "cniVersion": conflist["cniVersion"],
                            "name": conflist["name"]})  # fmt: skip
    assert netconf is not None


def test_the_daemonset_install_script_installs_a_plugin_the_node_runs(pipework_image, tmp_path):
    """The container of the DaemonSet, as the kubelet would run it (its command, its
    hostPaths as two directories here, its ConfigMap as a file), then the plugin it
    wrote run on this host, outside any container."""
    ds = daemonset()
    spec = ds["spec"]["template"]["spec"]
    (install,) = spec["containers"]
    (cm,) = [d for d in manifest() if d["kind"] == "ConfigMap"]
    config = tmp_path / "config"
    config.mkdir()
    (config / "pipework.conflist").write_text(cm["data"]["pipework.conflist"])
    binaries, networks = tmp_path / "opt-cni-bin", tmp_path / "etc-cni-net.d"
    binaries.mkdir()
    networks.mkdir()
    name = unique("pwtds")
    argv = ["docker", "run", "-d", "--name", name, "--network", "none",
            "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "DAC_OVERRIDE",
            "--cap-add", "FOWNER",
            "-v", f"{binaries}:/host/opt/cni/bin", "-v", f"{networks}:/host/etc/cni/net.d",
            "-v", f"{config}:/config:ro", pipework_image, *install["command"]]  # fmt: skip
    try:
        sh(*argv)
        wait_until((networks / "99-pipework.conflist").exists, 30, "the install")
        assert sh("docker", "inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
    finally:
        sh("docker", "rm", "-f", name, check=False)
    plugin = binaries / "pipework"
    assert os.access(plugin, os.X_OK)
    assert [p.name for p in binaries.iterdir()] == ["pipework"]  # no temporary left
    res = subprocess.run(
        [str(plugin)], input='{"cniVersion": "1.0.0"}', capture_output=True, text=True,
        env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"}, timeout=30, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "1.0.0" in json.loads(res.stdout)["supportedVersions"]
    conflist = json.loads((networks / "99-pipework.conflist").read_text())
    assert conflist["plugins"][0]["type"] == "pipework"
