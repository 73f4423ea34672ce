"""Guest resolution: an identifier becomes a ``Guest`` with a pinned network namespace.

One resolver per runtime (``lxc``, ``docker``, ``netns``, ``pid``), each reporting
what it found and what it saw. A prefix (``docker:web``) asks one resolver; a
bare name asks all that apply, because a name that means two guests must be an
error listing both, not a silent pick. The slow nested-cgroup walk runs only when
no other resolver knows the name.

The namespace is opened as soon as the guest is chosen, and the chosen process is
checked to still belong to the container afterwards, so a pid that died and was
reused in between can never send an interface into the wrong namespace.
"""

from __future__ import annotations

import os

from ..errors import AmbiguousGuest, GuestNotFound, HostStateError, PipeworkError, UsageError
from ..model import Guest, GuestRef
from ..netns import NetNS
from .candidate import Candidate, Finding, process_starttime

__all__ = ["choose", "pin", "resolve", "search"]


def search(ref: GuestRef) -> list[Finding]:
    """Ask the resolvers that apply to ``ref``; the fast ones first, the nested walk last.

    Each resolver is imported only when asked: a one-shot attach pays for the
    runtimes it looks at, not for all of them.
    """
    value = ref.value
    if ref.kind == "netns":
        from . import netns

        return [netns.find_path(value) if ref.is_path else netns.find(value)]
    if ref.kind == "pid":
        from . import pid

        return [pid.find(value)]
    if ref.kind == "docker":
        from . import docker

        return [docker.find(value)]
    from . import lxc

    if ref.kind == "lxc":
        findings = [lxc.find(value)]
    else:
        from . import docker, netns

        findings = [netns.find(value), lxc.find(value), docker.find(value)]
        if value.isascii() and value.isdigit():
            from . import pid

            findings.append(pid.find(value))
    if not any(f.candidates for f in findings):
        findings.append(lxc.find_nested(value))
    return findings


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
            hint="check the name, or name the runtime with a prefix (lxc:, docker:, netns:, pid:)",
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
    same = chosen.starttime is not None and process_starttime(chosen.pid) == chosen.starttime
    if same and chosen.check is not None:
        if chosen.runtime == "docker":
            from . import docker as runtime
        else:
            from . import lxc as runtime  # type: ignore[no-redef]
        same = runtime.still_in_container(chosen.pid, chosen.check)
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
