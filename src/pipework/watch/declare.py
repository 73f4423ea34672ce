"""Declarations: pipework command lines attached to a guest, checked into AttachSpecs.

Three sources, one meaning:

* a container's labels ``pipework.attach`` and ``pipework.attach.<ifname>``: the
  value is pipework's own command line for that container with the container left
  out (``br1 192.0.2.10/24``, or ``attach --to br1 --ip 192.0.2.10/24``);
* the ``pipework_cmd*`` environment variables of the dreamcat4/pipework image: a
  whole original command line where ``@CONTAINER_NAME@`` and the image's other
  macros stand for the container;
* lines of /etc/pipework/attachments.d/*.conf: whole command lines naming their
  guest (``br1 lxc:web 192.0.2.10/24``), ``#`` comments.

A declaration a container carries may only attach that container: what it names is
checked against the container it came from, so a label cannot plumb another guest.
"""

from __future__ import annotations

from .._lowlevel.record import Record
from ..errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..model import AttachSpec
    from ..names import GuestRef

LABEL = "pipework.attach"
ENV_PREFIX = "pipework_cmd"
#: the dreamcat4 image's macros (its README and entrypoint): what each stands for
MACROS = (
    "@CONTAINER_NAME@",
    "@CONTAINER_ID@",
    "@HOSTNAME@",
    "@INSTANCE@",
    "@COMPOSE_PROJECT_NAME@",
)
#: a declaration is one command line, not a script
MAX_TEXT = 4096


class Declaration(Record):
    """One declared attachment: where it was declared, what it says, what it means."""

    source: str  # e.g. "label pipework.attach.eth2 of docker:web", "/etc/…/lab.conf:3"
    guest: GuestRef  # the guest it attaches
    text: str  # the command line as declared (after macros)
    spec: AttachSpec

    @property
    def key(self) -> tuple[GuestRef, str]:
        """What one guest interface is declared by: a later declaration of the same
        interface is a conflict, not a second attachment."""
        return self.guest, self.spec.container_ifname


class BadDeclaration(Record):
    """A declaration that cannot be used, and why (one line for the log)."""

    source: str
    text: str
    error: str


def parse_declaration(
    text: str,
    source: str,
    *,
    implied: GuestRef | None = None,
    own: tuple[GuestRef, ...] = (),
) -> Declaration | BadDeclaration:
    """``text`` as an attachment. ``implied``: the guest the text leaves out (labels).
    ``own``: a container's own names (its canonical reference first), the only guest
    its declarations may name; the attachment then names the canonical one."""
    try:
        spec = _spec(text, implied)
        if own:
            if not any(_same(spec.guest, name) for name in own):
                raise UsageError(f"it names {spec.guest}, not the container it is declared on")
            spec = spec.replace(guest=own[0])
    except UsageError as exc:
        return BadDeclaration(source, text, exc.message)
    return Declaration(source, spec.guest, text, spec)


def _same(named: GuestRef, own: GuestRef) -> bool:
    # the container's own name or ID, with or without the runtime's prefix
    return named == own or (named.kind is None and named.value == own.value)


def _spec(text: str, implied: GuestRef | None) -> AttachSpec:
    import shlex

    if len(text) > MAX_TEXT or "\0" in text or "\n" in text:
        raise UsageError("a declaration is one command line of at most 4096 characters")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"cannot split the command line: {exc}") from None
    if words and words[0] == "pipework":
        words = words[1:]  # the dreamcat4 image accepts the program's name first
    if not words:
        raise UsageError("an empty declaration")
    if words[0] == "attach":
        from ..cli.modern import ModernCommand, parse_modern

        argv = ["attach", str(implied), *words[1:]] if implied is not None else words
        command = parse_modern(argv)
        if not isinstance(command, ModernCommand) or command.spec is None:
            raise UsageError("a declaration attaches: attach GUEST --to HOSTIF …")
        return command.spec
    from ..cli.legacy import AttachCommand, insert_guest, parse_legacy

    argv = insert_guest(words, str(implied)) if implied is not None else words
    legacy = parse_legacy(argv)
    if not isinstance(legacy, AttachCommand):
        raise UsageError("a declaration attaches: route, rule, tc and --wait are not declared")
    return legacy.spec


def expand_macros(text: str, values: Mapping[str, str]) -> str:
    """The dreamcat4 image's macros replaced (``values``: macro -> its value)."""
    for macro in MACROS:
        if macro in text:
            text = text.replace(macro, values.get(macro, ""))
    return text


def instance_number(name: str) -> str:
    """@INSTANCE@: the last run of digits in the container's name (web_3 -> 3), as the
    image takes it; empty when there is none."""
    digits = ""
    for ch in reversed(name):
        if ch.isdigit():
            digits = ch + digits
        elif digits:
            break
    return digits


def from_labels(
    labels: Mapping[str, str], guest: GuestRef, label: str
) -> list[Declaration | BadDeclaration]:
    """The declarations of a container's labels (``label``: how messages name it)."""
    found: list[Declaration | BadDeclaration] = []
    for key in sorted(labels):
        if key != LABEL and not key.startswith(LABEL + "."):
            continue
        value = labels[key]
        source = f"label {key} of {label}"
        declared = parse_declaration(value, source, implied=guest)
        suffix = key[len(LABEL) + 1 :]
        if (
            suffix
            and isinstance(declared, Declaration)
            and declared.spec.container_ifname != suffix
        ):
            if declared.spec.container_ifname != "eth1" or _names_ifname(value):
                declared = BadDeclaration(
                    source, value, f"it attaches {declared.spec.container_ifname}, not {suffix}"
                )
            else:  # pipework.attach.eth2=br1 192.0.2.10/24: the label names the interface
                spec = declared.spec.replace(container_ifname=suffix)
                declared = Declaration(source, guest, value, spec)
        found.append(declared)
    return found


def _names_ifname(text: str) -> bool:
    words = text.split()
    return "-i" in words or "--ifname" in words


def from_environment(
    env: Mapping[str, str], own: tuple[GuestRef, ...], label: str, macros: Mapping[str, str]
) -> list[Declaration | BadDeclaration]:
    """The ``pipework_cmd*`` variables of a container (the dreamcat4 image's), in the
    order of their names, as the image runs them. ``own``: the container's names, its
    canonical reference first (what the attachments name)."""
    found: list[Declaration | BadDeclaration] = []
    for name in sorted(env):
        if ENV_PREFIX not in name:
            continue
        text = expand_macros(env[name], macros)
        found.append(parse_declaration(text, f"variable {name} of {label}", own=own))
    return found


def from_file_text(text: str, path: str) -> list[Declaration | BadDeclaration]:
    """The declarations of one attachments.d file: a command line a line, naming its
    guest; blank lines and ``#`` comments skipped."""
    found: list[Declaration | BadDeclaration] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        found.append(parse_declaration(stripped, f"{path}:{number}"))
    return found
