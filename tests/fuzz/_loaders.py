"""The three YAML loaders under test, each as: seed text, and load(path) -> outcome.

Each loader either returns its object or raises its own ``CohortcalcError`` subclass; any
other exception (or a hang) is a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohortcalc.analysis import example_spec, load_spec
from cohortcalc.dictionary import dictionary_path, load_dictionary
from cohortcalc.errors import CohortcalcError, DictionaryError, IngestError, SpecError
from cohortcalc.ingest.mapping import builtin_mappings, load_mapping


@dataclass(frozen=True)
class Loader:
    name: str
    seed: Path
    load: Callable[[Path], Any]
    error: type[CohortcalcError]

    def text(self) -> str:
        return self.seed.read_text(encoding="utf-8")


def _mapping(path: Path) -> Any:
    return load_mapping(path, load_dictionary())


LOADERS = {
    "spec": Loader("spec", example_spec(), load_spec, SpecError),
    "mapping": Loader("mapping", builtin_mappings()["synthetic_study"], _mapping, IngestError),
    "dictionary": Loader("dictionary", dictionary_path(), load_dictionary, DictionaryError),
}


def billion_laughs(levels: int, width: int = 9) -> str:
    """The issue's alias bomb: ``a0`` a list of ``width`` scalars, each next level ``width``
    aliases of the previous one (``width ** levels`` values once expanded)."""
    lines = [f"a0: &a0 [{','.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"
