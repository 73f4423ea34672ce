"""Text on its way to a terminal: control characters shown as escapes, never obeyed.

Much of what pipework prints comes from elsewhere: a daemon's names, states and
error messages, interface names a guest chose, what a lease or a child process
said. Any of them may carry ESC, CR, BEL or C1 controls that a terminal would act
on (recolour, retitle, move the cursor to rewrite a line already printed, hide
text), or bidirectional overrides that reorder what is shown. Everything the CLI
prints as text goes through ``printable``, which writes them as Python escapes
(``\\x1b``, ``\\u202e``). JSON output needs nothing: its encoder escapes them.
"""

from __future__ import annotations

_table: dict[int, str] = {}


def _escapes() -> dict[int, str]:
    if not _table:
        codes = [
            *range(0x20),  # C0, with TAB, LF and CR
            *range(0x7F, 0xA0),  # DEL and C1 (0x9B is a one-byte CSI)
            0x61C,  # ARABIC LETTER MARK
            0x200E,  # LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
            0x200F,
            0x2028,  # LINE SEPARATOR, PARAGRAPH SEPARATOR
            0x2029,
            *range(0x202A, 0x202F),  # bidirectional embeddings and overrides
            *range(0x2066, 0x206A),  # bidirectional isolates
        ]
        _table.update({c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in codes})
        _table.update({9: "\\t", 10: "\\n", 13: "\\r"})
    return _table


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with its control characters escaped; ``lines``: keep line feeds."""
    if text.isprintable():  # the usual case: one pass in C
        return text
    if lines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return text.translate(_escapes())
