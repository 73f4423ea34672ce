"""The picture as plain data: nodes, clusters (a guest around its interfaces), edges.

Node ids are chosen by the builders (``host``, ``topology``) and are never the
names of what they draw: a name is only ever a label, which ``dot`` escapes.
"""

from __future__ import annotations

from .._lowlevel.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import KW_ONLY

#: node kinds, and how each is drawn (shape, fill colour)
STYLES = {
    "bridge": ("box", "#cfe2ff"),
    "ovs": ("box3d", "#d1e7dd"),
    "nic": ("component", "#e2e3e5"),
    "vxlan": ("cds", "#fff3cd"),
    "remote": ("ellipse", "#ffffff"),
    "interface": ("box", "#ffffff"),
    "host": ("box", "#f8f9fa"),
    "missing": ("box", "#f8d7da"),
}


class Node(Record):
    """One thing drawn: its id (``n12``), its kind (a key of STYLES), its label lines."""

    id: str
    kind: str
    label: tuple[str, ...]


class Cluster(Record):
    """A guest: a box around its interfaces."""

    id: str
    label: tuple[str, ...]
    nodes: tuple[Node, ...]


class Edge(Record):
    """A line between two node ids; dashed for tunnels and child interfaces."""

    a: str
    b: str
    _: KW_ONLY
    label: tuple[str, ...] = ()
    dashed: bool = False


class Picture(Record):
    title: str
    nodes: tuple[Node, ...]
    clusters: tuple[Cluster, ...]
    edges: tuple[Edge, ...]

    def all_nodes(self) -> list[Node]:
        return list(self.nodes) + [node for c in self.clusters for node in c.nodes]


class Ids:
    """Hands out node ids, one per key: the same thing asked twice gets the same id."""

    __slots__ = ("_by_key", "_prefix")

    def __init__(self, prefix: str = "n") -> None:
        self._prefix = prefix
        self._by_key: dict[object, str] = {}

    def __call__(self, key: object) -> str:
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = f"{self._prefix}{len(self._by_key)}"
        return found

    def known(self, key: object) -> str | None:
        return self._by_key.get(key)
