"""DOT text into SVG or PNG (Graphviz's ``dot``, run with an argv), or into one HTML page.

The HTML page is self-contained: the SVG inlined, no script, no stylesheet or font
fetched from anywhere; without Graphviz it lists the same picture as tables.
"""

from __future__ import annotations

from ..errors import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import Picture

FORMATS = ("dot", "svg", "png", "html")
DOT_TIMEOUT = 60.0
MISSING_DOT_HINT = "apt-get install graphviz (or --format dot, or --format html for a table)"


def have_dot() -> bool:
    from .._lowlevel.programs import which

    return which("dot") is not None


def run_dot(dot_text: str, fmt: str) -> bytes:
    """``dot -T<fmt>`` of ``dot_text``: the rendered bytes."""
    import subprocess

    from .._lowlevel.programs import which

    program = which("dot")
    if program is None:
        raise CommandError(
            f"cannot render {fmt}: Graphviz is not installed (no dot)", hint=MISSING_DOT_HINT
        )
    try:
        proc = subprocess.run(
            [program, f"-T{fmt}"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CommandError(f"dot -T{fmt} did not finish in {DOT_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        message = " ".join(proc.stderr.decode("utf-8", "replace").split())
        raise CommandError(f"dot -T{fmt} failed: {message or f'exit {proc.returncode}'}")
    return proc.stdout


def _html_escape(text: str) -> str:
    from .._lowlevel.terminal import printable

    return (
        printable(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#212529}"
    "svg{max-width:100%;height:auto}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "td,th{border:1px solid #adb5bd;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#e9ecef}"
)


def to_html(picture: Picture, svg: bytes | None) -> str:
    """The page: the SVG when there is one, and always the picture as tables (what a
    reader without a graphics view, or a search, finds)."""
    title = _html_escape(picture.title)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # nothing may be fetched: no script runs, nothing loads from anywhere
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    if svg is not None:
        text = svg.decode("utf-8", "replace")
        start = text.find("<svg")
        # dot's SVG starts with an XML declaration and a DOCTYPE naming a DTD by URL:
        # only the <svg> element itself goes into the page
        parts.append(f'<div id="picture">{text[start:] if start >= 0 else ""}</div>')
    parts.append(_tables(picture))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _tables(picture: Picture) -> str:
    names = {node.id: " ".join(node.label) for node in picture.all_nodes()}
    rows = ['<h2>Nodes</h2><table id="nodes"><tr><th>kind</th><th>in</th><th>what</th></tr>']
    for node in picture.nodes:
        rows.append(
            f"<tr><td>{node.kind}</td><td>host</td>"
            f"<td>{'<br>'.join(_html_escape(line) for line in node.label)}</td></tr>"
        )
    for cluster in picture.clusters:
        where = _html_escape(" ".join(cluster.label))
        for node in cluster.nodes:
            rows.append(
                f"<tr><td>{node.kind}</td><td>{where}</td>"
                f"<td>{'<br>'.join(_html_escape(line) for line in node.label)}</td></tr>"
            )
    rows.append("</table>")
    rows.append('<h2>Links</h2><table id="links"><tr><th>from</th><th>to</th><th>via</th></tr>')
    for edge in picture.edges:
        rows.append(
            f"<tr><td>{_html_escape(names.get(edge.a, edge.a))}</td>"
            f"<td>{_html_escape(names.get(edge.b, edge.b))}</td>"
            f"<td>{_html_escape(' '.join(edge.label))}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)
