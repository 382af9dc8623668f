"""The package's layering, checked on its source: no import circles, no module reaching into
another module's private names (docs/architecture.md describes the layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import superres

ROOT = Path(superres.__file__).resolve().parent


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (p, is_pkg)
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (annotations only: no import at run time)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            t = node.test
            name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """(module -> modules it imports, anywhere in its body), and (importer, module, private name) triples."""
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for m, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        pkg = m if is_pkg else m.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "superres":
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:  # "from . import lpips": a module, not a name
                        edges[m].add(sub)
                        continue
                    edges[m].add(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and target != m:
                        private.append((m, target, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "superres":
                        edges[m].add(alias.name)
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    edges, _ = import_graph()
    assert cycles(edges) == []


def test_no_module_imports_another_modules_private_names():
    _, private = import_graph()
    assert private == []


@pytest.mark.parametrize("low, high", [
    ("superres.ops", ("superres.api", "superres.animate", "superres.compare", "superres.evaluate",
                      "superres.training", "superres.io", "superres.registry", "superres.reports",
                      "superres.cli", "superres.inference")),
    ("superres.reports", ("superres.api", "superres.animate", "superres.compare", "superres.evaluate",
                          "superres.training", "superres.cli", "superres.registry", "superres.inference")),
    ("superres.inference", ("superres.api", "superres.animate", "superres.compare", "superres.evaluate",
                            "superres.training", "superres.cli", "superres.reports", "superres.registry")),
    ("superres.io", ("superres.api", "superres.animate", "superres.compare", "superres.evaluate",
                     "superres.training", "superres.cli", "superres.reports", "superres.inference")),
    ("superres.evaluate", ("superres.training", "superres.cli")),
    ("superres.catalogue", ("superres.training", "superres.cli", "superres.api", "superres.inference")),
    ("superres.datasets", ("superres.training", "superres.cli", "superres.api", "superres.inference")),
    ("superres.download", ("superres.training", "superres.cli", "superres.api", "superres.inference", "superres.catalogue",
                           "superres.datasets", "superres.registry", "superres.models", "superres.io")),
])
def test_lower_layers_do_not_import_higher_ones(low, high):
    edges, _ = import_graph()
    bad = sorted((m, t) for m, ts in edges.items() if m == low or m.startswith(low + ".")
                 for t in ts if any(t == h or t.startswith(h + ".") for h in high))
    assert bad == []


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The cycle finder and the private-name rule work on a graph that has both faults."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    tree = ast.parse("from .x import _hidden\nif TYPE_CHECKING:\n    from .y import Z\n")
    skipped = _type_checking_only(tree)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert [id(n) in skipped for n in imports] == [False, True]
