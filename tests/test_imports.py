"""The import graph of srcnn: no cycle (imports inside functions included) and no library module importing
the command lines (srcnn.cli), so that dependencies point down. Read from the source with ast: nothing
is imported."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def import_graph(root: Path, package: str = "srcnn") -> dict[str, set[str]]:
    """{module: the modules of ``package`` it imports}, from every ``import`` and ``from ... import`` in
    its source, at module level or inside a function (``if TYPE_CHECKING:`` blocks, which never run, are
    left out). ``from . import x`` counts as importing the module x where x is one; importing the package
    itself (``from srcnn import __version__``: srcnn/__init__.py imports its names lazily) is no edge."""
    files = {}
    for f in (root / package).rglob("*.py"):
        parts = list(f.relative_to(root).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f

    def module_of(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, f in files.items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        here = mod.split(".") if f.name == "__init__.py" else mod.split(".")[:-1]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module
                targets |= {f"{base}.{a.name}" for a in node.names}
        graph[mod] = {m for m in map(module_of, (t for t in targets if t.split(".")[0] == package))
                      if m not in (None, mod, package)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each a cycle of imports), sorted."""
    index, low, stack, found = {}, {}, [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycle():
    graph = import_graph(REPO)
    assert "srcnn.inference" in graph and "srcnn.cli.evaluate" in graph
    assert cycles(graph) == []


def test_no_library_module_imports_the_command_lines():
    graph = import_graph(REPO)
    assert {m: sorted(d) for m, d in graph.items() if not m.startswith("srcnn.cli")
            and any(x == "srcnn.cli" or x.startswith("srcnn.cli.") for x in d)} == {}


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """A cycle made by an import inside a function, a relative ``from . import``, an absolute import and
    a TYPE_CHECKING import (no edge) on a small package."""
    pkg = tmp_path / "srcnn"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def g():\n    from .c import h\n    return h\n")
    (pkg / "c.py").write_text("import srcnn.a\nfrom srcnn import __version__\n")
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "tool.py").write_text("from ..a import x\nfrom .. import c\n")
    graph = import_graph(tmp_path)
    assert graph == {"srcnn": set(), "srcnn.a": {"srcnn.b"}, "srcnn.b": {"srcnn.c"}, "srcnn.c": {"srcnn.a"},
                     "srcnn.cli": set(), "srcnn.cli.tool": {"srcnn.a", "srcnn.c"}}
    assert cycles(graph) == [["srcnn.a", "srcnn.b", "srcnn.c"]]
