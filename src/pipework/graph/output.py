"""What ``pipework graph`` writes: the picture of the host or of a file, in one format."""

from __future__ import annotations

from ..errors import UsageError
from .render import FORMATS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import Picture


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"pipework graph: unknown format {fmt!r} ({', '.join(FORMATS)})")
    return fmt


def picture(path: str | None) -> Picture:
    """The topology file's picture, or the host's as the kernel shows it now."""
    if path is not None:
        from .topology import load_picture

        return load_picture(path)
    from .host import read_host

    return read_host()


def produce(pic: Picture, fmt: str) -> bytes:
    """The picture in ``fmt``: DOT text, SVG or PNG from Graphviz, or an HTML page
    (with the SVG when Graphviz is there, as tables either way)."""
    from .dot import to_dot

    text = to_dot(pic)
    if fmt == "dot":
        return text.encode("utf-8")
    from .render import have_dot, run_dot, to_html

    if fmt == "html":
        return to_html(pic, run_dot(text, "svg") if have_dot() else None).encode("utf-8")
    return run_dot(text, fmt)
