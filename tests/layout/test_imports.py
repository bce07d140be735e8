"""The code's layout holds: no import circle, ml/ free of the web stack, tools/ and tests/ apart."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("accounts", "ageweb", "estimator", "harness", "ml", "tests", "tools")
WEB_STACK = ("django", "rest_framework", "channels", "celery", "kombu", "drf_spectacular", "daphne", "uvicorn")


def _modules() -> dict[str, Path]:
    found = {}
    for package in FIRST_PARTY:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, anywhere in the file (a function's import counts too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    return {name: {m for m in _imports(name, path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_circle_when_there_is_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_first_party_module_imports_itself_back_through_others() -> None:
    product = {name for name in MODULES if not name.startswith(("tests", "tools"))}
    graph = {name: deps & product for name, deps in _graph().items() if name in product}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n == "ml" or n.startswith("ml.")))
def test_the_model_library_imports_nothing_of_the_web_stack(name: str) -> None:
    web = sorted({m for m in _imports(name, MODULES[name]) if m.split(".")[0] in WEB_STACK})
    assert not web, f"{name} imports {web}"


def test_tools_and_tests_do_not_import_each_other() -> None:
    crossing = [
        f"{name} -> {imported}"
        for name, path in MODULES.items()
        for imported in _imports(name, path)
        if (name.startswith("tools") and imported.split(".")[0] == "tests")
        or (name.startswith("tests") and imported.split(".")[0] == "tools")
    ]
    assert not crossing, crossing
