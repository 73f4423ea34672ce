"""``pipework up FILE`` and ``pipework down FILE``: build a topology, and remove it.

``up`` loads and checks the whole file first (nothing changes before), pins every
node, plans what is missing (``plan``) and applies it in this one process through
the executor: a failure half-way rolls back everything this run made, newest
first. Running it again changes nothing. ``down`` removes what carries the lab's
mark, read back from the kernel (the host's links, each node's links, the netns
nodes ``up`` created): so it works after a run that died half-way too.
"""

from __future__ import annotations

import sys

from .._lowlevel.record import Record
from ..steps import Step
from .parse import load
from .plan import Lab, Planner, delete_ours, has_lab

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from ..steps import Rollback
    from .parse import Topology


class UpResult(Record):
    lab: str
    counts: dict[str, int]
    commands: tuple[str, ...]  # the steps, as ip commands (what --dry-run prints)

    @property
    def changed(self) -> bool:
        return bool(self.commands)


class Progress:
    """A bar on a terminal; on anything else a plain line at each tenth of the way."""

    __slots__ = ("done", "label", "last", "stream", "total", "tty")

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.done = 0
        self.last = -1
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False

    def tick(self) -> None:
        self.done += 1
        if self.tty:
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
            return
        tenth = 10 * self.done // max(self.total, 1)
        if tenth != self.last:
            self.last = tenth
            self.stream.write(f"{self.label}: {self.done}/{self.total} steps\n")


def _counted(step: Step, progress: Progress) -> Step:
    def do(rollback: Rollback) -> None:
        step.do(rollback)
        progress.tick()

    return Step(step.command, do)


def up(
    path: str,
    *,
    dry_run: bool = False,
    verbose: bool = False,
    progress: TextIO | None = None,
) -> UpResult:
    """Build the topology in ``path``; with ``dry_run`` only say what would be done."""
    from ..engine.executor import apply

    topo = load(path)
    lab = Lab(topo)
    try:
        lab.open(need_guests=True)
        planner = Planner(lab)
        steps = planner.compose()
        commands = tuple(step.command for step in steps)
        if not dry_run and steps:
            if progress is not None:
                bar = Progress(f"pipework up {topo.name}", len(steps), progress)
                steps = [_counted(step, bar) for step in steps]
            apply(steps, verbose=verbose)
        return UpResult(topo.name, dict(planner.counts), commands)
    finally:
        lab.close()


def down(path: str, *, verbose: bool = False) -> list[str]:
    """Remove what ``up`` made for the lab in ``path``; what was removed (empty: nothing)."""
    topo = load(path)
    lab = Lab(topo)
    removed: list[str] = []
    doomed: list[str] = []  # netns nodes this lab created
    try:
        lab.open(need_guests=False)
        _say(verbose, "remove the lab's links from the host")
        removed += [f"host:{name}" for name in delete_ours(lab.host, topo.name, "the host")]
        removed += _forward_rules(topo, verbose)
        for name, place in lab.places.items():
            if place.ns is None:
                continue
            sock = place.netlink()
            loopback = sock.link(index=1, obj=f"the loopback of {name}")
            if place.guest is None and loopback is not None and has_lab(loopback.alias, topo.name):
                doomed.append(name)
                continue
            _say(verbose, f"remove the lab's links from {name}")
            removed += [f"{name}:{x}" for x in delete_ours(sock, topo.name, place.label)]
    finally:
        lab.close()  # our fds would keep the namespaces alive
    if doomed:
        from .plan import ip_batch

        _say(verbose, f"ip netns del {' '.join(doomed)}")
        ip_batch([f"netns del {name}" for name in doomed], "remove the netns nodes")
        removed += [f"netns {name}" for name in doomed]
    return removed


def _forward_rules(topo: Topology, verbose: bool) -> list[str]:
    """The firewall's accept rules of the lab's ``allow-forward`` bridge nodes (added
    by their ports' attaches, doctor.forward): its bridges are gone or going."""
    wanted = [n.name for n in topo.nodes if n.kind == "bridge" and n.allow_forward]
    if not wanted:
        return []
    from ..doctor import forward

    removed = []
    for bridge in wanted:
        if not forward.has_note(bridge):
            continue
        for command in forward.remove_forward(bridge):
            _say(verbose, command)
        forward.drop_note(bridge)
        removed.append(f"firewall:{bridge}")
    return removed


def _say(verbose: bool, text: str) -> None:
    if verbose:
        sys.stderr.write(f"+ {text}\n")
