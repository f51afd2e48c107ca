"""The public namespace (cohortcalc/__init__.py): every name resolves, and loads lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import cohortcalc as cc

INIT = Path(cc.__file__)


def test_every_public_name_resolves_to_the_object_in_its_module():
    for name, (module, attribute) in cc._LAZY.items():
        imported = __import__(module, fromlist=[attribute])
        assert getattr(cc, name) is getattr(imported, attribute), name
    assert set(cc.__all__) <= set(dir(cc))
    assert callable(cc.ingest) and callable(cc.read_store)


def test_lazy_table_and_type_checking_imports_name_the_same_objects():
    tree = ast.parse(INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If))  # `if TYPE_CHECKING:`
    typed = {
        (alias.asname or alias.name): (stmt.module, alias.name)
        for stmt in block.body
        if isinstance(stmt, ast.ImportFrom)
        for alias in stmt.names
    }
    assert typed == cc._LAZY


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="not_a_function"):
        cc.not_a_function  # noqa: B018


def test_import_does_not_load_the_heavy_dependencies():
    code = (
        "import sys, cohortcalc\n"
        "heavy = ('matplotlib', 'numba', 'scipy.stats', 'pandas')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
