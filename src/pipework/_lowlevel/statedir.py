"""Where pipework keeps what the kernel cannot hold for it: under /run/pipework.

Only host root can write there, which is the point: what a guest controls (its
interfaces' aliases, its files) is never the truth about what pipework did on the
host; a record here is. /run is a tmpfs: a reboot forgets it, with the kernel
state it describes.
"""

from __future__ import annotations

import os

ROOT = os.environ.get("PIPEWORK_STATE_DIR", "/run/pipework")


def write_atomically(target: str, text: str) -> None:
    """Replace ``target`` with ``text`` in one rename (a reader sees old or new)."""
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, target)
