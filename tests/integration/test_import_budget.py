"""A whole real one-shot attach, run under ``python -X importtime``: the modules it
loads, from the interpreter's own report, include none that the attach path avoids
for their cost (tests/unit/test_import_budget.py has the list and the reasons)."""

from __future__ import annotations

import subprocess
import sys

from tests.unit.test_import_budget import AVOIDED

from .conftest import PIPEWORK, addresses


def _imported(*args: str) -> set[str]:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", PIPEWORK, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    # "import time:  self [us] | cumulative | imported package", the name indented by depth
    return {
        line.rsplit("|", 1)[1].strip()
        for line in res.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_an_attach_of_a_named_netns_imports_none_of_the_avoided_modules(make_netns, bridge_name):
    ns, br = make_netns(), bridge_name()
    loaded = _imported(br, ns, "192.0.2.90/24@192.0.2.1", "U:pwt")
    assert addresses("eth1", netns=ns) == ["192.0.2.90/24"]
    assert "pipework.engine.attach" in loaded and "pipework.engine.announce" in loaded
    assert sorted(set(AVOIDED) & loaded) == []


def test_an_attach_of_a_docker_container_imports_none_of_the_avoided_modules(
    container, bridge_name
):
    name, br = container(), bridge_name()
    loaded = _imported(br, name, "198.51.100.90/24")
    assert "pipework.guests.docker" in loaded and "pipework._lowlevel.unixhttp" in loaded
    assert sorted(set(AVOIDED) & loaded) == []
