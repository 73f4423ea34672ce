"""The man page, the shell completion and --version follow the command line itself.

Every verb ``cli/main.py`` dispatches (read here from its source, independently of
``cli.catalog``) is in the man page with its options and in what bash and zsh
complete: a verb added without a help text fails here. The completion scripts are
run by the real shells, with the completion function called as each shell calls it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pipework
from pipework.cli import catalog
from pipework.cli.legacy import _FLAGS, _VALUED, _VXLAN, VALUE_OPTIONS, parse_legacy
from pipework.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "src" / "pipework" / "cli" / "main.py"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MANWIDTH": "80"}


def _dispatched_verbs() -> set[str]:
    """The verbs of main.run: ``args[0] == "X"`` branches and the VERBS tuple."""
    source = MAIN.read_text()
    verbs = set(re.findall(r'args\[0\] == "([a-z][\w-]*)"', source))
    tuple_text = re.search(r"^VERBS = \(([^)]*)\)", source, re.M)
    assert tuple_text is not None
    verbs |= set(re.findall(r'"([a-z][\w-]*)"', tuple_text.group(1)))
    return verbs


def _run(
    *argv: str, stdin: str | None = None, env: dict[str, str] = ENV
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, env=env, timeout=60, check=False
    )


def bash_complete(script: Path, *words: str, env: dict[str, str] = ENV) -> list[str]:
    """COMPREPLY after bash's completion function ran with COMP_WORDS = ``words`` (the
    last one being completed), as bash calls it."""
    code = (
        f"source {script}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        "_pipework\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    res = _run("bash", "-c", code, "bash", *words, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


# zsh's completion system is stubbed where it meets the terminal: _describe prints
# the candidates it was given, _files says it was called.
ZSH_STUBS = """
compdef() { :; }
_describe() { local name=${@[-1]}; print -rl -- "${(@P)name}"; }
_files() { print -r -- ":files $*"; }
"""


def zsh_complete(script: Path, *words: str, env: dict[str, str] = ENV) -> list[str]:
    """What zsh's completion function offers for ``words`` (the last being completed)."""
    code = ZSH_STUBS + f"source {script}\n" + 'words=("$@"); CURRENT=$#\n_pipework\n'
    res = _run("zsh", "-f", "-c", code, "zsh", *words, env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def completion_scripts(where: Path, env: dict[str, str] = ENV) -> dict[str, Path]:
    """``pipework completion bash`` and ``zsh`` written into ``where``."""
    found = {}
    for shell in ("bash", "zsh"):
        res = _run("pipework", "completion", shell, env=env)
        assert res.returncode == 0, res.stderr
        found[shell] = where / shell
        found[shell].write_text(res.stdout)
    return found


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return completion_scripts(tmp_path_factory.mktemp("completion"))


@pytest.fixture(scope="module")
def manual() -> str:
    page = _run("pipework", "man")
    assert page.returncode == 0, page.stderr
    shown = _run("man", "--warnings", "-l", "-", stdin=page.stdout)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    return shown.stdout


def test_every_verb_main_dispatches_has_an_entry_with_its_synopsis_and_what_it_does():
    verbs = _dispatched_verbs() - {"__complete"}
    assert {"attach", "cni", "completion", "man"} <= verbs
    assert set(catalog.verb_names()) == verbs
    for verb in verbs:
        entry = catalog.entry(verb)
        assert entry.synopsis and all(s.startswith(f"pipework {verb}") for s in entry.synopsis)
        assert entry.summary or any(entry.does), f"pipework {verb} --help says nothing"


def test_the_man_page_renders_without_warnings_with_every_verb_and_its_options(manual):
    for verb in _dispatched_verbs() - {"__complete"}:
        assert re.search(rf"^   {re.escape(verb)}$", manual, re.M), verb
        section = re.split(r"\n {3}(?! )|\n\S", manual.split(f"\n   {verb}\n", 1)[1])[0]
        for option in catalog.entry(verb).options:
            assert option.names[-1] in section, (verb, option.names)
    assert "\n       -v print each kernel operation" in manual  # the original's options


def test_the_man_page_shows_the_original_command_line_and_its_options(manual):
    assert "pipework <hostinterface> [-i containerinterface]" in manual
    synopsis = manual.split("DESCRIPTION")[0]
    assert "pipework --version" in synopsis
    options = manual.split("\nOPTIONS\n", 1)[1].split("\nCOMMANDS\n", 1)[0]
    for name in ("--version", "--create-bridge", "--mtu", "--direct-phys", "--wait"):
        assert f"\n       {name}" in options, name


def test_every_option_of_the_original_command_line_is_in_the_catalogue_and_accepted():
    named = {n for o in catalog.entry("").options for n in o.names}
    parsed = {*_FLAGS, *_VALUED, *_VXLAN, *VALUE_OPTIONS, "-v", "--direct-phys", "--wait"}
    assert parsed <= named
    for option in sorted(named - {"-h", "--help", "--version", "--wait", "--timeout"}):
        given = [option, "1"] if option in VALUE_OPTIONS else [option]
        said = []
        for words in ([*given, "br1"], ["br1", *given]):
            try:
                parse_legacy([*words, "netns:x", "192.0.2.2/24"])
            except UsageError as exc:
                said.append(str(exc))
        assert len(said) < 2 or not all("unknown option" in s for s in said), (option, said)


def test_bash_completes_every_verb_at_the_first_word(scripts):
    offered = bash_complete(scripts["bash"], "pipework", "")
    assert _dispatched_verbs() - {"__complete"} <= set(offered)
    assert "__complete" not in offered
    assert bash_complete(scripts["bash"], "pipework", "comp") == ["completion"]


def test_bash_completes_a_verb_s_options_and_their_values(scripts):
    offered = bash_complete(scripts["bash"], "pipework", "attach", "x", "--i")
    assert {"--ip", "--ifname", "--ipvlan-mode"} == set(offered)
    assert bash_complete(scripts["bash"], "pipework", "graph", "--format", "") == [
        "dot", "svg", "png", "html",
    ]  # fmt: skip
    assert set(bash_complete(scripts["bash"], "pipework", "cni", "")) == {"install", "uninstall"}
    assert bash_complete(scripts["bash"], "pipework", "cni", "install", "--") == ["--dir"]
    install = bash_complete(scripts["bash"], "pipework", "completion", "install", "--shell", "")
    assert install == ["bash", "zsh"]


def test_bash_completes_files_where_a_verb_takes_a_file(scripts, tmp_path):
    (tmp_path / "lab.clab.yml").write_text("")
    prefix = str(tmp_path / "lab")
    assert bash_complete(scripts["bash"], "pipework", "up", prefix) == [prefix + ".clab.yml"]


def test_bash_offers_an_option_once_unless_it_repeats(scripts):
    offered = bash_complete(scripts["bash"], "pipework", "attach", "x", "--to", "br1", "--")
    assert "--to" not in offered and "--ip" in offered
    again = bash_complete(scripts["bash"], "pipework", "attach", "x", "--ip", "a", "--")
    assert "--ip" in again


def test_zsh_completes_verbs_with_what_they_do_and_options(scripts):
    offered = zsh_complete(scripts["zsh"], "pipework", "")
    names = {line.split(":")[0] for line in offered}
    assert _dispatched_verbs() - {"__complete"} <= names
    assert "attach:Plumb GUEST into a host interface" in offered
    options = zsh_complete(scripts["zsh"], "pipework", "detach", "x", "--a")
    assert options == ["--all:every interface pipework attached to GUEST"]
    assert zsh_complete(scripts["zsh"], "pipework", "up", "") == [":files "]


def test_the_scripts_are_valid_shell(scripts):
    assert _run("bash", "-n", str(scripts["bash"])).returncode == 0
    assert _run("zsh", "-n", str(scripts["zsh"])).returncode == 0


def test_completion_install_writes_each_script_into_the_directory(tmp_path, scripts):
    res = _run("pipework", "completion", "install", "--dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "pipework").read_text() == scripts["bash"].read_text()
    assert (tmp_path / "_pipework").read_text() == scripts["zsh"].read_text()
    assert (tmp_path / "pipework").stat().st_mode & 0o777 == 0o644
    only = tmp_path / "zsh-only"
    res = _run("pipework", "completion", "install", "--shell", "zsh", "--dir", str(only))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in only.iterdir()) == ["_pipework"]


def test_completion_install_refuses_an_unknown_shell(tmp_path):
    res = _run("pipework", "completion", "install", "--shell", "fish", "--dir", str(tmp_path))
    assert res.returncode == 2 and "bash or zsh" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_man_install_writes_the_page_into_the_directory(tmp_path):
    res = _run("pipework", "man", "install", "--dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "pipework.1").read_text() == _run("pipework", "man").stdout


def test_a_completion_answers_well_under_200_ms():
    argv = ["pipework", "__complete", "zsh", "1", "pipework", ""]
    best = 10.0
    for _ in range(5):
        start = time.monotonic()
        res = _run(*argv)
        best = min(best, time.monotonic() - start)
        assert res.returncode == 0 and "attach:" in res.stdout
    assert best < 0.2, best


def test_version_is_written_once_and_printed_by_pipework_version():
    project = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r"^(?:version|dynamic) = .*$", project, re.M) == [
        'dynamic = ["version"]',
        'version = {attr = "pipework.__version__"}',
    ]
    res = _run("pipework", "--version")
    assert res.returncode == 0 and res.stdout == f"pipework {pipework.__version__}\n"
    from importlib.metadata import version

    assert version("pipework") == pipework.__version__


def test_the_one_shot_path_does_not_import_the_catalogue():
    code = (
        "import sys; from pipework.cli.main import main; main(['--version']); "
        "print(sorted(m for m in sys.modules if 'catalog' in m))"
    )
    res = _run(sys.executable, "-c", code)
    assert res.stdout.endswith("[]\n"), res.stdout
