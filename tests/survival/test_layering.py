"""The engine split (issue 17): no import cycle through the model layer, ``survival/`` imports
nothing of ``spark/`` or ``ingest/``, ``spark/`` imports only documented (non-underscore)
names of the model layer. Read from the source (every import, also inside functions, and
every ``import_module("...")`` string), so it holds without PySpark installed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cohortcalc"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import in ``path``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, alias.name) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((str(node.args[0].value), None))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, imported in imports(path):
            target = f"{module}.{imported}" if f"{module}.{imported}" in modules else module
            if target in modules and target != name:
                edges[name].add(target)
    return edges


def cycles_through(edges: dict[str, set[str]], prefixes: tuple[str, ...]) -> list[list[str]]:
    """Cycles (as paths) that pass through a module starting with one of ``prefixes``."""
    found = []
    for start in (m for m in edges if m.startswith(prefixes)):
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    found.append(path)
                elif nxt not in seen and nxt != "cohortcalc":  # the package root wires stages
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_no_import_cycle_through_the_model_layer_or_the_engines() -> None:
    edges = graph()
    assert (
        cycles_through(edges, ("cohortcalc.survival", "cohortcalc.spark", "cohortcalc.frames"))
        == []
    )


@pytest.mark.parametrize("path", sorted((PACKAGE / "survival").glob("*.py")), ids=str)
def test_survival_imports_nothing_of_spark_or_ingest(path: Path) -> None:
    bad = [
        m
        for m, _ in imports(path)
        if m.startswith(("cohortcalc.spark", "cohortcalc.ingest", "pyspark"))
    ]
    assert bad == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "spark").glob("*.py")), ids=str)
def test_spark_imports_only_documented_engine_names(path: Path) -> None:
    private = [
        (module, name)
        for module, name in imports(path)
        if module.startswith("cohortcalc.survival")
        and (
            any(part.startswith("_") for part in module.split(".")) or (name or "x").startswith("_")
        )
    ]
    assert private == []


def test_frames_imports_no_stage() -> None:
    stages = ("cohortcalc.ingest", "cohortcalc.survival", "cohortcalc.spark", "cohortcalc.features")
    assert [m for m, _ in imports(PACKAGE / "frames.py") if m.startswith(stages)] == []
