"""systemd-nspawn machines: machined's registry and the systemd-nspawn processes.

machined does not run on the test hosts (no systemd as PID 1), so its registry is a
tree recorded from a real one (/run/systemd/machines/NAME as machined 252 writes
it); the processes are a fixture /proc of stat, status, cmdline and ns/pid files.
"""

from __future__ import annotations

import os

import pytest

from pipework._lowlevel import procfs
from pipework.errors import UsageError
from pipework.guests import nspawn
from pipework.names import GuestRef, parse_guest_ref
from pipework.ops.link import parse_end

# as machined 252 writes it for a booted container (machine_save())
RECORD = """\
# This is private data. Do not parse.
NAME=pwtweb
SCOPE=machine-pwtweb.scope
SERVICE=systemd-nspawn
ROOT=/var/lib/machines/pwtweb
ID=5f6a1e0b2c8d4e7f9a0b1c2d3e4f5a6b
STATE=running
LEADER={leader}
CLASS={klass}
REALTIME=1733380000000000
MONOTONIC=123456789
NETIF=17
"""


@pytest.fixture
def machines(tmp_path, monkeypatch):
    path = tmp_path / "machines"
    path.mkdir()
    monkeypatch.setattr(nspawn, "MACHINES_DIR", str(path))
    return path


def _record(machines, name="pwtweb", leader=None, klass="container"):
    text = RECORD.format(leader=os.getpid() if leader is None else leader, klass=klass)
    (machines / name).write_text(text)


# ---------------------------------------------------------------- prefixes


def test_machine_is_another_word_for_nspawn():
    assert parse_guest_ref("machine:pwtweb") == GuestRef("nspawn", "pwtweb")
    assert parse_guest_ref("nspawn:pwtweb") == GuestRef("nspawn", "pwtweb")
    assert parse_end("machine:pwtweb:eth2") == (GuestRef("nspawn", "pwtweb"), "eth2")


@pytest.mark.parametrize("text", ["machine:../etc", "nspawn:a/b", "machine:*", "machine:"])
def test_a_machine_name_is_never_a_path_or_a_glob(text):
    with pytest.raises(UsageError):
        parse_guest_ref(text)


# ---------------------------------------------------------------- machined's registry


def test_a_registered_machine_is_its_leader(machines):
    _record(machines)
    finding = nspawn.find_registered("pwtweb")
    (cand,) = finding.candidates
    assert (cand.runtime, cand.name, cand.pid) == ("nspawn", "pwtweb", os.getpid())
    assert cand.ns_path == f"/proc/{os.getpid()}/ns/net"
    assert nspawn.still_in_container(os.getpid(), cand.check)
    _record(machines, leader=os.getppid())  # machined now names another leader
    assert not nspawn.still_in_container(os.getpid(), cand.check)


def test_an_unregistered_machine_is_said_so(machines, tmp_path, monkeypatch):
    finding = nspawn.find_registered("pwtweb")
    assert finding.candidates == []
    assert finding.summary() == f"nspawn: machined has no machine pwtweb (no {machines}/pwtweb)"
    monkeypatch.setattr(nspawn, "MACHINES_DIR", str(tmp_path / "none"))
    assert "machined is not running" in nspawn.find_registered("pwtweb").summary()


def test_a_virtual_machine_is_not_a_container(machines):
    _record(machines, klass="vm")
    finding = nspawn.find_registered("pwtweb")
    assert finding.candidates == []
    assert "machine pwtweb is a vm, not a container" in finding.summary()


@pytest.mark.parametrize("leader", ["", "0", "1", "-5", "12a", "99999999", "4194304", "٣"])
def test_a_leader_that_is_not_a_pid_is_refused(machines, leader):
    _record(machines, leader=leader)
    finding = nspawn.find_registered("pwtweb")
    assert finding.candidates == []
    assert "no valid LEADER" in finding.summary()


def test_a_record_naming_another_machine_or_too_large_or_a_link_is_ignored(machines):
    (machines / "pwtweb").write_text(RECORD.format(leader=os.getpid(), klass="container"))
    (machines / "pwtother").symlink_to(machines / "pwtweb")
    assert nspawn.find_registered("pwtother").candidates == []
    os.unlink(machines / "pwtother")
    (machines / "pwtother").write_text(RECORD.format(leader=os.getpid(), klass="container"))
    assert "names another machine" in nspawn.find_registered("pwtother").summary()
    (machines / "pwtweb").write_text("LEADER=5\n" + "#" * (70 * 1024))
    assert "larger than" in nspawn.find_registered("pwtweb").summary()


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["-M", "pwtweb"], "pwtweb"),
        (["--machine=pwtweb"], "pwtweb"),
        (["--machine", "pwtweb"], "pwtweb"),
        (["-Mpwtweb"], "pwtweb"),
        (["-qbM", "pwtweb"], "pwtweb"),
        (["--mach=pwtweb"], "pwtweb"),  # getopt_long's abbreviations
        (["-D", "/srv/pwtweb"], "pwtweb"),
        (["--directory=/srv/pwtweb/"], "pwtweb"),
        (["-i", "/var/lib/machines/pwtweb.raw"], "pwtweb"),
        (["-D", "/srv/x", "-M", "pwtweb"], "pwtweb"),
        (["-M", "", "-D", "/srv/pwtweb"], "pwtweb"),  # an empty name: not given
        (["--bind", "/a:/b", "-M", "pwtweb", "--private-network"], "pwtweb"),
        (["--private-users", "-M", "pwtweb"], "pwtweb"),  # optional value: only with =
        (["-D", "/srv/pwtdir", "/bin/sh", "-M", "pwtweb"], "pwtdir"),  # the payload's
        (["-D", "/srv/pwtdir", "--", "-M", "pwtweb"], "pwtdir"),
        (["-M", "pwt web"], None),  # nothing a user could type
        (["-M", "../pwtweb"], None),
        (["-b"], None),
        ([], None),
    ],
)
def test_the_machine_name_is_read_as_systemd_nspawn_reads_it(argv, name):
    assert nspawn.machine_name(["systemd-nspawn", *argv]) == name


@pytest.mark.parametrize(
    "argv",
    [["--frobnicate", "-M", "x"], ["--p=1"], ["-Y"], ["-M"], ["--machine"], ["--boot=yes"]],
)
def test_a_command_line_it_cannot_read_is_never_guessed_at(argv):
    with pytest.raises(nspawn._Unreadable):
        nspawn.machine_name(["systemd-nspawn", *argv])


# ---------------------------------------------------------------- the processes


def _process(root, pid, ppid, comm, argv=(), uid=0, pidns=4026531836):
    d = root / str(pid)
    (d / "ns").mkdir(parents=True)
    fields = " ".join(["S", str(ppid)] + ["0"] * 17 + [str(1000 + pid)] + ["0"] * 30)
    (d / "stat").write_text(f"{pid} ({comm}) {fields}\n")
    (d / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
    (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    (d / "ns" / "pid").symlink_to(f"pid:[{pidns}]")


@pytest.fixture
def proc(tmp_path, monkeypatch):
    root = tmp_path / "proc"
    root.mkdir()
    monkeypatch.setattr(procfs, "PROC_ROOT", str(root))
    monkeypatch.setattr(nspawn, "IMAGES_DIR", str(tmp_path / "machines"))
    _process(root, 1, 0, "init")
    return root


def _nspawn(root, pid, *argv, uid=0, container=True):
    _process(root, pid, 1, "systemd-nspawn", ("systemd-nspawn", *argv), uid=uid)
    if container:
        _process(root, pid + 1, pid, "sh", ("/bin/sh",), pidns=pid)


def test_a_running_machine_is_the_container_child_of_its_nspawn(proc):
    _nspawn(proc, 100, "--register=no", "-D", "/srv/pwtdir", "-M", "pwtweb")
    _nspawn(proc, 200, "-D", "/srv/pwtdir2")
    finding = nspawn.find_running("pwtweb")
    (cand,) = finding.candidates
    assert (cand.name, cand.pid, cand.starttime, cand.check) == ("pwtweb", 101, 1101, "parent:100")
    assert nspawn.still_in_container(101, cand.check)
    assert not nspawn.still_in_container(201, cand.check)
    assert [c.pid for c in nspawn.find_running("pwtdir2").candidates] == [201]


def test_a_process_of_another_user_calling_itself_nspawn_is_ignored(proc):
    _nspawn(proc, 100, "-M", "pwtweb", uid=1000)
    finding = nspawn.find_running("pwtweb")
    assert finding.candidates == []
    assert "no systemd-nspawn process runs machine pwtweb" in finding.summary()
    assert "ignored systemd-nspawn pid 100: not run by root" in finding.summary()


def test_a_fork_of_nspawn_is_not_another_machine(proc):
    # --as-pid2's stub init, or the container before it execs: same name, same argv
    _nspawn(proc, 100, "-M", "pwtweb", container=False)
    _process(proc, 101, 100, "systemd-nspawn", ("systemd-nspawn", "-M", "pwtweb"), pidns=100)
    _process(proc, 102, 101, "sh", ("/bin/sh",), pidns=100)
    finding = nspawn.find_running("pwtweb")
    assert [c.pid for c in finding.candidates] == [101]
    assert "no container process" not in finding.summary()


def test_two_nspawns_of_one_name_are_both_candidates(proc):
    _nspawn(proc, 100, "-M", "pwtweb")
    _nspawn(proc, 200, "-M", "pwtweb")
    assert [c.pid for c in nspawn.find_running("pwtweb").candidates] == [101, 201]


def test_a_stopped_machine_says_what_runs(proc, tmp_path):
    _nspawn(proc, 100, "-M", "pwtother")
    _nspawn(proc, 200, "-M", "pwtstarting", container=False)
    _nspawn(proc, 300, "--frobnicate")
    summary = nspawn.find_running("pwtweb").summary()
    assert "no systemd-nspawn process runs machine pwtweb (running: pwtother, pwtstarting)" in (
        summary
    )
    assert "cannot read the command line of systemd-nspawn pid 300: unknown option" in summary
    assert "has no container process" in nspawn.find_running("pwtstarting").summary()
    (tmp_path / "machines" / "pwtweb").mkdir(parents=True)
    assert "machine pwtweb is in" in nspawn.find_running("pwtweb").summary()
    assert "but is not running" in nspawn.find_running("pwtweb").summary()
