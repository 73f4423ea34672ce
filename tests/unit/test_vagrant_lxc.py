"""``pipework vagrant-lxc``: the script it writes, and the command lines it refuses
(exit 2, one line, nothing changed). The real package: tests/integration/test_vagrant_lxc.py."""

from __future__ import annotations

import os
import subprocess

import pytest

from pipework.cli.main import main
from pipework.ops.vagrant_lxc import _wrapper_command, wrapper_text


@pytest.mark.parametrize(
    "command",
    [
        ["/usr/local/bin/pipework"],
        ["/opt/my tools/pipework.pyz"],
        ["/usr/bin/python3", "-I", "-S", "/srv/it's $HOME/pipework.pyz"],
    ],
)
def test_the_script_runs_the_command_with_the_same_arguments(tmp_path, command):
    text = wrapper_text(command)
    assert _wrapper_command(text) == command
    # /bin/sh itself reads it: each word arrives whole, then the arguments, in order
    echo = tmp_path / "show"
    echo.write_text(text.replace("exec ", "exec printf '[%s]' ", 1))
    res = subprocess.run(
        ["/bin/sh", str(echo), "vlxcbr1", "dev env", "192.168.64.4/24"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    words = [*command, "vlxcbr1", "dev env", "192.168.64.4/24"]
    assert res.stdout == "".join(f"[{w}]" for w in words)


def test_another_script_is_not_taken_for_ours():
    original = '#!/bin/bash\n# pipework vagrant-lxc wrapper\nexec rm -rf / "$@"\necho\n'
    assert _wrapper_command(original) is None
    assert _wrapper_command('#!/bin/sh\nexec /usr/local/bin/pipework "$@"\n') is None


@pytest.mark.parametrize(
    "args",
    [
        ["vagrant-lxc"],
        ["vagrant-lxc", "enable"],
        ["vagrant-lxc", "install", "--path"],
        ["vagrant-lxc", "install", "--path", "FILE", "extra"],
        ["vagrant-lxc", "install", "--force"],
        ["vagrant-lxc", "uninstall", "--path", "/"],
        ["vagrant-lxc", "status", "--path", "/nonexistent-pwt/scripts/pipework"],
    ],
)
def test_bad_input_exits_2_in_one_line_and_changes_nothing(tmp_path, capsys, args):
    script = tmp_path / "pipework"
    script.write_text("#!/bin/bash\necho original\n")
    args = [str(script) if a == "FILE" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(("pipework: ", "usage: ")), err
    if not err.startswith("usage: "):
        assert len(err.splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["pipework"]
    assert script.read_text() == "#!/bin/bash\necho original\n"
