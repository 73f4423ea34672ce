"""The manual page, pipework(1), written in roff from the command line's catalogue.

What ``--help`` says and what the page says come from the same declarations
(``cli.catalog`` reads them), so a verb or an option added to the command line
is in the page without an edit here. ``pipework man`` prints the page;
``pipework man install`` writes it where ``man pipework`` finds it.
"""

from __future__ import annotations

import os
import sys

from ..errors import UsageError

USAGE = """\
usage: pipework man   print the manual page, in roff (man -l - shows it)
       pipework man install [--dir DIR]   write pipework.1 where man finds it
DIR is /usr/local/share/man/man1 unless given.
"""

MAN_DIR = "/usr/local/share/man/man1"


def run_man_verb(args: list[str]) -> int:
    if args and args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if not args:
        sys.stdout.write(page())
        return 0
    if args[0] != "install" or len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--dir"):
        raise UsageError("pipework man takes nothing, or install [--dir DIR] (see --help)")
    from .completion import write_file

    directory = args[2] if len(args) == 3 else MAN_DIR
    sys.stdout.write(f"installed {write_file(os.path.join(directory, 'pipework.1'), page())}\n")
    return 0


def page() -> str:
    """pipework(1) in roff."""
    from . import catalog
    from .version import package_version

    version = package_version()
    legacy = catalog.entry("")
    verbs = catalog.entries()
    out = [
        f'.TH PIPEWORK 1 "" "pipework {version}" "User Commands"',
        ".SH NAME",
        _text(f"pipework - {_what_it_is()}"),
        ".ad l",
        ".nh",
        ".SH SYNOPSIS",
        *_lines(
            [*legacy.synopsis[1:], *(s for e in verbs for s in e.synopsis), "pipework --version"]
        ),
        ".SH DESCRIPTION",
        _text(legacy.summary),
        ".SH OPTIONS",
        *(line for o in legacy.options for line in _option(o, legacy.summary)),
        ".SH COMMANDS",
        "Each command has its own options, and its own",
        ".B \\-\\-help",
        "with the same text as here.",
    ]
    for e in verbs:
        out += [f".SS {e.name}"]
        if any(e.does):
            for command, does in zip(e.synopsis, e.does):
                out += [".TP", _bold_command(command), _text(does) if does else "(see below)"]
            out += [".PP", _text(e.summary)] if e.summary else []
        else:
            out += [*_lines(e.synopsis), ".PP", _text(e.summary) or "(no description)"]
        out += [line for o in e.options for line in _option(o, e.summary)]
        if e.example:
            out += [".PP", "Example:", ".PP", ".RS", ".nf", _text(e.example), ".fi", ".RE"]
    out += [
        ".SH SEE ALSO",
        ".BR ip (8),",
        ".BR bridge (8),",
        ".BR ovs\\-vsctl (8)",
    ]
    return "\n".join(out) + "\n"


def _what_it_is() -> str:
    """The package docstring's first line, after its name: ``pipework: WHAT.``"""
    doc = sys.modules[__name__.partition(".")[0]].__doc__ or ""
    return doc.strip().splitlines()[0].partition(": ")[2].rstrip(".") if doc.strip() else ""


def _option(option: object, prose: str) -> list[str]:
    from .catalog import Option

    assert isinstance(option, Option)
    value = ""
    if option.choices:
        value = " " + "|".join(option.choices)
    elif option.metavar:
        value = f" {option.metavar}"
    names = ", ".join(f"\\fB{_escape(n)}\\fR" for n in option.names)
    about = option.help or _said_of(option.names, prose)
    return [".TP", f"{names}{_escape(value)}", _text(about) if about else "(see SYNOPSIS)"]


def _said_of(names: tuple[str, ...], prose: str) -> str:
    """What a paragraph says of an option: its clause (up to ';') that names it first."""
    for clause in prose.replace(": ", "; ").split("; "):
        words = clause.split()
        if words and words[0] in names:
            return clause.strip().rstrip(".")
    return ""


def _lines(commands: list[str] | tuple[str, ...]) -> list[str]:
    """Commands one per line (a long one wraps)."""
    out = []
    for command in commands:
        out += [_bold_command(command), ".br"]
    return out[:-1]


def _bold_command(text: str) -> str:
    head, _, rest = text.partition(" ")
    return f"\\fB{_escape(head)}\\fR {_escape(rest)}".rstrip()


def _escape(text: str) -> str:
    return text.replace("\\", "\\e").replace("-", "\\-")


def _text(text: str) -> str:
    """A paragraph as roff lines: escaped, no line starting with a control character."""
    lines = []
    for line in text.splitlines() or [""]:
        escaped = _escape(line.strip())
        lines.append("\\&" + escaped if escaped[:1] in (".", "'") else escaped)
    return "\n".join(lines)
