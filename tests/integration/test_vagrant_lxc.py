"""``pipework vagrant-lxc install|uninstall|status`` on this host's real Debian package
vagrant-lxc (scripts/test installs it), and on a gem directory that dpkg does not own.

Every test that touches the package's scripts/pipework puts the original back (bytes,
mode, no diversion left) even when it fails: the ``debian_script`` fixture.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PIPEWORK, addresses, link, pipework, require, sh

pytestmark = pytest.mark.integration

MARK = b"# pipework vagrant-lxc wrapper"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "vagrant-lxc.md"
README = Path(__file__).resolve().parents[2] / "README.md"


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def diverted_by(path: str) -> str:
    return sh("dpkg-divert", "--listpackage", path).stdout.strip()


def _package_script() -> str:
    res = sh("dpkg-query", "-L", "vagrant-lxc", check=False)
    found = [line for line in res.stdout.splitlines() if line.endswith("/scripts/pipework")]
    require(res.returncode == 0 and len(found) == 1, "the Debian package vagrant-lxc is missing")
    return found[0]


class Original:
    def __init__(self, path: str) -> None:
        self.path = path
        self.data = Path(path).read_bytes()
        self.sha = hashlib.sha256(self.data).hexdigest()
        self.mode = os.stat(path).st_mode & 0o7777

    def restore(self) -> None:
        """Back to the package's own file, whatever a failed test left."""
        if diverted_by(self.path):
            sh("dpkg-divert", "--package", diverted_by(self.path), "--remove", self.path)
        kept = self.path + ".distrib"
        if os.path.lexists(kept):
            os.replace(kept, self.path)
        if not os.path.isfile(self.path) or sha256(self.path) != self.sha:
            spare = self.path + ".pwt-restore"
            Path(spare).write_bytes(self.data)
            os.replace(spare, self.path)
        os.chmod(self.path, self.mode)
        directory = os.path.dirname(self.path)
        for name in os.listdir(directory):
            if name.startswith(".pipework-vagrant-lxc."):
                os.unlink(os.path.join(directory, name))


@pytest.fixture
def debian_script(cleanup) -> Original:
    path = _package_script()
    require(not diverted_by(path), f"{path} is diverted already; not touching it")
    original = Original(path)
    require(MARK not in original.data, f"{path} is pipework's already; not touching it")
    cleanup.add(f"vagrant-lxc's {path}", original.restore)
    return original


@pytest.fixture
def gem_script(tmp_path, debian_script) -> Path:
    """vagrant-lxc as ``vagrant plugin install`` lays it out, in a user's ~/.vagrant.d."""
    scripts = tmp_path / ".vagrant.d/gems/3.1.2/gems/vagrant-lxc-1.4.3/scripts"
    scripts.mkdir(parents=True)
    shutil.copy2(debian_script.path, scripts / "pipework")
    return scripts / "pipework"


def test_install_diverts_the_package_file_and_runs_pipework_in_its_place(debian_script):
    res = pipework("vagrant-lxc", "install")
    assert res.returncode == 0, res.stderr
    path = debian_script.path
    assert diverted_by(path) == "pipework"
    truename = sh("dpkg-divert", "--truename", path).stdout.strip()
    assert truename == path + ".distrib"
    assert sha256(truename) == debian_script.sha
    assert os.stat(truename).st_mode & 0o7777 == debian_script.mode
    ran = sh(path, "--version")
    assert ran.stdout.startswith("pipework "), ran.stdout
    assert MARK in Path(path).read_bytes()


def test_status_says_installed_and_where_the_original_is(debian_script):
    assert pipework("vagrant-lxc", "status").returncode == 3
    assert pipework("vagrant-lxc", "install").returncode == 0
    res = pipework("vagrant-lxc", "status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"installed: {debian_script.path} runs {PIPEWORK};")
    assert f"{debian_script.path}.distrib (dpkg-divert by pipework)" in res.stdout


def test_vagrant_lxc_command_line_attaches_a_netns_guest(debian_script, make_netns, bridge_name):
    assert pipework("vagrant-lxc", "install").returncode == 0
    ns, br = make_netns(), bridge_name()
    # vagrant-lxc 1.4.3's own argv (driver.rb): the script, the bridge, the guest, the address
    res = sh(debian_script.path, br, ns, "198.51.100.5/24", check=False)
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", netns=ns) == ["198.51.100.5/24"]
    assert link(br) is not None
    # and the original's -i form, a second interface
    res = sh(debian_script.path, br, "-i", "eth2", ns, "198.51.100.6/24", check=False)
    assert res.returncode == 0, res.stderr
    assert addresses("eth2", netns=ns) == ["198.51.100.6/24"]


def test_reinstalling_the_package_keeps_ours(debian_script):
    deb = [p for p in Path("/var/cache/apt/archives").glob("vagrant-lxc_*_all.deb")]
    require(deb or sh("apt-get", "download", "--print-uris", "vagrant-lxc", check=False).stdout,
            "no vagrant-lxc .deb in /var/cache/apt/archives and no mirror")  # fmt: skip
    assert pipework("vagrant-lxc", "install").returncode == 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    res = sh("apt-get", "install", "--reinstall", "-y", "-q", "-o", "DPkg::Lock::Timeout=300",
             "vagrant-lxc", env=env, check=False, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert MARK in Path(debian_script.path).read_bytes()
    assert sha256(debian_script.path + ".distrib") == debian_script.sha
    assert pipework("vagrant-lxc", "status").returncode == 0
    res = pipework("vagrant-lxc", "uninstall")
    assert res.returncode == 0, res.stderr
    assert sha256(debian_script.path) == debian_script.sha


def test_uninstall_restores_the_original_byte_for_byte(debian_script):
    assert pipework("vagrant-lxc", "install").returncode == 0
    res = pipework("vagrant-lxc", "uninstall")
    assert res.returncode == 0, res.stderr
    assert sha256(debian_script.path) == debian_script.sha
    assert os.stat(debian_script.path).st_mode & 0o7777 == debian_script.mode
    assert diverted_by(debian_script.path) == ""
    assert not os.path.lexists(debian_script.path + ".distrib")
    assert sh("dpkg", "--verify", "vagrant-lxc", check=False).stdout == ""
    assert pipework("vagrant-lxc", "status").returncode == 3


def test_install_and_uninstall_twice_change_nothing_the_second_time(debian_script):
    assert pipework("vagrant-lxc", "install").returncode == 0
    before = os.stat(debian_script.path)
    res = pipework("vagrant-lxc", "install")
    assert res.returncode == 0 and res.stdout.startswith("already installed"), res
    after = os.stat(debian_script.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert pipework("vagrant-lxc", "uninstall").returncode == 0
    res = pipework("vagrant-lxc", "uninstall")
    assert res.returncode == 0 and res.stdout.startswith("not installed"), res
    assert sha256(debian_script.path) == debian_script.sha


def test_gem_directory_keeps_a_backup_beside_the_script(gem_script, debian_script):
    res = pipework("vagrant-lxc", "install", "--path", str(gem_script))
    assert res.returncode == 0, res.stderr
    backup = Path(f"{gem_script}.orig")
    assert sha256(backup) == debian_script.sha
    assert diverted_by(str(gem_script)) == ""  # dpkg does not own it: no diversion
    assert sh(str(gem_script), "--version").stdout.startswith("pipework ")
    assert pipework("vagrant-lxc", "status", "--path", str(gem_script)).returncode == 0
    res = pipework("vagrant-lxc", "uninstall", "--path", str(gem_script))
    assert res.returncode == 0, res.stderr
    assert sha256(gem_script) == debian_script.sha and not backup.exists()
    assert sorted(p.name for p in gem_script.parent.iterdir()) == ["pipework"]


def test_two_copies_are_named_and_nothing_changes(gem_script, debian_script):
    vagrant_home = str(gem_script.parents[5])  # the .vagrant.d
    res = pipework("vagrant-lxc", "install", env={"VAGRANT_HOME": vagrant_home})
    assert res.returncode == 1
    assert str(gem_script) in res.stderr and debian_script.path in res.stderr
    assert "--path" in res.stderr and len(res.stderr.splitlines()) == 1
    assert sha256(gem_script) == sha256(debian_script.path) == debian_script.sha
    assert sorted(p.name for p in gem_script.parent.iterdir()) == ["pipework"]


def test_a_file_another_package_diverts_is_left_alone(gem_script, cleanup):
    path = str(gem_script)
    cleanup.add("the local diversion", lambda: sh("dpkg-divert", "--local", "--remove", path))
    sh("dpkg-divert", "--local", "--divert", path + ".local", "--add", path)
    res = pipework("vagrant-lxc", "status", "--path", path)
    assert res.returncode == 3 and res.stdout.startswith("diverted by LOCAL:"), res
    res = pipework("vagrant-lxc", "install", "--path", path)
    assert res.returncode == 1 and "diverted by LOCAL" in res.stderr
    assert MARK not in gem_script.read_bytes()
    assert sorted(p.name for p in gem_script.parent.iterdir()) == ["pipework"]


def test_a_command_that_does_not_run_pipework_changes_nothing(gem_script):
    # pipework run from a source tree by an interpreter that does not have it installed:
    # what would be put in place (``python3 -I -m pipework``) cannot run, so nothing is
    python = shutil.which("python3", path="/usr/bin:/bin")
    require(python and python != sys.executable, "a system python3 beside the venv's")
    src = str(Path(__file__).resolve().parents[2] / "src")
    args = ["vagrant-lxc", "install", "--path", str(gem_script)]
    code = f"import sys; sys.path.insert(0, {src!r}); from pipework.cli.main import main; "
    code += f"sys.exit(main({args!r}))"
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "does not run pipework" in res.stderr, res
    assert MARK not in gem_script.read_bytes()
    assert sorted(p.name for p in gem_script.parent.iterdir()) == ["pipework"]


def _doc_commands(text: str) -> list[str]:
    from .test_readme import _blocks

    return [line for block in _blocks(text, "sh") for line in block.splitlines() if line.strip()]


def test_docs_examples_run_as_written(debian_script, make_netns, bridge_name):
    lines = _doc_commands(DOCS.read_text())
    assert [line.split("#")[0].split() for line in lines if line.startswith("pipework")] == [
        ["pipework", "vagrant-lxc", "install"],
        ["pipework", "vagrant-lxc", "status"],
        ["pipework", "vagrant-lxc", "uninstall"],
    ]
    for line in lines:
        if not line.startswith("pipework"):
            assert line.startswith("vagrant "), line  # not run here: no box, no network
            continue
        argv = [PIPEWORK, *line.split("#")[0].split()[1:]]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, f"docs example failed: {line}\n{res.stderr}"
        if argv[-1] == "install":  # what `vagrant up` then runs for devenv's private network
            ns, br = make_netns(), bridge_name()
            ran = sh(debian_script.path, br, ns, "198.51.100.4/24", check=False)
            assert ran.returncode == 0, ran.stderr
    assert sha256(debian_script.path) == debian_script.sha


def test_readme_vagrant_lxc_lines_are_the_docs_ones():
    text = README.read_text()
    section = text[text.index("vagrant-lxc's private networks") : text.index("### route, rule, tc")]
    readme = [line.split("#")[0].split() for line in _doc_commands(section)]
    docs = [line.split("#")[0].split() for line in _doc_commands(DOCS.read_text())]
    assert readme and all(words in docs or "devenv" in words for words in readme), readme


def test_install_warns_when_others_than_root_may_change_the_command(gem_script, tmp_path):
    # a copy of the command in a directory owned by nobody: whoever that is runs as root
    # whenever vagrant-lxc runs the script
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chown(loose, 65534, 65534)
    tool = loose / "pipework"
    shutil.copy2(PIPEWORK, tool)
    res = sh(str(tool), "vagrant-lxc", "install", "--path", str(gem_script), check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr == (
        f"pipework: warning: {loose} may be changed by others than root, and vagrant-lxc "
        "runs it as root: install pipework where only root can write\n"
    )
    assert pipework("vagrant-lxc", "install", "--path", str(gem_script)).stderr == ""


def test_a_missing_original_is_said_and_not_replaced(gem_script):
    gem_script.unlink()
    res = pipework("vagrant-lxc", "status", "--path", str(gem_script))
    assert res.returncode == 3 and res.stdout.startswith("original missing:"), res
    res = pipework("vagrant-lxc", "install", "--path", str(gem_script))
    assert res.returncode == 1 and "does not exist" in res.stderr, res
    assert list(gem_script.parent.iterdir()) == []


def test_concurrent_installs_leave_one_wrapper_and_one_diversion(debian_script):
    procs = [
        subprocess.Popen([PIPEWORK, "vagrant-lxc", "install"], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    assert sum(out.startswith("installed:") for out in outputs) == 1, outputs
    assert diverted_by(debian_script.path) == "pipework"
    assert sha256(debian_script.path + ".distrib") == debian_script.sha
    assert pipework("vagrant-lxc", "uninstall").returncode == 0
    assert sha256(debian_script.path) == debian_script.sha


def test_seed_scenario_an_lxc_container_through_vagrant_lxc_script(
    debian_script, lxc_container, bridge_name, cleanup
):
    ct, br = lxc_container(), bridge_name()
    argv = [debian_script.path, br, ct, "198.51.100.7/24"]  # as vagrant-lxc 1.4.3 calls it
    before = sh(*argv, check=False)
    cleanup.add("the original's bridge", lambda: sh("ip", "link", "del", br, check=False))
    # vagrant-lxc's own copy: two containers on LXC 3.1, none here (cgroup v2)
    assert before.returncode != 0, before
    assert pipework("vagrant-lxc", "install").returncode == 0
    res = sh(*argv, check=False)
    assert res.returncode == 0, res.stderr
    pid = sh("lxc-info", "-n", ct, "-p").stdout.split(":", 1)[1].strip()
    inside = sh("nsenter", "-t", pid, "-n", "ip", "-br", "addr", "show", "eth1").stdout
    assert "198.51.100.7/24" in inside


def test_from_the_pyz_the_script_runs_the_pyz(gem_script, tmp_path):
    root = Path(__file__).resolve().parents[2]
    tool = tmp_path / "bin" / "pipework"  # the .pyz copied anywhere as pipework
    tool.parent.mkdir()
    sh(str(root / "scripts" / "build-pyz"), str(tool), timeout=120)
    res = sh(str(tool), "vagrant-lxc", "install", "--path", str(gem_script), check=False)
    assert res.returncode == 0, res.stderr
    assert gem_script.read_text().splitlines()[-1] == f'exec {tool} "$@"'
    assert sh(str(gem_script), "--version").stdout.startswith("pipework ")


def test_uninstall_after_the_package_took_the_original_away(gem_script, cleanup):
    # as after `apt-get remove vagrant-lxc` with ours in place: dpkg removes the diverted
    # original (FILE.distrib), our script and the diversion stay
    path = str(gem_script)
    divert = ["dpkg-divert", "--package", "pipework", "--no-rename"]
    cleanup.add("the diversion", lambda: sh(*divert, "--remove", path, check=False))
    sh(*divert, "--divert", path + ".distrib", "--add", path)
    gem_script.write_text(
        '#!/bin/sh\n# pipework vagrant-lxc wrapper: ...\nexec /usr/local/bin/pipework "$@"\n'
    )
    res = pipework("vagrant-lxc", "status", "--path", path)
    assert res.returncode == 0 and "the original is missing" in res.stdout, res
    res = pipework("vagrant-lxc", "uninstall", "--path", path)
    assert res.returncode == 0 and "apt-get install --reinstall" in res.stdout, res
    assert diverted_by(path) == ""
    assert list(gem_script.parent.iterdir()) == []
