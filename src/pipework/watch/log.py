"""One line per action on stderr: text for people and journald, or ``--json`` lines."""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO


class Log:
    """Where ``apply`` and ``watch`` say what they did."""

    def __init__(self, *, json: bool = False, stream: TextIO | None = None) -> None:
        self.json = json
        self.stream = stream if stream is not None else sys.stderr

    def say(self, action: str, what: str, **fields: str) -> None:
        """``action``: attached, unchanged, differs, failed, invalid, waiting, connected,
        lost…; ``what``: the line for people; ``fields``: guest, ifname, source, detail."""
        if self.json:
            from .._lowlevel.jsonlite import dumps

            record: dict[str, object] = {
                "time": round(time.time(), 3),
                "action": action,
                "message": what,
            }
            record.update(fields)
            line = dumps(record, indent=0).replace("\n", "")
        else:
            from .._lowlevel.terminal import printable

            # names and messages come from daemons and guests: shown, never obeyed
            line = "pipework: " + printable(" ".join(f"{action}: {what}".split()))
        self.stream.write(line + "\n")
        self.stream.flush()
