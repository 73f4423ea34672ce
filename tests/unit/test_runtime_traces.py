"""A bare guest name asks a runtime only when the host has a trace of it."""

from __future__ import annotations

import sys

from pipework import guests
from pipework.guests.base import Finding


def test_a_runtime_without_a_trace_is_not_imported(monkeypatch, tmp_path):
    monkeypatch.setitem(guests.RUNTIME_TRACES, "docker", (str(tmp_path / "nope"),))
    monkeypatch.delitem(sys.modules, "pipework.guests.docker", raising=False)
    findings: list[Finding] = []
    assert guests._present("docker", findings) is False
    assert findings[0].summary() == f"docker: not on this host (no {tmp_path}/nope)"
    assert "pipework.guests.docker" not in sys.modules


def test_a_runtime_with_a_trace_or_none_listed_is_asked(monkeypatch, tmp_path):
    monkeypatch.setitem(guests.RUNTIME_TRACES, "docker", ("/nonexistent", str(tmp_path)))
    findings: list[Finding] = []
    assert guests._present("docker", findings) and guests._present("netns", findings)
    assert findings == []
