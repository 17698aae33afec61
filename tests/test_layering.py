"""The layering, read from the source (ast, so nothing is imported): every `import`, at the top of a module or
inside a function, counts.

- conversations/ (the pure conversation logic) imports nothing from bot/ or storage/;
- storage/ imports nothing from conversations/;
- tests/conversations imports nothing from bot/ or storage/, also not through the test helpers it uses;
- bench/ imports nothing from tests/;
- no import cycle among the modules of bot/, conversations/ and storage/.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("bot", "conversations", "storage")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _file_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "versions" not in p.relative_to(ROOT).parts)


@cache
def imports(path: Path, *, top_level_only: bool = False) -> frozenset[str]:
    """The modules `path` imports (absolute names): `from a import b` is a.b when that is a module of ours."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _file_of(sub) is not None else base)
    return frozenset(found)


def _is_in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _violations(paths: list[Path], *forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in paths
        for module in sorted(imports(path))
        if _is_in(module, *forbidden)
    ]


def test_conversations_import_nothing_from_bot_or_storage():
    assert _violations(_modules("conversations"), "bot", "storage") == []


def test_storage_imports_nothing_from_conversations():
    assert _violations(_modules("storage"), "conversations") == []


def _tests_reached_from(paths: list[Path]) -> Iterator[tuple[Path, str]]:
    """(test file, module) for every module imported by `paths` and by the tests.* helpers they reach."""
    seen: set[Path] = set()
    todo = list(paths)
    # The conftest files above tests/conversations are loaded with it: their top-level imports count (what a
    # fixture imports in its body is only imported by the tests that use that fixture).
    for conftest in (ROOT / "tests" / "conftest.py",):
        for module in imports(conftest, top_level_only=True):
            yield conftest, module
            if _is_in(module, "tests") and (found := _file_of(module)) is not None:
                todo.append(found)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imports(path):
            yield path, module
            if _is_in(module, "tests") and (found := _file_of(module)) is not None:
                todo.append(found)


def test_conversation_tests_import_nothing_from_bot_or_storage():
    reached = _tests_reached_from(sorted((ROOT / "tests" / "conversations").rglob("*.py")))
    wrong = sorted(
        {f"{path.relative_to(ROOT)} imports {module}" for path, module in reached if _is_in(module, "bot", "storage")}
    )
    assert wrong == []


def test_bench_imports_nothing_from_tests():
    assert _violations(_modules("bench"), "tests") == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_among_the_product_modules():
    graph = {
        _module_name(path): {m for m in imports(path) if _is_in(m, *PRODUCT) and _file_of(m) is not None}
        for package in PRODUCT
        for path in _modules(package)
    }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
