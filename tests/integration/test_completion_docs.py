"""docs/completion.md runs as written: each ``sh`` block, by bash, as root, with the
installed pipework first on PATH; what the install lines wrote is where the docs
say and is what ``pipework completion`` and ``pipework man`` print, and is removed
afterwards (a file that was there before is put back as it was)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, PIPEWORK

DOCS = Path(__file__).resolve().parents[2] / "docs" / "completion.md"
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MANWIDTH": "80"}
WRITTEN = {
    "/usr/share/bash-completion/completions/pipework": ("completion", "bash"),
    "/usr/local/share/zsh/site-functions/_pipework": ("completion", "zsh"),
    "/usr/share/zsh/vendor-completions/_pipework": ("completion", "zsh"),
    "/usr/local/share/man/man1/pipework.1": ("man",),
}


def _blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOCS.read_text(), re.S)


def _bash(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", code], capture_output=True, text=True, env=ENV, timeout=60,
        check=False,
    )  # fmt: skip


def _printed(*args: str) -> str:
    return subprocess.run(
        [PIPEWORK, *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@pytest.fixture
def system_files(cleanup):
    """The files the install lines write: each put back as it was (or removed)."""
    for path in WRITTEN:
        before = Path(path).read_bytes() if os.path.exists(path) else None
        made = [d for d in _parents(path) if not os.path.isdir(d)]
        cleanup.add(f"{path} as it was", lambda p=path, b=before, m=made: _restore(p, b, m))
        if before is not None:
            os.unlink(path)
    return WRITTEN


def _parents(path: str) -> list[str]:
    found = []
    directory = os.path.dirname(path)
    while directory not in ("/", "/usr", "/usr/share", "/usr/local", "/usr/local/share"):
        found.append(directory)
        directory = os.path.dirname(directory)
    return found


def _restore(path: str, before: bytes | None, made: list[str]) -> None:
    if before is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        Path(path).write_bytes(before)
    for directory in made:  # deepest first
        if os.path.isdir(directory) and not os.listdir(directory):
            os.rmdir(directory)


def test_the_docs_have_the_blocks_this_test_runs():
    firsts = [block.splitlines()[0].split("#")[0].strip() for block in _blocks()]
    assert firsts == [
        "pipework completion install",
        "pipework completion install --shell bash",
        "source <(pipework completion bash)",
        "pipework man | man -l -",
        "pipework --version",
    ]


def test_the_install_lines_write_the_scripts_and_the_page_where_the_docs_say(system_files):
    for block in _blocks()[:2]:
        res = _bash(block)
        assert res.returncode == 0, res.stderr
    for path, args in system_files.items():
        assert Path(path).read_text() == _printed(*args), path
        assert f"`{path}`" in DOCS.read_text() or path.endswith("vendor-completions/_pipework")
    shown = _bash("man -w pipework")
    found = os.path.realpath(shown.stdout.strip())  # Debian: /usr/local/man -> share/man
    assert found == "/usr/local/share/man/man1/pipework.1"


def test_sourcing_the_script_makes_bash_complete_pipework():
    block = _blocks()[2]
    res = _bash(block + "complete -p pipework\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "complete -F _pipework pipework"


def test_the_manual_reads_without_installing_it():
    res = _bash(_blocks()[3])
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("PIPEWORK(1)") and "\nCOMMANDS\n" in res.stdout


def test_pipework_version_prints_the_package_version():
    import pipework

    res = _bash(_blocks()[4])
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"pipework {pipework.__version__}\n"
    assert f"prints `pipework {pipework.__version__}`" in DOCS.read_text()
