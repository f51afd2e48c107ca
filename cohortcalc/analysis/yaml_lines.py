"""Safe YAML loading that remembers the line of every key and item.

``yaml.safe_load`` forgets where things were; spec errors must name the line. We compose the
node graph with PyYAML's ``SafeLoader`` (no arbitrary objects, no ``eval``), construct scalars
with its safe constructor, and record ``path -> line`` for every mapping key and sequence item.
"""

from __future__ import annotations

from typing import Any

import yaml

from cohortcalc.errors import SpecError

Path = tuple[str | int, ...]


def load_yaml_with_lines(text: str, source: str = "<spec>") -> tuple[Any, dict[Path, int]]:
    """Parse ``text`` safely; return the data and a map from key/item path to 1-based line.

    The path of a mapping value is the tuple of keys and list indices leading to it, as pydantic
    reports error locations, so a validation error's ``loc`` finds its line.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path, int] = {}
        data = _construct(loader, node, (), lines, source) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise SpecError(f"{source}, {where}: not valid YAML: {exc.problem or exc}.") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}.") from exc
    finally:
        loader.dispose()
    if node is not None:
        lines.setdefault((), node.start_mark.line + 1)
    return data, lines


def _construct(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int], source: str
) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise SpecError(f"{source}, line {line}: a key must be a plain scalar.")
            if key in out:
                raise SpecError(
                    f"{source}, line {line}: duplicate key {key!r} (first at line "
                    f"{lines[(*path, key)]}); keep one."
                )
            lines[(*path, key)] = line
            out[key] = _construct(loader, value_node, (*path, key), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_construct(loader, item, (*path, index), lines, source))
        return items
    return loader.construct_object(node, deep=True)


def line_of(lines: dict[Path, int], loc: tuple[Any, ...]) -> int | None:
    """Line of ``loc`` or, failing that, of its nearest recorded ancestor."""
    path = tuple(loc)
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]
