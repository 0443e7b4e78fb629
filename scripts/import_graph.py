"""The project's import graph: cycles, and arrows from a lower layer to a higher one.

Every import between the project's own modules counts: at the top of a file, inside a function,
under ``TYPE_CHECKING``. A cycle, or a module importing one of a higher layer (or of another
package of its own layer), is a problem: the script prints each one and exits 1; otherwise it
prints the layers and exits 0. CI runs it through ``tests/test_import_graph.py``.

    python scripts/import_graph.py

Layers, lowest first (a module may import its own package and anything of a lower layer):
``utils``; ``envs``, ``components``; ``modules``; ``controllers``, ``runners``; ``learners``;
``experiment`` (what knows every registry); ``run``; ``main``, the EPyMARL plugin's adapter
(``lookahead_epymarl.runtime``); the tools (``search``, ``plot_results``, the plugin's installer).
The plugin's name table (``lookahead_epymarl.runtime.names``) imports nothing and sits at the bottom.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {REPO / "src": "", REPO / "lookahead_epymarl": "lookahead_epymarl"}
"""Where the project's modules live -> the package prefix of their names."""

LAYERS = {
    "utils": 0, "analysis": 1, "envs": 1, "components": 1, "modules": 2, "controllers": 3, "runners": 3, "learners": 4,
    "experiment": 5, "run": 6, "main": 7, "lookahead_epymarl.runtime": 7, "search": 8, "plot_results": 8,
    "lookahead_epymarl": 8, "lookahead_epymarl.runtime.names": 0,
}
"""Module-name prefix -> its layer; the longest prefix of a module's name decides."""


def module_files(roots: Mapping[Path, str]) -> dict[str, Path]:
    """Every module under ``roots``: dotted name -> file (a package by its ``__init__.py``)."""
    modules = {}
    for root, prefix in roots.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(([prefix] if prefix else []) + parts)
            if name:
                modules[name] = path
    return modules


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def imports_of(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The project modules ``module`` imports anywhere in its file (the longest known prefix of each
    imported name; ``from a import b`` counts ``a.b`` when it is a module)."""
    known = set(known)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                package = _package_of(module, path).split(".")
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def layer_of(module: str) -> tuple[str, int]:
    """(the prefix that decides, its layer) for ``module``."""
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return prefix, LAYERS[prefix]


def cycles(graph: Mapping[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """Per strongly connected component of more than one module (Tarjan's algorithm): one cycle in
    it, as a path that returns to its start, and all its modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(1000, 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [(_cycle_path(graph, set(component)), component) for component in components]


def _cycle_path(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest way from the component's first module back to itself, within the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ()) & component):
                if target == start:
                    return paths[node] + [start]
                if target not in paths:
                    paths[target] = paths[node] + [target]
                    following.append(target)
        frontier = following
    return sorted(component)


def problems(roots: Mapping[Path, str] = ROOTS) -> list[str]:
    """One line per cycle and per import against the layers."""
    modules = module_files(roots)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    found = [f"cycle: {' -> '.join(path)}" + (f" (one of the cycles through {', '.join(members)})"
                                                if len(members) > len(path) - 1 else "")
             for path, members in cycles(graph)]
    for source in sorted(graph):
        source_prefix, source_layer = layer_of(source)
        for target in sorted(graph[source]):
            target_prefix, target_layer = layer_of(target)
            if target_layer > source_layer or (target_layer == source_layer and target_prefix != source_prefix
                                               and not target.startswith(source_prefix + ".")):
                found.append(f"against the layers: {source} (layer {source_layer}) imports {target} "
                             f"(layer {target_layer})")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} problem(s) in the import graph", file=sys.stderr)
        return 1
    by_layer: dict[int, list[str]] = {}
    for prefix, layer in LAYERS.items():
        by_layer.setdefault(layer, []).append(prefix)
    for layer in sorted(by_layer):
        print(f"layer {layer}: {', '.join(sorted(by_layer[layer]))}")
    print("no cycle, no import against the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
