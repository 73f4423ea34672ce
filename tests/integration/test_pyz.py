"""The single-file build (scripts/build-pyz): copied anywhere as ``pipework`` it is the
whole install, it runs its modules' compiled code from inside itself, and it holds
the runtime package only. (scripts/test also runs a subset of the integration tests
against it, through PIPEWORK_COMMAND.)"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from .conftest import addresses, link, require
from .test_readme import README, _blocks

ROOT = Path(__file__).resolve().parents[2]
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
LAB = {
    "name": "pwtz",
    "topology": {
        "nodes": {"pwtz1": {"kind": "netns"}, "pwtz2": {"kind": "netns"}},
        "links": [
            {
                "endpoints": ["pwtz1:eth1", "pwtz2:eth1"],
                "ipv4": ["198.51.100.1/30", "198.51.100.2/30"],
            }
        ],
    },
}


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pyz") / "pipework.pyz"
    subprocess.run([str(ROOT / "scripts" / "build-pyz"), str(out)], check=True, timeout=120)
    return out


@pytest.fixture
def installed(pyz: Path, tmp_path: Path) -> Path:
    """The file copied into an empty directory as ``pipework``: the whole install."""
    target = tmp_path / "bin" / "pipework"
    target.parent.mkdir()
    shutil.copy(pyz, target)
    return target


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def boot_code(pyz: Path) -> str:
    """The -c code the file's sh prologue hands to Python (a single-quoted sh word)."""
    return pyz.read_bytes()[:20000].split(b"-c '", 1)[1].split(b"'", 1)[0].decode()


def compiled_under(
    pyz: Path, *args: str, python: str = "/usr/bin/python3"
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the file's own -c code as its prologue does, with an audit hook that names
    every source Python compiles on the way (printed to stderr at exit)."""
    hook = (
        "import sys, os\n"
        "seen = []\n"
        "def hook(event, args):\n"
        "    if event == 'compile' and isinstance(args[1], str): seen.append(args[1])\n"
        "sys.addaudithook(hook)\n"
        "real_exit = os._exit\n"
        "def report(code):\n"
        "    sys.stderr.write('COMPILED ' + repr(seen) + '\\n'); sys.stderr.flush()\n"
        "    real_exit(code)\n"
        "os._exit = report\n"
        f"exec(compile({boot_code(pyz)!r}, '<boot>', 'exec'))\n"
    )
    res = run(python, "-I", "-S", "-c", hook, pyz, *args)
    line = next(x for x in res.stderr.splitlines() if x.startswith("COMPILED "))
    return res, [name for name in eval(line[len("COMPILED ") :]) if "pipework" in name]  # noqa: S307


def test_copied_anywhere_as_pipework_it_prints_its_version(installed: Path, tmp_path: Path):
    import pipework

    expected = f"pipework {pipework.__version__}\n"
    res = run(installed, "--version", cwd=tmp_path)
    assert (res.returncode, res.stdout) == (0, expected), res.stderr
    relative = run("bin/pipework", "--version", cwd=tmp_path)  # $0 relative to the cwd
    assert (relative.returncode, relative.stdout) == (0, expected), relative.stderr


def test_copied_anywhere_as_pipework_it_attaches_a_netns_guest(
    installed: Path, make_netns, make_bridge, tmp_path: Path
):
    ns, br = make_netns(), make_bridge()
    res = run(installed, br, ns, "198.51.100.71/24", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", netns=ns) == ["198.51.100.71/24"]
    assert link("eth1", netns=ns)["operstate"] != "DOWN"  # type: ignore[index]


def test_python_runs_it_too(pyz: Path, tmp_path: Path):
    """`python3 pipework.pyz` (through runpy, with site): same command."""
    res = run("/usr/bin/python3", pyz, "--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("pipework "), res.stderr


def test_its_modules_run_from_their_compiled_code_inside_the_file(
    pyz: Path, make_netns, make_bridge
):
    """No pipework source is compiled at a run: --version and a whole attach load every
    module's code from the file."""
    ns, br = make_netns(), make_bridge()
    res, compiled = compiled_under(pyz, "--version")
    assert res.returncode == 0, res.stderr
    assert compiled == []
    res, compiled = compiled_under(
        pyz, "attach", f"netns:{ns}", "--to", br, "--ip", "198.51.100.72/24"
    )
    assert res.returncode == 0, res.stderr
    assert compiled == []
    assert addresses("eth1", netns=ns) == ["198.51.100.72/24"]


def test_zipimport_uses_the_compiled_code_inside_the_file(pyz: Path):
    """The other way in (`python3 pipework.pyz`, a child's `python -m pipework...`):
    zipimport takes the .pyc beside each source, compiling nothing."""
    code = (
        "import sys\n"
        "seen = []\n"
        "sys.addaudithook(lambda e, a: seen.append(a[1]) if e == 'compile' else None)\n"
        f"sys.path.insert(0, {str(pyz)!r})\n"
        "import pipework.cli.main, pipework.engine.attach\n"
        "print(pipework.engine.attach.__file__)\n"
        "print([s for s in seen if isinstance(s, str) and 'pipework' in s])\n"
    )
    res = run("/usr/bin/python3", "-I", "-S", "-c", code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"{pyz}/pipework/engine/attach.pyc", "[]"]


def test_it_holds_the_runtime_package_and_its_compiled_code_only(pyz: Path):
    names = set(zipfile.ZipFile(pyz).namelist())
    sources = {n for n in names if n.endswith(".py")}
    assert names == sources | {n + "c" for n in sources}
    package = {
        p.relative_to(ROOT / "src").as_posix()
        for p in (ROOT / "src" / "pipework").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources == package | {"__main__.py"}
    assert not any("yaml" in n.lower() for n in names)


def test_a_json_topology_needs_nothing_more(pyz: Path, tmp_path: Path):
    lab = tmp_path / "lab.json"
    lab.write_text(json.dumps(LAB))
    res = run(pyz, "up", lab, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "ip link add eth1 netns pwtz1 type veth peer name eth1 netns pwtz2" in res.stdout
    assert not Path("/run/netns/pwtz1").exists()


def test_a_yaml_topology_without_pyyaml_says_how_to_get_it(pyz: Path, tmp_path: Path):
    lab = tmp_path / "lab.yml"
    lab.write_text("name: pwtz\ntopology:\n  nodes:\n    pwtz1: {kind: netns}\n")
    block = "import sys\nsys.modules['yaml'] = None\n"  # as on a host without PyYAML
    res = run("/usr/bin/python3", "-I", "-S", "-c", block + boot_code(pyz), pyz, "up", lab)
    assert res.returncode == 2
    assert "PyYAML" in res.stderr and "JSON" in res.stderr


def test_the_same_tree_builds_the_same_bytes(tmp_path: Path):
    builds = [tmp_path / "a.pyz", tmp_path / "b.pyz"]
    for out in builds:
        subprocess.run([str(ROOT / "scripts" / "build-pyz"), str(out)], check=True, timeout=120)
    assert builds[0].read_bytes() == builds[1].read_bytes()
    assert os.access(builds[1], os.X_OK)


def test_the_readme_install_lines_run_as_written(tmp_path: Path):
    """The README's single-file install, as root and with sudo, into a scratch
    directory instead of /usr/local/bin (which this test must not take over)."""
    require(shutil.which("sudo") is not None, "sudo is not installed (scripts/test installs it)")
    block = next(b for b in _blocks(README.read_text(), "sh") if "scripts/build-pyz" in b)
    lines = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    assert [words[0] for words in lines] == ["scripts/build-pyz", "install", "sudo"]
    target = tmp_path / "pipework"
    for words in lines:
        target.unlink(missing_ok=True)
        argv = [str(target) if w == "/usr/local/bin/pipework" else w for w in words]
        res = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
        assert res.returncode == 0, res.stderr
        if words[0] != "scripts/build-pyz":
            assert run(target, "--version").stdout.startswith("pipework "), words
            assert os.access(target, os.X_OK)


def test_an_interpreter_the_index_is_not_for_runs_it_through_zipimport(
    pyz: Path, tmp_path: Path, make_netns, make_bridge
):
    """The prologue's magic number made another version's (same length: every offset
    holds): the file goes on sys.path instead, and still attaches."""
    data = pyz.read_bytes()
    magic = "".join(f"\\x{c:02x}" for c in importlib.util.MAGIC_NUMBER).encode()
    assert data.count(magic) == 1
    other = tmp_path / "pipework"
    other.write_bytes(data.replace(magic, b"\\x00" * 4))
    other.chmod(0o755)
    ns, br = make_netns(), make_bridge()
    res, compiled = compiled_under(other, br, ns, "198.51.100.73/24")
    assert res.returncode == 0, res.stderr
    assert compiled == []  # zipimport took the .pyc beside each source
    assert addresses("eth1", netns=ns) == ["198.51.100.73/24"]


def _pyenv_python(minor: str) -> str | None:
    found = sorted(Path("/root/.pyenv/versions").glob(f"{minor}.*/bin/python{minor}"))
    return str(found[-1]) if found else None


@pytest.mark.parametrize("minor", ["3.9", "3.13"])
def test_built_for_another_python_it_attaches_with_it(
    minor: str, tmp_path: Path, make_netns, make_bridge
):
    """--python: the oldest Python pipework runs on and the newest here (pyenv's)."""
    python = _pyenv_python(minor)
    require(python is not None, f"no Python {minor} under /root/.pyenv/versions")
    assert python is not None
    out = tmp_path / "pipework"
    build = [str(ROOT / "scripts" / "build-pyz"), "--python", python, str(out)]
    subprocess.run(build, check=True, timeout=120, capture_output=True)
    ns, br = make_netns(), make_bridge()
    res = run(out, br, ns, "198.51.100.74/24")
    assert res.returncode == 0, res.stderr
    assert addresses("eth1", netns=ns) == ["198.51.100.74/24"]
    res, compiled = compiled_under(out, "--version", python=python)
    assert (res.returncode, compiled) == (0, [])


def test_the_docs_examples_run_as_written(tmp_path: Path):
    """docs/single-file.md, every command of its sh blocks, installing into a scratch
    directory instead of /usr/local/bin."""
    target = tmp_path / "pipework"
    text = (ROOT / "docs" / "single-file.md").read_text()
    lines = [
        shlex.split(line, comments=True)
        for block in _blocks(text, "sh")
        for line in block.splitlines()
        if line.strip()
    ]
    out: dict[str, str] = {}
    try:
        for words in lines:
            argv = [
                str(target) if w in ("/usr/local/bin/pipework", "pipework") else w for w in words
            ]
            res = subprocess.run(
                argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
            )
            assert res.returncode == 0, f"{' '.join(words)}: {res.stderr}"
            out[" ".join(words[:2])] = res.stdout
        other = ROOT / "build" / "pipework-py311"
        assert run(other, "--version").stdout.startswith("pipework ")
    finally:
        (ROOT / "build" / "pipework-py311").unlink(missing_ok=True)
    assert len(lines) == 5
    assert out["pipework --version"].startswith("pipework ")
    listing = out["python3 -m"]
    assert "pipework/engine/attach.py " in listing and "pipework/engine/attach.pyc " in listing
    assert os.access(target, os.X_OK)
