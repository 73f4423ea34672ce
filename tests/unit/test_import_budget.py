"""The start-up budget, guarded by a test: what a one-shot attach imports.

A one-shot ``pipework`` spends most of its time starting the interpreter, and a
single heavy standard-library import (``re``, ``enum``, ``typing``...) costs more
than all of pipework's own netlink work. A fresh interpreter runs the command line
and plans a real attach (choosing the driver on this host, building every step),
and no module of the avoided list may have been imported by then. The integration
lane runs a whole real attach under ``-X importtime`` against the same list.
"""

from __future__ import annotations

import subprocess
import sys

#: modules the attach path avoids for their import cost (with what pulls them in)
AVOIDED = ("re", "enum", "json", "dataclasses", "typing", "subprocess", "contextlib", "ctypes")

_PLAN_AN_ATTACH = r"""
import sys

from pipework.cli.main import main

# the command line, as far as it gets without the guest: choose, resolve, fail
code = main(["brpwtbudget0", "-i", "eth1", "netns:pwt-no-such-guest",
             "192.0.2.9/24@192.0.2.1", "U:pwt"])
assert code == 1, code

# plan the same attach for a guest that exists (this process's own namespace)
from pipework import drivers
from pipework.cli.legacy import parse_legacy
from pipework.engine import plan
from pipework.engine.context import AttachContext
from pipework.model import Guest
from pipework.netlink.socket import NetlinkSocket
from pipework.netns import NetNS

for words in (["brpwtbudget0", "netns:x", "192.0.2.9/24@192.0.2.1", "02:00:c0:00:02:09"],
              ["brpwtbudget0", "netns:x", "2001:db8::9/64@2001:db8::1"]):
    spec = parse_legacy(words).spec
    with NetlinkSocket() as host, NetNS.current() as ns:
        target = drivers.choose(spec, host)
        guest = Guest(spec.guest, "netns", "x", None, ns, "this process")
        ctx = AttachContext(spec, guest, host, target.driver, target.link)
        steps = plan.compose(ctx)
        assert [s.command for s in steps], steps
        ctx.close()
print(" ".join(sorted(sys.modules)))
"""


def test_a_one_shot_attach_imports_none_of_the_avoided_modules() -> None:
    res = subprocess.run(
        [sys.executable, "-c", _PLAN_AN_ATTACH],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "cannot find guest 'pwt-no-such-guest'" in res.stderr
    loaded = set(res.stdout.split())
    assert "pipework.engine.plan" in loaded and "pipework.drivers.bridge" in loaded
    assert sorted(set(AVOIDED) & loaded) == []
