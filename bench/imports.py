"""The import drawing of the `qa` package: `python -m bench.imports [ROOT]` (the repository).

Reads every module of `qa/` with `ast` (nothing is imported) and prints

- the package-level graph: one node per stage (`ingest`, `index`, `retrieve`, `answering`, `serve`)
  and per top-level module (`pipeline`, `text`, ...; `qa` is the package's `__init__`), with the
  number of import statements behind each arrow;
- the circles (strongly connected components) among modules and among packages;
- the upward arrows: imports from a lower layer to a higher one (`LAYERS`, foundation first).

Module-level imports (including those under `if`/`try` at module level) and lazy imports (inside a
function or class body) are drawn separately; imports under `if TYPE_CHECKING:` are left out (they
do not run). The implicit import of a parent package's `__init__` is not drawn.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "qa"
# Lowest first; an arrow from a lower layer to a higher one is an upward arrow. Nodes in the same
# layer may import each other (a circle among them shows up as a circle).
LAYERS: list[tuple[str, ...]] = [
    ("errors", "settings", "types", "text", "lexicon", "records", "neural"),
    ("ingest",),
    ("index",),
    ("retrieve",),
    ("answering",),
    ("analysis",),
    ("pipeline",),
    ("conversations",),
    ("serve",),
    ("qa",),
    ("bench",),
]
_RANK = {node: i for i, layer in enumerate(LAYERS) for node in layer}


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    out: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def node_of(module: str) -> str:
    """The package-level node of a module: `qa.index.build` -> `index`, `qa` -> `qa`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_pkg: bool, modules: set[str]):
    """(target module, lazy?, line) for every import of the package in one module."""
    found: list[tuple[str, bool, int]] = []

    def resolve(name: str) -> str | None:
        # the longest known module that `name` is or lies in
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    def visit(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, lazy)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    target = resolve(alias.name)
                    if target:
                        found.append((target, lazy, node.lineno))
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module if is_pkg else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            if not (name == PACKAGE or name.startswith(PACKAGE + ".")):
                return
            for alias in node.names:
                target = resolve(f"{name}.{alias.name}") if alias.name != "*" else None
                if target is None or target != f"{name}.{alias.name}":
                    target = resolve(name)
                if target:
                    found.append((target, lazy, node.lineno))
            return
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one node (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
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
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def draw(root: Path) -> str:
    files = module_names(root)
    modules = set(files)
    # (source module, target module) -> lines, per kind
    edges: dict[bool, dict[tuple[str, str], list[int]]] = {
        False: defaultdict(list),
        True: defaultdict(list),
    }
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, lazy, line in _imports(tree, module, path.name == "__init__.py", modules):
            if target != module and line not in edges[lazy][(module, target)]:
                edges[lazy][(module, target)].append(line)

    lines: list[str] = [f"import drawing of {PACKAGE}/ ({len(files)} modules)"]
    unplaced = sorted({node_of(m) for m in files} - set(_RANK))
    if unplaced:
        lines.append(f"not placed in LAYERS (no upward check): {', '.join(unplaced)}")
    for lazy, title in ((False, "module-level imports"), (True, "lazy imports (inside functions)")):
        pkg: dict[tuple[str, str], int] = defaultdict(int)
        for (src, dst), at in edges[lazy].items():
            a, b = node_of(src), node_of(dst)
            if a != b:
                pkg[(a, b)] += len(at)
        lines.append("")
        lines.append(f"== {title}: package graph (arrow: number of import statements)")
        for a in sorted({a for a, _ in pkg}, key=lambda n: (_RANK.get(n, 99), n)):
            targets = sorted((b for x, b in pkg if x == a), key=lambda n: (_RANK.get(n, 99), n))
            lines.append(f"  {a:<14}-> " + ", ".join(f"{b}({pkg[(a, b)]})" for b in targets))

        pgraph: dict[str, set[str]] = defaultdict(set)
        for a, b in pkg:
            pgraph[a].add(b)
        mgraph: dict[str, set[str]] = defaultdict(set)
        for src, dst in edges[lazy]:
            mgraph[src].add(dst)
        if lazy:  # a lazy import closes a circle together with the module-level ones
            for src, dst in edges[False]:
                mgraph[src].add(dst)
                a, b = node_of(src), node_of(dst)
                if a != b:
                    pgraph[a].add(b)
        label = "with lazy imports too" if lazy else "module-level only"
        pc = sccs(pgraph)
        lines.append(f"-- package circles ({label}): {len(pc)}")
        lines.extend(f"  {' <-> '.join(c)}" for c in pc)
        mc = sccs(mgraph)
        lines.append(f"-- module circles ({label}): {len(mc)}")
        for comp in mc:
            members = set(comp)
            inside = sorted(
                f"{s.removeprefix(PACKAGE + '.')} -> {d.removeprefix(PACKAGE + '.')}"
                + (" (lazy)" if (s, d) not in edges[False] else "")
                for g in (edges[False], edges[True] if lazy else {})
                for (s, d) in g
                if s in members and d in members
            )
            lines.append(
                f"  {len(comp)} modules: {', '.join(m.removeprefix(PACKAGE + '.') for m in comp)}"
            )
            lines.extend(f"      {e}" for e in sorted(set(inside)))
        up = sorted(
            (src, dst, at)
            for (src, dst), at in edges[lazy].items()
            if node_of(src) in _RANK
            and node_of(dst) in _RANK
            and _RANK[node_of(src)] < _RANK[node_of(dst)]
        )
        lines.append(f"-- upward arrows ({title}): {len(up)}")
        lines.extend(
            f"  {s.removeprefix(PACKAGE + '.')}:{','.join(map(str, at))} -> {d.removeprefix(PACKAGE + '.')}"
            for s, d, at in up
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent))
