"""The operator's policy with the real dockerd: a container whose label asks for a NIC
(a macvlan on it, or ``--direct-phys``) is refused by ``pipework watch`` and logged,
one line naming the container, what it asked and the rule; with a policy line that
allows it, it is attached.

The NIC is a veth end standing in for one (conftest ``nic``); containers are the
locally imported busybox (never pulled); the policy file is the test's own
(``--policy``), the host's /etc/pipework is not touched.
"""

from __future__ import annotations

import subprocess
import threading

from .conftest import PIPEWORK, Cleanup, link, pipework, wait_until
from .test_watch_docker import Watcher, guest_addresses, pid_of, wait_attached


class PolicyWatcher(Watcher):
    """``pipework watch --json`` with the test's declarations directory and policy."""

    def __init__(self, directory: str, policy: str) -> None:
        self.proc = subprocess.Popen(
            [PIPEWORK, "watch", "--json", "--dir", directory, "--policy", policy],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()


def start_watcher(cleanup: Cleanup, tmp_path, policy_text: str | None) -> PolicyWatcher:
    directory = tmp_path / "attachments.d"
    directory.mkdir(exist_ok=True)
    policy = tmp_path / "policy.conf"
    if policy_text is not None:
        policy.write_text(policy_text)
        policy.chmod(0o644)
    w = PolicyWatcher(str(directory), str(policy))
    cleanup.add("pipework watch", w.kill)
    wait_until(lambda: w.said("watching") or w.proc.poll() is not None, 30, "the watcher")
    assert w.proc.poll() is None, w.log()
    return w


def test_a_label_asking_for_a_nic_is_refused_and_logged(cleanup, tmp_path, container, nic):
    w = start_watcher(cleanup, tmp_path, None)  # no policy file: the default
    parent = nic()
    name = container("--label", f"pipework.attach={parent} 198.51.100.31/24")
    w.wait_said("refused", name)
    (line,) = w.said("refused", name)
    message = str(line["message"])
    assert f"macvlan on {parent}" in message, message
    assert f"the default policy (no {tmp_path}/policy.conf)" in message
    assert "Linux bridges only" in message
    assert guest_addresses(pid_of(name)) == []  # nothing applied
    assert w.proc.poll() is None


def test_a_policy_line_allowing_it_gets_it_applied(cleanup, tmp_path, container, nic):
    parent = nic()
    w = start_watcher(cleanup, tmp_path, f"allow macvlan {parent} from label guest pwt-dk*\n")
    name = container("--label", f"pipework.attach={parent} 198.51.100.32/24")
    wait_attached(name, "198.51.100.32/24")
    w.wait_said("attached", name)
    assert not w.said("refused")


def test_direct_phys_is_refused_by_a_deny_rule_named_in_the_line(tmp_path, container, nic):
    parent = nic()
    policy = tmp_path / "policy.conf"
    policy.write_text(f"deny direct-phys {parent}\nallow * *\n")
    name = container("--label", f"pipework.attach=--direct-phys {parent} 198.51.100.33/24")
    (tmp_path / "empty").mkdir()
    res = pipework("apply", "--guest", f"docker:{name}", "--dir", str(tmp_path / "empty"),
                   "--policy", str(policy))  # fmt: skip
    assert res.returncode == 1
    (line,) = [x for x in res.stderr.splitlines() if "refused" in x]
    assert name in line and f"direct on {parent} is not allowed" in line
    assert line.endswith(f"{policy}:1: deny direct-phys {parent}")
    assert link(parent) is not None  # still the host's


def test_allow_forward_asked_by_a_label_is_refused_by_default(tmp_path, container, make_bridge):
    br = make_bridge()
    name = container("--label", f"pipework.attach=attach --to {br} --ip 198.51.100.34/24 "
                     "--allow-forward")  # fmt: skip
    (tmp_path / "empty").mkdir()
    res = pipework("apply", "--guest", f"docker:{name}", "--dir", str(tmp_path / "empty"),
                   "--policy", str(tmp_path / "policy.conf"))  # fmt: skip
    assert res.returncode == 1
    (line,) = [x for x in res.stderr.splitlines() if "refused" in x]
    assert f"bridge on {br} with allow-forward is not allowed" in line, line
    assert guest_addresses(pid_of(name)) == []
