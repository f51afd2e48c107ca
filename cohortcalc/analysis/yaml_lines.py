"""Spec YAML: the shared bounded loader (``cohortcalc.safe_yaml``) raising ``SpecError``.

Every key and item keeps its line, so a spec error names the line of what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cohortcalc.errors import SpecError
from cohortcalc.safe_yaml import Location, line_of, load_yaml, read_yaml_text

__all__ = ["Location", "line_of", "load_yaml_with_lines", "read_spec_text"]


def load_yaml_with_lines(text: str, source: str = "<spec>") -> tuple[Any, dict[Location, int]]:
    """Parse spec text safely and within bounds; return the data and ``{path: line}``."""
    return load_yaml(text, source, SpecError)


def read_spec_text(path: Path) -> str:
    """A spec file's text (UTF-8, bounded in size); else a ``SpecError`` naming the line."""
    return read_yaml_text(path, SpecError, what="spec")
