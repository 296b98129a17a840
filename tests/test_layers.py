"""hsi's imports point down the layers of STYLE.md, and no modules import each other in a circle.

Every module under ``hsi/`` is parsed with ``ast``; every import counts, top-level or inside a
function (a late import that hides an upward arrow is still an upward arrow).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "hsi"

# Layers, lowest first: errors/settings/arrays -> scene, io -> degrade, estimate, metrics -> tiling
# -> restore, unmix, pansharpen, nn -> train -> jobs -> bench -> cli (STYLE.md, "layers point
# down"). A module may import its own rank or lower ranks only; at one rank, only where that makes
# no cycle (checked below). Keys are hsi's top-level modules and packages.
RANKS = {
    # the bottom: errors, settings and array conversion import nothing of hsi (arrays: errors only)
    "errors": 0, "settings": 0, "arrays": 0, "malloc": 0, "threads": 0,
    # data: the scene type, file formats, quicklooks of scenes, shipped and generated data
    "scene": 1, "io": 1, "viz": 1, "stats": 1, "datasets": 1, "sample_scene": 1, "nodata": 1,
    # degradations, estimation, metrics
    "degrade": 2, "estimate": 2, "metrics": 2,
    # tiling (runner, grid, windows, scene sampling, resume) and the Dask scheduler plumbing
    "tiling": 3, "distributed": 3,
    # methods and the networks they share with training
    "restore": 4, "unmix": 4, "pansharpen": 4, "nn": 4,
    # training; the method registry and the Hydra composition it and the jobs use
    "train": 5, "methods": 5, "config": 5,
    "jobs": 6,
    "bench": 7,
    "cli": 8,
}

def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=None)
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The hsi module ``name`` refers to (``hsi.x.y`` may be a module or a name in ``hsi.x``)."""
    modules = _modules()
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _imported_modules(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The hsi modules that ``tree`` (the source of ``module``) imports, wherever the import stands."""
    package = module if is_package else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c`: c is module a.b.c if there is one, else a name defined in a.b
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in _modules() else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            if name == "hsi" or name.startswith("hsi."):
                target = _resolve(name)
                if target and target not in (module, "hsi"):
                    targets.add(target)
    return targets


@lru_cache(maxsize=None)
def _imports() -> dict[str, frozenset[str]]:
    """Every hsi module and the hsi modules it imports."""
    return {
        module: frozenset(_imported_modules(ast.parse(path.read_text(), filename=str(path)), module,
                                            path.name == "__init__.py"))
        for module, path in _modules().items()
    }


def _layer(module: str) -> str:
    return module.split(".")[1]


def test_every_module_has_a_rank():
    unranked = sorted({_layer(m) for m in _modules() if m != "hsi"} - set(RANKS))
    assert not unranked, f"add these to RANKS in tests/test_layers.py: {unranked}"


def _upward_imports() -> set[tuple[str, str]]:
    return {
        (module, target)
        for module, targets in _imports().items() if module != "hsi"
        for target in targets
        if RANKS[_layer(target)] > RANKS[_layer(module)]
    }


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    upward = _upward_imports()
    assert not upward, "upward imports (module -> imported module):\n" + "\n".join(
        f"  {m} (rank {RANKS[_layer(m)]}) -> {t} (rank {RANKS[_layer(t)]})" for m, t in sorted(upward))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan's algorithm)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle_between_modules():
    cycles = _cycles({m: set(ts) for m, ts in _imports().items()})
    assert not cycles, "modules that import each other in a circle:\n" + "\n".join(f"  {c}" for c in cycles)


def test_no_import_cycle_between_packages_of_one_rank():
    graph: dict[str, set[str]] = {}
    for module, targets in {m: set(ts) for m, ts in _imports().items()}.items():
        if module == "hsi":
            continue
        for target in targets:
            if _layer(target) != _layer(module) and RANKS[_layer(target)] == RANKS[_layer(module)]:
                graph.setdefault(_layer(module), set()).add(_layer(target))
    cycles = _cycles(graph)
    assert not cycles, f"packages of one rank that import each other: {cycles}"


def test_arrays_imports_nothing_of_hsi_but_errors():
    assert _imports()["hsi.arrays"] <= {"hsi.errors"}


@pytest.mark.parametrize("source, expected", [
    ("def f():\n    from hsi.jobs.common import ensure_sample\n", {"hsi.jobs.common"}),
    ("import hsi.scene\nfrom hsi import arrays\nfrom hsi.tiling import run_tiled\n",
     {"hsi.scene", "hsi.arrays", "hsi.tiling"}),
    ("class A:\n    def f(self):\n        import hsi.cli as cli\n", {"hsi.cli"}),
])
def test_the_parser_sees_late_and_module_imports(source, expected):
    """The checks above would pass vacuously if imports inside functions were missed."""
    assert _imported_modules(ast.parse(source), "hsi.degrade.noise", False) == expected
