"""Every example of the README's "Host-side kinds" section, the stock-kernel ones
included, run as written, in order (the host lane runs the others only)."""

from __future__ import annotations

from tests.integration.test_readme import run_kinds_examples


def test_readme_kinds_examples_all_run_as_written(ovs_kernel_datapath, cleanup):
    assert run_kinds_examples(cleanup, ("sh", "sh stock-kernel")) >= 35
