"""The command line's catalogue: every verb, its synopsis, summary, options and example.

Nothing here is written twice. The catalogue is read from where each part of the
command line is declared: the verbs ``cli.main.run`` dispatches (found in its
source, so a verb added there is listed without an edit here), the modern verbs'
declarations (``cli.modern.VERBS``, which also make their ``--help``), the
original command line's ``cli.legacy.USAGE``, and for a verb that parses its own
arguments (``cni``, ``completion``...), what its own ``--help`` prints. The man
page and the shell completion read it; the one-shot attach never imports it.
"""

from __future__ import annotations

import re

from .._lowlevel.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast


class Option(Record):
    names: tuple[str, ...]
    #: the value's name (NAME, FILE...), or None for a flag
    metavar: str | None
    help: str
    #: the only values it takes, when the help lists them (``--format dot|svg``)
    choices: tuple[str, ...] = ()
    repeat: bool = False


class Entry(Record):
    """One verb (``name``), or the original command line (``name`` "")."""

    name: str
    synopsis: tuple[str, ...]
    summary: str
    options: tuple[Option, ...]
    #: the positional arguments' names in order (GUEST, FILE...), after any subcommand
    positionals: tuple[str, ...]
    subcommands: tuple[str, ...] = ()
    example: str = ""
    #: what each line of the synopsis does, when the help says it on that line
    does: tuple[str, ...] = ()

    def brief(self) -> str:
        """What it does, in a few words: its help's first line's, else its first sentence."""
        said = next((d for d in self.does if d), "")
        return said or self.summary.split(". ", 1)[0].split(": ", 1)[0].rstrip(".")

    def option(self, name: str) -> Option | None:
        for opt in self.options:
            if name in opt.names:
                return opt
        return None


#: options of the command itself, before any verb
TOP_OPTIONS = (
    Option(("-h", "--help"), None, "show the usage and exit"),
    Option(("--version",), None, "print pipework's version and exit"),
)

_OPTION = re.compile(
    r"(?<![\w-])(--?[A-Za-z][\w-]*)"  # the option
    r"(?:[ =]([A-Z][A-Z0-9_]*(?:\[[^\]\s]*\])?(?:/[A-Z]+)?|[a-z0-9]+(?:\|[a-z0-9]+)+))?"  # value
)
_OPTION_LINE = re.compile(r"^\s+((?:-\w|--[\w-]+)(?:, (?:-\w|--[\w-]+))*)(?: (\S+))?\s{2,}(\S.*)$")


def entries() -> list[Entry]:
    """Every verb main dispatches (hidden ones, named ``_…``, left out), by name."""
    return [entry(name) for name in verb_names()]


def verb_names() -> list[str]:
    return sorted(name for name in dispatch() if not name.startswith("_"))


def entry(verb: str) -> Entry:
    """The catalogue's entry for ``verb``; "" is the original command line."""
    if verb == "":
        return _legacy_entry()
    target = dispatch().get(verb)
    if target is None:
        raise KeyError(verb)
    from .modern import VERBS

    if target[0] == "":
        declared = VERBS.get(verb)
        if declared is None:  # in main's VERBS without a declaration: nothing to say
            return Entry(verb, (f"pipework {verb}",), "", (), ())
        return _modern_entry(declared)
    return parse_help(verb, help_text(*target))


#: main's dispatch, read once per process
_DISPATCH: dict[str, tuple[str, str]] = {}


def dispatch() -> dict[str, tuple[str, str]]:
    """{verb: (module, function)} as ``cli.main.run`` dispatches them; ("", "") for a
    modern verb (``args[0] in VERBS``). Read from main's source, not imported: main
    imports the modules that import this one."""
    if _DISPATCH:
        return _DISPATCH
    import ast

    package = __name__.rpartition(".")[0]
    source = _source_of(f"{package}.main")
    if not source:
        return {}
    tree = ast.parse(source)
    found: dict[str, tuple[str, str]] = {}
    modern: tuple[str, ...] = ()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "VERBS" for t in node.targets
        ):
            modern = tuple(_strings(node.value))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "run":
            for branch in ast.walk(node):
                if isinstance(branch, ast.If):
                    _read_branch(branch, package, modern, found)
    _DISPATCH.update(found)
    return found


def _source_of(name: str) -> str | None:
    """A module's source, from its loader, else from where it was found: a file, or
    a member of the zip it came from (``ARCHIVE/pipework/cli/main.py``: the .pyz)."""
    import os
    from importlib.util import find_spec

    spec = find_spec(name)
    if spec is None:
        return None
    try:
        source: str | None = spec.loader.get_source(name)  # type: ignore[union-attr]
    except (ImportError, AttributeError):
        source = None
    if source or not spec.origin:
        return source
    archive, inner = spec.origin, ""
    while archive and not os.path.isfile(archive):
        archive, _, part = archive.rpartition("/")
        inner = f"{part}/{inner}" if inner else part
    try:
        if not inner:
            with open(archive, encoding="utf-8") as f:
                return f.read()
        import zipfile

        with zipfile.ZipFile(archive) as z:
            return z.read(inner).decode("utf-8")
    except (OSError, KeyError, ValueError):
        return None


def _strings(node: ast.expr) -> list[str]:
    import ast

    if isinstance(node, (ast.Tuple, ast.List)):
        return [
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
    return []


def _read_branch(
    branch: ast.If, package: str, modern: tuple[str, ...], found: dict[str, tuple[str, str]]
) -> None:
    """``if args[0] == "X": from ..m import f; return f(...)`` -> found[X] = (m, f);
    ``if args[0] in VERBS`` -> each modern verb."""
    import ast

    verbs: list[str] = []
    for node in ast.walk(branch.test):
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
            continue
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if not (isinstance(left, ast.Subscript) and isinstance(left.slice, ast.Constant)):
            continue
        if left.slice.value != 0:
            continue
        if isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
            if isinstance(right.value, str) and not right.value.startswith("-"):
                verbs.append(right.value)
        elif isinstance(op, ast.In) and isinstance(right, ast.Name) and right.id == "VERBS":
            found.update((name, ("", "")) for name in modern)
        elif isinstance(op, ast.In):
            verbs += [v for v in _strings(right) if not v.startswith("-")]
    if not verbs:
        return
    for stmt in branch.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.names:
            base = package.split(".")
            head = base[: len(base) - stmt.level + 1] if stmt.level else []
            module = ".".join([*head, stmt.module or ""]).strip(".")
            found.update((verb, (module, stmt.names[0].name)) for verb in verbs)
            return


def help_text(module: str, function: str) -> str:
    """What ``function(["--help"])`` prints: a self-parsing verb's own help ("" when
    it fails: the verb is then undocumented, which tests/unit/test_cli_docs.py
    refuses)."""
    import io
    import sys
    from importlib import import_module

    saved = sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = out, err
    try:
        getattr(import_module(module), function)(["--help"])
    except (Exception, SystemExit):
        return ""
    finally:
        sys.stdout, sys.stderr = saved
    return out.getvalue() or err.getvalue()


def parse_help(verb: str, text: str) -> Entry:
    """An entry from a help text: ``usage:`` lines (what each does after two spaces),
    indented option lines (``  --dir DIR   what it is``), and prose."""
    synopsis: list[str] = []
    said: list[str] = []
    prose: list[str] = []
    described: dict[str, Option] = {}
    examples: list[str] = []
    heading = ""
    for line in text.splitlines():
        stripped = line.strip()
        if heading.startswith("example") and line.startswith(" ") and stripped:
            examples.append(stripped)
            continue
        if stripped.endswith(":") and len(stripped.split()) <= 2:  # "example:", "options:"
            heading = stripped.lower()
            continue
        heading = ""
        if stripped.lower().startswith("usage:"):
            stripped = stripped[len("usage:") :].strip()
        if stripped.startswith(f"pipework {verb}"):
            command, does = [*re.split(r"\s{2,}", stripped, maxsplit=1), ""][:2]
            synopsis.append(command)
            said.append(does)
            continue
        match = _OPTION_LINE.match(line)
        if match:
            names = tuple(n.strip() for n in match.group(1).split(","))
            described[names[-1]] = Option(names, match.group(2), match.group(3))
        elif stripped:
            prose.append(stripped)
    text = " ".join(prose)
    options: dict[str, Option] = {}
    subcommands: list[str] = []
    positionals: list[str] = []
    for command in synopsis:
        words = command.split()[2:]
        if words and re.fullmatch(r"[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*", words[0]):
            subcommands += [w for w in words[0].split("|") if w not in subcommands]
            words = words[1:]
        rest = " ".join(words)
        for name, value in _OPTION.findall(rest):
            options.setdefault(name, _option(name, value or None, ""))
        positionals += [p for p in _positionals(rest) if p not in positionals]
    for name, opt in described.items():
        known = options.get(name)
        options[name] = opt.replace(choices=known.choices) if known is not None else opt
    for name, value in _OPTION.findall(text):
        if name not in options and name.startswith("--"):
            options[name] = _option(name, value or None, "")
    clauses = _clauses(text)
    for name, opt in list(options.items()):
        if not opt.help:
            help = clauses.get(name, ("", ""))[1] or _about(name, text)
            options[name] = opt.replace(help=help or _about(opt.metavar or name, text))
    return Entry(
        verb,
        tuple(synopsis) or (f"pipework {verb}",),
        text,
        tuple(options.values()),
        tuple(positionals),
        tuple(subcommands),
        "\n".join(examples),
        does=tuple(said) or ("",),
    )


def _positionals(synopsis: str) -> list[str]:
    """The positional arguments' names of a synopsis (``GUEST``, ``[FILE]``,
    ``GUEST_A[:IF]``), its options and their values left out."""
    found = []
    for word in re.sub(r"\[?--?[A-Za-z][\w-]*(?:[ =]\S+)?\]?", " ", synopsis).split():
        bare = word[1:-1] if word.startswith("[") and word.endswith("]") else word
        if re.fullmatch(r"[A-Z][A-Z0-9_]*(?:\[:[A-Z]+\])?", bare):
            found.append(bare)
    return found


def _option(name: str, value: str | None, help: str) -> Option:
    if value is not None and "|" in value:
        return Option((name,), "WORD", help, tuple(value.split("|")))
    return Option((name,), value, help)


def _clauses(text: str) -> dict[str, tuple[str, str]]:
    """What prose says of each option it names at the head of a clause
    (``…; --mtu N set the MTU; …``): {name: (its value's name, what it does)}."""
    found: dict[str, tuple[str, str]] = {}
    for clause in re.split(r"[;:.]\s+|,?\s+(?:and|or)\s+(?=--?\w)|,\s+(?=--\w)", text):
        match = re.match(
            r"(--?[A-Za-z][\w-]*)(?: ([A-Z][A-Z0-9_]*|[a-z0-9]+(?:\|[a-z0-9]+)+)(?= |$))?\s*(.*)",
            clause.strip(),
        )
        if match and match.group(1) not in found:
            found[match.group(1)] = (match.group(2) or "", match.group(3).strip().rstrip("."))
    return found


def _about(name: str, text: str) -> str:
    """The first sentence of ``text`` that names ``name``."""
    for sentence in re.split(r"(?<=[.)])\s+", text):
        if name in sentence.split() or f"{name}," in sentence:
            return sentence.strip().rstrip(".")
    return ""


def _modern_entry(verb: object) -> Entry:
    from .modern import Verb

    assert isinstance(verb, Verb)
    synopsis = f"pipework {verb.name} {verb.positional}".rstrip()
    choices = {n: tuple(v.split("|")) for n, v in _OPTION.findall(verb.positional) if "|" in v}
    options = tuple(
        Option(o.names, o.metavar, o.help, choices.get(o.names[-1], ()), repeat=o.repeat)
        for o in verb.options
    )
    positionals = _positionals(verb.positional)
    return Entry(
        verb.name,
        (synopsis,),
        verb.summary,
        (*options, Option(("-h", "--help"), None, "show this help")),
        tuple(positionals),
        example=verb.example,
    )


def _legacy_entry() -> Entry:
    """The original command line, from ``cli.legacy.USAGE``: its synopsis lines, its
    prose, and the options they name (which take a value is the parser's word)."""
    from .legacy import USAGE, VALUE_OPTIONS

    synopsis: list[str] = []
    prose: list[str] = []
    for line in USAGE.splitlines():
        if line.startswith("  pipework "):
            synopsis.append(line.strip())
        elif line.startswith("     ") and synopsis:
            synopsis[-1] += " " + line.strip()
        elif line.strip() and line.strip() != "Usage:":
            prose.append(line.strip())
    text = " ".join(prose)
    everything = " ".join([*synopsis, text])
    clauses = _clauses(text)
    #: ``[-i containerinterface]``: a value named in the synopsis
    named = dict(re.findall(r"\[(--?[\w-]+) ([a-z][\w|]*)\]", " ".join(synopsis)))
    options: dict[str, Option] = {n: o for o in TOP_OPTIONS for n in o.names}
    for name, value in _OPTION.findall(everything):
        if name in options or not (
            name.startswith("--") or re.search(rf"[\[ ]{name} ", everything)
        ):
            continue
        metavar, help = clauses.get(name, ("", ""))
        metavar = metavar or value or named.get(name, "")
        choices = tuple(metavar.split("|")) if "|" in metavar else ()
        takes = name in VALUE_OPTIONS or name == "--timeout"  # --wait's
        options[name] = Option(
            (name,), (metavar or "VALUE") if takes else None, help or _about(name, text), choices
        )
    return Entry(
        "",
        tuple(synopsis),
        text,
        tuple(dict.fromkeys(options.values())),
        ("HOSTIF", "GUEST"),
    )
