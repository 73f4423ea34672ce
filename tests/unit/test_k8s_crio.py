"""Kubernetes pods on a CRI-O node, found in a recorded containers/storage tree.

No CRI-O runs here (Debian 12 has no package), so these tests build the layout CRI-O
writes through containers/storage in a temporary directory and point the resolver at
it: ``<graphroot>/overlay-containers/<ID>/userdata/config.json`` (the sandbox's OCI
spec, trimmed to what matters, with CRI-O's annotations) and conmon's
``<runroot>/overlay-containers/<ID>/userdata/pidfile``. The pid check is replaced in
the look-up tests and exercised for real (a ``conmon``-named parent and a ``crio-ID``
cgroup) in the last ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pipework.errors import GuestNotFound
from pipework.guests import choose, k8s, search
from pipework.names import parse_guest_ref

SANDBOX = "5b2d0e0c8a7f4d3e9c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d"
APP = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
OTHER = "f" * 64


def _spec(ctype: str, namespace: str, pod: str, ident: str) -> dict[str, object]:
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"args": ["/pause"], "cwd": "/"},
        "root": {"path": "/var/lib/containers/storage/overlay/x/merged"},
        "annotations": {
            "io.kubernetes.cri-o.ContainerID": ident,
            "io.kubernetes.cri-o.ContainerName": f"k8s_POD_{pod}_{namespace}_0b5a6c1e_0",
            "io.kubernetes.cri-o.ContainerType": ctype,
            "io.kubernetes.cri-o.KubeName": pod,
            "io.kubernetes.cri-o.Labels": json.dumps(
                {"io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": namespace}
            ),
            "io.kubernetes.cri-o.Namespace": namespace,
            "io.kubernetes.cri-o.SandboxID": SANDBOX,
            "io.kubernetes.pod.name": pod,
            "io.kubernetes.pod.namespace": namespace,
        },
        "linux": {"cgroupsPath": f"kubepods-besteffort-podx.slice:crio:{ident}"},
    }


@pytest.fixture
def store(tmp_path, monkeypatch):
    graph, run = tmp_path / "lib", tmp_path / "run"
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{graph}"\nrunroot = "{run}"\n')
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(conf))
    monkeypatch.setattr(k8s, "CRIO_RUN", str(tmp_path))
    from pipework.guests import containerd

    monkeypatch.setattr(containerd, "TASK_ROOTS", (str(tmp_path / "no-containerd"),))
    monkeypatch.setattr(k8s, "_is_crio_sandbox", lambda pid, ident: pid == os.getpid())
    return graph, run


def _container(store, ident: str, spec: dict[str, object], pid: int | None) -> None:
    graph, run = store
    (graph / "overlay-containers" / ident / "userdata").mkdir(parents=True)
    (graph / "overlay-containers" / ident / "userdata" / "config.json").write_text(json.dumps(spec))
    (run / "overlay-containers" / ident / "userdata").mkdir(parents=True)
    if pid is not None:
        (run / "overlay-containers" / ident / "userdata" / "pidfile").write_text(str(pid))


def _find(text: str):
    ref = parse_guest_ref(text)
    return ref, search(ref)


def test_a_crio_pod_by_namespace_and_name(store):
    _container(store, SANDBOX, _spec("sandbox", "default", "web", SANDBOX), os.getpid())
    _container(store, APP, _spec("container", "default", "web", APP), os.getpid())
    _container(store, OTHER, _spec("sandbox", "other", "db", OTHER), os.getpid())
    for text in ("k8s:default/web", "k8s:web"):
        ref, findings = _find(text)
        chosen = choose(ref, findings)
        assert (chosen.runtime, chosen.name, chosen.pid) == ("k8s", "default/web", os.getpid())
        assert chosen.check == f"crio:{SANDBOX}"
        assert k8s.RESOLVER.still_in_container(os.getpid(), chosen.check)
    ref, findings = _find("k8s:other/web")
    with pytest.raises(GuestNotFound, match="no CRI-O pod sandbox"):
        choose(ref, findings)


def test_a_stopped_or_foreign_sandbox_is_not_running(store):
    _container(store, SANDBOX, _spec("sandbox", "default", "web", SANDBOX), None)
    _container(store, OTHER, _spec("sandbox", "prod", "web", OTHER), 1)
    _ref, findings = _find("k8s:web")
    summary = findings[0].summary()
    assert not findings[0].candidates
    assert "has no valid" in summary and "CRI-O pod prod/web is not running" in summary


def test_a_hostile_pod_namespace_or_pidfile_is_refused(store):
    _container(store, SANDBOX, _spec("sandbox", "../../etc", "web", SANDBOX), os.getpid())
    _container(store, OTHER, _spec("sandbox", "prod", "web", OTHER), None)
    pidfile = store[1] / "overlay-containers" / OTHER / "userdata" / "pidfile"
    pidfile.write_text("99999999999999999999")
    _ref, findings = _find("k8s:web")
    assert not findings[0].candidates
    assert "is not a name" in findings[0].summary()
    assert "has no valid" in findings[0].summary()


def test_without_crio_run_dir_the_store_is_not_read(store, monkeypatch, tmp_path):
    _container(store, SANDBOX, _spec("sandbox", "default", "web", SANDBOX), os.getpid())
    monkeypatch.setattr(k8s, "CRIO_RUN", str(tmp_path / "absent"))
    _ref, findings = _find("k8s:default/web")
    assert not findings[0].candidates and "CRI-O" not in findings[0].summary()


#: a cgroup v2 hierarchy: the whole tree, or a hybrid host's unified one
CGROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")


@pytest.fixture
def infra():
    """A real process tree as CRI-O makes it: a root-owned ``conmon`` (argv naming
    ``-c ID``) whose child is the infra process, in a cgroup ``…/crio-ID``."""
    roots = [r for r in CGROOTS if os.path.exists(f"{r}/cgroup.subtree_control")]
    if os.geteuid() != 0 or not roots:
        pytest.skip("needs root and cgroup v2")
    parent = f"{roots[0]}/pwtcrio{os.getpid()}"
    scope = f"{parent}/crio-{SANDBOX}"
    os.makedirs(scope)
    conmon = subprocess.Popen(
        ["/usr/bin/conmon", "-c", "sleep 30 & echo $!; wait", "-c", SANDBOX],
        executable="/bin/sh",
        stdout=subprocess.PIPE,
    )
    child = 0
    try:
        assert conmon.stdout is not None
        child = int(conmon.stdout.readline())
        yield conmon, child, scope
    finally:
        if child:
            os.kill(child, 9)
        conmon.kill()
        conmon.wait(5)
        conmon.stdout.close()
        for _ in range(50):  # the killed sleep leaves the cgroup asynchronously
            try:
                os.rmdir(scope)
                os.rmdir(parent)
                break
            except OSError:
                time.sleep(0.05)


def test_the_infra_process_needs_its_cgroup_and_conmon(infra):
    conmon, child, scope = infra
    assert not k8s._is_crio_sandbox(child, SANDBOX)  # not yet in crio-ID
    with open(f"{scope}/cgroup.procs", "w") as f:
        f.write(str(child))
    assert k8s._is_crio_sandbox(child, SANDBOX)
    assert not k8s._is_crio_sandbox(child, OTHER)  # another ID: neither cgroup nor conmon
    assert not k8s._is_crio_sandbox(conmon.pid, SANDBOX)  # conmon itself: not its child
    assert not k8s._is_crio_sandbox(child, "../x")
