"""One reconciliation: every declaration against the kernel, through the attach engine.

What is missing is attached; what is attached as declared is left alone (the
engine's own idempotency: the kernel is the state); what is attached differently is
reported and never replaced (that takes a person: ``pipework attach --force``); a
guest that is not running (yet, or any more) is waiting, not failing. Each outcome
is one log line; a declaration whose outcome has not changed since the last pass
is not logged again, so a watcher does not repeat itself on every event.
"""

from __future__ import annotations

from .._lowlevel.record import Record
from ..errors import AttachmentDiffers, GuestNotFound, PipeworkError
from .declare import BadDeclaration, Declaration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..model import AttachSpec
    from ..names import GuestRef
    from .log import Log
    from .policy import Policy

#: outcomes that mean the host is not as declared
OUTCOMES = ("attached", "unchanged", "waiting", "differs", "failed", "invalid", "refused")
NOT_OK = ("differs", "failed", "invalid", "refused")


class Tally(Record):
    """How many declarations ended how, in one pass."""

    attached: int = 0
    unchanged: int = 0
    waiting: int = 0
    differs: int = 0
    failed: int = 0
    invalid: int = 0
    refused: int = 0  # by the operator's policy (policy.py)

    @property
    def ok(self) -> bool:
        return not (self.differs or self.failed or self.invalid or self.refused)


def _shown(guest: GuestRef) -> str:
    """How a log line names a guest: a Docker or Podman ID as their ps shows it (12
    digits; the line's source names the container too)."""
    if guest.kind in ("docker", "podman") and len(guest.value) == 64:
        return f"{guest.kind}:{guest.value[:12]}"
    return str(guest)


class Reconciler:
    """Runs passes, remembering each declaration's last outcome (to log changes only)."""

    def __init__(self, log: Log, policy_path: str | None = None) -> None:
        from .policy import DEFAULT_PATH

        self.log = log
        self.policy_path = policy_path or DEFAULT_PATH
        self.last: dict[tuple[str, str], str] = {}

    def run(self, found: Sequence[Declaration | BadDeclaration]) -> Tally:
        from ..engine.attach import attach
        from .policy import PolicyError, load

        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        seen: dict[tuple[str, str], str] = {}
        try:  # read at every pass: an edit applies at the next event
            policy: Policy | str = load(self.policy_path)
        except PolicyError as exc:
            policy = f"the policy cannot be used, so nothing is allowed: {exc}"
        for item in found:
            if isinstance(item, BadDeclaration):
                self._note(("bad", item.source), "invalid", f"{item.source}: {item.error}", counts)
                continue
            guest, ifname = str(item.guest), item.spec.container_ifname
            key = (guest, ifname)
            if key in seen:
                what = f"{item.source}: {guest} {ifname} is declared already ({seen[key]})"
                self._note(("bad", item.source), "invalid", what, counts)
                continue
            seen[key] = item.source
            where = f"{_shown(item.guest)} {ifname} to {item.spec.host_if or 'its NIC'} "
            where += f"({item.source})"
            refusal = _refusal(policy, item)
            if refusal is not None:
                self._note(key, "refused", f"{where}: {refusal}", counts)
                continue
            try:
                result = attach(item.spec)
            except GuestNotFound:
                self._note(key, "waiting", f"{where}: not running", counts)
                continue
            except AttachmentDiffers as exc:
                self._note(key, "differs", f"{where}: {exc.message}", counts)
                continue
            except PipeworkError as exc:
                self._note(key, "failed", f"{where}: {exc}", counts)
                continue
            action = "attached" if result.changed else "unchanged"
            self._note(key, action, where, counts)
        return Tally(**counts)

    def _note(self, key: tuple[str, str], action: str, what: str, counts: dict[str, int]) -> None:
        counts[action] += 1
        if self.last.get(key) == action and action != "attached":
            return  # said already; an attach is always news (the guest restarted)
        self.last[key] = action
        self.log.say(action, what)


def _refusal(policy: Policy | str, item: Declaration) -> str | None:
    """Why the policy refuses the declaration (the kind and interface it asks for,
    and the rule), or None when a rule allows it. What it asks for is read from the
    host as the attach will choose it (an existing NIC is a macvlan, a bridge a
    bridge); a host interface that cannot be read is the attach's error to report."""
    from ..errors import PipeworkError
    from .policy import guest_names, options, origin

    if isinstance(policy, str):
        return policy
    try:
        kind, interface = host_kind(item.spec)
    except PipeworkError:
        return None
    asked_options = options(item.spec)
    rule = policy.decide(kind, interface, origin(item), guest_names(item), asked_options)
    asked = f"{kind} on {interface}"
    if asked_options:
        asked += f" with {','.join(asked_options)}"
    asked += " is not allowed"
    if isinstance(rule, str):
        return f"{asked}: {rule}"
    if not rule.allow:
        return f"{asked}: {rule.where}: {rule.text}"
    return None


def host_kind(spec: AttachSpec) -> tuple[str, str]:
    """The host-side kind and host interface an attach of ``spec`` would use now."""
    from ..drivers import choose
    from ..netlink.socket import NetlinkSocket

    with NetlinkSocket() as host:
        target = choose(spec, host)
    name = target.link.name if target.link is not None else str(spec.host_if)
    return target.driver.kind, name
