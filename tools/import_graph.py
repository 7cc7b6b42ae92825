"""The project's own import graph, read from the sources (every import, also those inside functions): levels and cycles.

    python tools/import_graph.py            # each module with the project modules it imports, by level
    python tools/import_graph.py --check    # exit 1 if there is an import cycle

Level 0 imports no project module; a module's level is one more than the highest level it imports.
Registries name code by import path ("package.module:name", see manifoldmix_core/lazy.py); those
references are listed apart, as they are resolved when a method runs or a dataset loads, not on import.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("manifoldmix_core", "app_lib")
LAZY_REF = re.compile(r"^((?:manifoldmix_core|app_lib)(?:\.\w+)+):\w+$")


def module_files() -> dict[str, Path]:
    """Module name -> source file, for the project's packages and the app's entry point and pages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    found["app"] = ROOT / "app.py"
    found.update({f"views.{p.stem}": p for p in sorted((ROOT / "views").glob("*.py"))})
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name refers to (a.b.c may be a module, or a name in module a.b)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """The project modules a module imports, and those it names by import path (lazy references)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):  # imports only type checkers read are no imports
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    found, lazy = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (match := LAZY_REF.match(node.value)):
            lazy.add(_resolve(match[1], modules))
            continue
        else:
            continue
        found.update(target for target in (_resolve(n, modules) for n in names) if target and target != module)
    return found, lazy - {None, module}


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = module_files()
    edges, lazy = {}, {}
    for module, path in modules.items():
        edges[module], lazy[module] = imports(module, path, modules)
    return edges, lazy


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
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

    sys.setrecursionlimit(10_000)
    for node in edges:
        if node not in index:
            visit(node)
    return groups


def levels(edges: dict[str, set[str]]) -> dict[str, int]:
    """Longest import chain below each module (only defined without cycles)."""
    memo: dict[str, int] = {}

    def level(node: str) -> int:
        if node not in memo:
            memo[node] = 1 + max((level(n) for n in edges[node]), default=-1)
        return memo[node]

    return {node: level(node) for node in edges}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report cycles; exit 1 if there is one")
    args = parser.parse_args()
    edges, lazy = graph()
    found = cycles(edges)
    combined = cycles({m: edges[m] | lazy[m] for m in edges})
    if not args.check:
        by_level = levels(edges) if not found else {m: 0 for m in edges}
        for module in sorted(edges, key=lambda m: (by_level[m], m)):
            refs = f"   (by import path: {', '.join(sorted(lazy[module]))})" if lazy[module] else ""
            print(f"L{by_level[module]}  {module} -> {', '.join(sorted(edges[module])) or '-'}{refs}")
        print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, {max(by_level.values()) + 1} levels")
    print(f"import cycles: {found or 'none'}; counting references by import path too: {combined or 'none'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
