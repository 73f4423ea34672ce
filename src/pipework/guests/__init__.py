"""Guest resolution: an identifier becomes a ``Guest`` with a pinned network namespace.

One resolver per runtime, each a module of this package named like the runtime
(see ``base.Resolver``), registered in ``names.RUNTIMES`` in the order a bare name
asks them. A prefix (``docker:web``) asks one resolver; a bare name asks all that
apply and whose runtime left a trace on this host (``names.RUNTIME_TRACES``),
because a name that means two guests must be an error listing both, not a silent
pick; two views of one guest (a Docker container seen through containerd too) are
one guest, told by its network namespace. Slow searches (LXC's walk over nested
cgroups, the scan for unregistered nspawn machines) run only when no resolver found
anything the fast way. A new runtime is one new module and its name in RUNTIMES.

The namespace is opened as soon as the guest is chosen, and the chosen process is
checked to still belong to the container afterwards, so a pid that died and was
reused in between can never send an interface into the wrong namespace.
"""

from __future__ import annotations

import os

from ..errors import AmbiguousGuest, GuestNotFound, HostStateError, PipeworkError, UsageError
from ..model import Guest
from ..names import RUNTIME_TRACES, RUNTIMES, runtimes_for
from ..netns import NetNS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..names import GuestRef
    from .base import Candidate, Finding, Resolver

__all__ = ["choose", "pin", "resolve", "resolver", "search"]


def resolver(runtime: str) -> Resolver:
    """The resolver of ``runtime`` (a name from names.RUNTIMES), imported when first
    asked for: a one-shot attach pays for the runtimes it looks at, not for all."""
    if runtime not in RUNTIMES:
        raise KeyError(runtime)
    module = __import__(f"pipework.guests.{runtime}", fromlist=["RESOLVER"])
    found: Resolver = module.RESOLVER
    return found


def search(ref: GuestRef) -> list[Finding]:
    """Ask the resolvers that apply to ``ref``; the slow searches only if none found it."""
    findings: list[Finding] = []
    asked: list[Resolver] = []
    for name in (ref.kind,) if ref.kind is not None else runtimes_for(ref.value):
        if ref.kind is not None or _present(name, findings):  # (else: said so, in order)
            asked.append(resolver(name))
            findings.append(asked[-1].find(ref))
    if not any(f.candidates for f in findings):
        for r in asked:
            more = r.find_more(ref)
            if more is not None:
                findings.append(more)
    return findings


def _present(runtime: str, findings: list[Finding]) -> bool:
    """Whether ``runtime`` has left a trace on this host (names.RUNTIME_TRACES); if not,
    a finding that says so, without importing its resolver."""
    traces = RUNTIME_TRACES.get(runtime)
    if traces is None or any(os.path.exists(path) for path in traces):
        return True
    from .base import Finding

    finding = Finding(runtime)
    finding.saw.append(f"not on this host (no {' or '.join(traces)})")
    findings.append(finding)
    return False


def _netns_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def choose(ref: GuestRef, findings: list[Finding]) -> Candidate:
    """The one candidate the findings agree on, or an error that explains why not."""
    for finding in findings:
        if finding.ambiguous:
            raise AmbiguousGuest(
                f"guest {ref.value!r} matches {len(finding.ambiguous)} guests in "
                f"{finding.resolver}: {', '.join(finding.ambiguous)}",
                hint="give more of the ID, or the name",
            )
    groups: dict[tuple[int, int], list[Candidate]] = {}
    vanished: list[str] = []
    for finding in findings:
        for cand in finding.candidates:
            ident = _netns_identity(cand.ns_path)
            if ident is None:
                vanished.append(cand.label)
            else:
                groups.setdefault(ident, []).append(cand)
    if not groups:
        seen = "; ".join(f.summary() for f in findings)
        if vanished:
            seen += f"; gone while looking: {', '.join(vanished)}"
        raise GuestNotFound(
            f"cannot find guest {ref.value!r}: {seen}",
            hint="check the name, or name the runtime with a prefix "
            f"({', '.join(f'{name}:' for name in RUNTIMES)})",
        )
    if len(groups) > 1:
        listed = ", ".join(f"{c[0].label} [{c[0].detail}]" for c in groups.values())
        first = next(iter(groups.values()))[0]
        raise AmbiguousGuest(
            f"guest {ref.value!r} matches {len(groups)} different guests: {listed}",
            hint=f"name one with a prefix, e.g. {first.runtime}:{ref.value}",
        )
    return next(iter(groups.values()))[0]


def resolve(ref: GuestRef) -> Guest:
    """Find the guest, open (pin) its network namespace, and check the pin is right."""
    return pin(ref, search(ref))


def pin(ref: GuestRef, findings: list[Finding]) -> Guest:
    """Choose among what the resolvers found, and pin it (see ``resolve``)."""
    chosen = choose(ref, findings)
    label = f"{chosen.runtime}:{chosen.name}"
    try:
        ns = NetNS.open(chosen.ns_path, label)
    except UsageError:
        raise  # not a namespace at all: bad input, said as such
    except PipeworkError:
        raise GuestNotFound(
            f"guest {label} exited while being resolved (cannot open {chosen.ns_path}); "
            "nothing was changed"
        ) from None
    try:
        _check_pin(chosen, label)
        _refuse_host_netns(ns, label)
    except BaseException:
        ns.close()
        raise
    return Guest(
        ref,
        chosen.runtime,
        chosen.name,
        chosen.pid,
        ns,
        chosen.detail,
        tuple(f.summary() for f in findings),
        chosen.starttime,
    )


def _check_pin(chosen: Candidate, label: str) -> None:
    """The pinned namespace is the guest's: the process is the one the resolver saw
    (same start time, so not a reused pid) and still belongs to the container."""
    if chosen.pid is None:
        return
    from .._lowlevel.procfs import process_starttime

    same = chosen.starttime is not None and process_starttime(chosen.pid) == chosen.starttime
    if same and chosen.check is not None:
        same = resolver(chosen.runtime).still_in_container(chosen.pid, chosen.check)
    if not same:
        raise GuestNotFound(
            f"guest {label} exited while being resolved (pid {chosen.pid} no longer belongs "
            "to it); nothing was changed"
        )


def _refuse_host_netns(ns: NetNS, label: str) -> None:
    host = os.stat("/proc/thread-self/ns/net")
    mine = os.fstat(ns.fd)
    if (host.st_dev, host.st_ino) == (mine.st_dev, mine.st_ino):
        raise HostStateError(
            f"guest {label} shares this host's network namespace (docker --network host?); "
            "refusing to plumb the host into itself"
        )
