"""The product's import graph has no circles: every module can be read after the ones it uses.

The graph is read from the source (``ast``), every ``import`` counted wherever it stands (module
level, inside a function, under ``TYPE_CHECKING``), so a circle hidden in a function-level
import is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The product modules module ``name`` imports (a package's ``__init__`` is the package)."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            # the longest product module the name starts with: ``app.tray.tray_icon.TrayIcon`` -> tray
            parts = target.split(".")
            for cut in range(len(parts), 0, -1):
                candidate = ".".join(parts[:cut])
                if candidate in modules:
                    if candidate != name and candidate != "app":
                        found.add(candidate)
                    break
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in files}
    return {module_name(path): imports_of(path.read_text(encoding="utf-8"), module_name(path),
                                          path.name == "__init__.py", modules)
            for path in files}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_checker_finds_a_circle_hidden_in_a_function():
    graph = {"app.a": {"app.b"}, "app.b": {"app.c"}, "app.c": {"app.a"}, "app.d": {"app.a"}}
    assert circles(graph) == [["app.a", "app.b", "app.c"]]


def test_the_reader_counts_function_level_relative_and_type_checking_imports():
    modules = {"app", "app.tray", "app.tray.tray_icon", "app.tray.session", "app.tray.worker",
               "app.model"}
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from app.model import Event\n"
              "def f():\n    from app.tray.worker import X\n    from .tray_icon import Y\n")
    assert imports_of(source, "app.tray.session", False, modules) == {
        "app.model", "app.tray.worker", "app.tray.tray_icon"}


def test_the_product_has_no_import_circles():
    found = circles(import_graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(group) for group in found)


# The floors, lowest first: a module may import its own room and the rooms below it.
FLOORS = [
    ("app.model",),
    ("app.storage", "app.support"),
    ("app.backends",),
    ("app.delivery",),
    ("app.core",),
    ("app.door", "app.doctor", "app.receiver"),
    ("app.cli", "app.tray"),
    ("app.main",),
]


def floor_of(module: str) -> int | None:
    for number, rooms in enumerate(FLOORS):
        if any(module == room or module.startswith(room + ".") for room in rooms):
            return number
    return None


def test_every_module_is_in_a_room():
    graph = import_graph()
    assert sorted(m for m in graph if m != "app" and m != "app.__main__" and floor_of(m) is None) == []


def test_no_import_points_up():
    graph = import_graph()
    wrong = sorted(f"{module} -> {target}" for module, targets in graph.items()
                   for target in targets
                   if floor_of(module) is not None and floor_of(target) is not None
                   and floor_of(target) > floor_of(module))  # type: ignore[operator]
    assert wrong == []
