"""Graphviz DOT text of a ``Picture``: the one place names become DOT.

Every name a guest, a daemon or a file chose (interface names, aliases, guest
names) is written only inside a double-quoted string, escaped here: backslashes
are doubled, so none of DOT's escapes (``\\N``, ``\\G``, ``\\l``) applies to them,
double quotes are escaped, and control characters (a line feed, a carriage
return, an ESC) are shown as ``\\xNN`` text. Node ids are the builder's own
(``n12``), never a name, and a label is never an HTML-like ``<...>`` label: so
no name can end a string, open a new statement or add an attribute.
"""

from __future__ import annotations

from .model import STYLES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .model import Cluster, Edge, Node, Picture


def quote(text: str) -> str:
    """``text`` as one DOT double-quoted string, shown as it is."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif not char.isprintable():
            # line and paragraph separators and every control character: shown, so a
            # label keeps its lines and the DOT text its statements
            code = ord(char)
            out.append(f"\\\\x{code:02x}" if code < 0x100 else f"\\\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def label(lines: tuple[str, ...]) -> str:
    """Several lines as one DOT label: each quoted, joined by DOT's own line break."""
    return '"' + "\\n".join(quote(line)[1:-1] for line in lines) + '"'


def _node(node: Node, indent: str) -> str:
    shape, fill = STYLES.get(node.kind, STYLES["interface"])
    return (
        f'{indent}{node.id} [label={label(node.label)}, shape={shape}, style="filled", '
        f'fillcolor="{fill}"];'
    )


def _cluster(cluster: Cluster) -> list[str]:
    lines = [
        f"  subgraph cluster_{cluster.id} {{",
        f"    label={label(cluster.label)};",
        '    style="rounded,filled"; fillcolor="#f8f9fa"; color="#6c757d";',
    ]
    lines += [_node(node, "    ") for node in cluster.nodes]
    lines.append("  }")
    return lines


def _edge(edge: Edge) -> str:
    attrs = []
    if edge.label:
        attrs.append(f"label={label(edge.label)}")
    if edge.dashed:
        attrs.append('style="dashed"')
    tail = f" [{', '.join(attrs)}]" if attrs else ""
    return f"  {edge.a} -- {edge.b}{tail};"


def to_dot(picture: Picture) -> str:
    """The whole picture as an undirected DOT graph."""
    lines = [
        "graph pipework {",
        f'  label={label((picture.title,))}; labelloc=t; fontname="Helvetica";',
        "  nodesep=0.3; ranksep=0.8;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#495057"];',
    ]
    lines += [_node(node, "  ") for node in picture.nodes]
    for cluster in picture.clusters:
        lines += _cluster(cluster)
    lines += [_edge(edge) for edge in picture.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"
