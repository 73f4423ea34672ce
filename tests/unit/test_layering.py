"""The shape of the package, guarded: no import cycle, and the arrows point down.

Imports are read from the source (imports inside functions count: they are still
a dependency; those under ``if TYPE_CHECKING:`` do not, they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "pipework"

#: value modules: they may import only each other and private plumbing
VALUES = {
    "pipework.errors",
    "pipework.model",
    "pipework.names",
    "pipework.inet",
    "pipework.mac",
    "pipework.integers",
    "pipework.marks",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


class _Imports(ast.NodeVisitor):
    def __init__(self, name: str, is_package: bool) -> None:
        self.base = name if is_package else name.rpartition(".")[0]
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.base.split(".")
            head = ".".join([*parts[: len(parts) - node.level + 1], node.module or ""]).strip(".")
        else:
            head = node.module or ""
        for alias in node.names:
            candidate = f"{head}.{alias.name}"
            self.found.add(candidate if candidate in MODULES else head)


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        visitor = _Imports(name, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), str(path)))
        graph[name] = {m for m in visitor.found if m in MODULES and m != name}
    return graph


GRAPH = _graph()


def test_there_is_no_import_cycle() -> None:
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def _imports_of(prefix: str) -> set[tuple[str, str]]:
    return {
        (name, dep)
        for name, deps in GRAPH.items()
        if name == prefix or name.startswith(prefix + ".")
        for dep in deps
    }


def test_values_import_nothing_above_them() -> None:
    allowed = VALUES | {m for m in MODULES if m.startswith("pipework._lowlevel")}
    wrong = sorted((n, d) for n in VALUES for d in GRAPH[n] if d not in allowed)
    assert wrong == []


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("pipework.netlink", ("pipework.guests", "pipework.drivers", "pipework.engine")),
        ("pipework._lowlevel", ("pipework.guests", "pipework.drivers", "pipework.engine")),
        ("pipework.drivers", ("pipework.engine", "pipework.ops", "pipework.cli")),
        ("pipework.dhcp", ("pipework.engine", "pipework.ops", "pipework.cli")),
        ("pipework.guests", ("pipework.drivers", "pipework.engine", "pipework.ops")),
        ("pipework.engine", ("pipework.ops", "pipework.cli")),
        ("pipework.ops", ("pipework.cli",)),
    ],
)
def test_arrows_point_down(low: str, high: tuple[str, ...]) -> None:
    wrong = sorted(
        (name, dep) for name, dep in _imports_of(low) if dep.startswith(high) and dep != low
    )
    assert wrong == []


def test_a_package_s_modules_never_import_its_init() -> None:
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    wrong = sorted(
        (name, dep)
        for name, deps in GRAPH.items()
        for dep in deps
        if dep in packages and name.startswith(dep + ".")
    )
    assert wrong == []


def test_every_registered_kind_and_runtime_is_one_module() -> None:
    from pipework.drivers import KINDS, driver
    from pipework.guests import resolver
    from pipework.names import RUNTIMES

    for kind in KINDS:
        assert f"pipework.drivers.{kind}" in MODULES
        assert driver(kind).kind == kind
    for runtime in RUNTIMES:
        assert f"pipework.guests.{runtime}" in MODULES
        assert resolver(runtime).name == runtime
