"""Bounded, safe YAML loading that remembers the line of every key and item.

One loader for every YAML file cohortcalc reads (analysis specs, ingest mappings, the data
dictionary). PyYAML's ``SafeLoader`` composes the node graph (no Python objects, no code);
we construct the data ourselves so that hostile or broken input gets a clean error naming the
file and line instead of a hang, a memory blow-up or a traceback:

- size: at most ``YamlLimits.max_bytes`` of text, which must be UTF-8 (a BOM is allowed);
- depth: nesting (also through aliases) at most ``max_depth`` levels;
- alias expansion ("billion laughs"): at most ``max_nodes`` nodes and ``max_chars`` scalar
  characters once every alias is expanded; an alias inside its own anchor is refused;
- keys are plain scalars and appear once per mapping (merge keys ``<<`` are expanded, explicit
  keys win, as YAML 1.1 says);
- tags are the plain YAML ones (map, seq, str, int, float, bool, null, timestamp).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cohortcalc.errors import CohortcalcError

Location = tuple[str | int, ...]
_TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
MERGE_TAG = _TAG + "merge"


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on one YAML document (generous: the shipped files are a few hundred lines)."""

    max_bytes: int = 1 << 20
    max_depth: int = 64
    max_nodes: int = 200_000
    max_chars: int = 8 << 20


LIMITS = YamlLimits()


def read_yaml_text(
    path: Path, error: type[CohortcalcError], limits: YamlLimits = LIMITS, what: str = "file"
) -> str:
    """The text of a YAML file: at most ``limits.max_bytes``, UTF-8, else ``error``."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc}).") from exc
    if len(raw) > limits.max_bytes:
        raise error(
            f"{path}: the {what} is larger than {limits.max_bytes:,} bytes, the limit for a YAML "
            "input; is this the right file?"
        )
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{path}, line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text; save the "
            f"{what} as UTF-8."
        ) from None


def load_yaml(
    text: str, source: str, error: type[CohortcalcError], limits: YamlLimits = LIMITS
) -> tuple[Any, dict[Location, int]]:
    """Parse ``text`` within ``limits``; return the data and a map from key/item path to its
    1-based line (the path of a value is the tuple of keys and list indices leading to it, as
    pydantic reports error locations). Every failure is ``error`` naming ``source`` and line.
    """
    if len(text) > limits.max_bytes:
        raise error(f"{source}: longer than {limits.max_bytes:,} characters, the YAML limit.")
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, limits.max_depth)
        node = loader.get_single_node()
        lines: dict[Location, int] = {}
        if node is None:
            return None, lines
        data = _Builder(loader, limits, source, error, lines).build(node, (), 0)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise error(
            f"{source}, line {line}: character U+{exc.character:04X} (a control character) "
            "is not allowed in YAML; remove it."
        ) from None
    except _TooDeep as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else "?"
        raise error(
            f"{source}, line {line}: nested deeper than {limits.max_depth} levels; flatten it."
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or str(exc)
        raise error(f"{source}{where}: not valid YAML: {problem}. Fix the syntax.") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML: {exc}. Fix the syntax.") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines.setdefault((), node.start_mark.line + 1)
    return data, lines


def load_yaml_file(
    path: str | Path, error: type[CohortcalcError], limits: YamlLimits = LIMITS, what: str = "file"
) -> tuple[Any, dict[Location, int]]:
    """``read_yaml_text`` then ``load_yaml``."""
    path = Path(path)
    return load_yaml(read_yaml_text(path, error, limits, what), str(path), error, limits)


def line_of(lines: dict[Location, int], loc: tuple[Any, ...]) -> int | None:
    """Line of ``loc`` or, failing that, of its nearest recorded ancestor."""
    path = tuple(loc)
    while True:
        if path in lines:
            return lines[path]
        if not path:
            return None
        path = path[:-1]


class _TooDeep(yaml.composer.ComposerError):
    """The composer reached ``max_depth``."""


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer refuses nesting deeper than ``max_depth`` (PyYAML's
    composer recurses once per level: a deep document would otherwise hit RecursionError)."""

    def __init__(self, text: str, max_depth: int) -> None:
        super().__init__(text)
        self._max_depth = max_depth
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                raise _TooDeep(None, None, None, self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Builder:
    """Builds Python data from the node graph, counting every node an alias expands to."""

    def __init__(
        self,
        loader: _BoundedLoader,
        limits: YamlLimits,
        source: str,
        error: type[CohortcalcError],
        lines: dict[Location, int],
    ) -> None:
        self.loader, self.limits, self.source, self.error = loader, limits, source, error
        self.lines = lines
        self.nodes = 0
        self.chars = 0
        self.active: set[int] = set()

    def fail(self, node: yaml.Node, message: str) -> CohortcalcError:
        return self.error(f"{self.source}, line {node.start_mark.line + 1}: {message}")

    def build(self, node: yaml.Node, path: Location, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise self.fail(
                node,
                f"expands to more than {self.limits.max_nodes:,} values (aliases repeating "
                "anchors, as in a 'billion laughs' file); write the values out or simplify.",
            )
        if depth > self.limits.max_depth:
            raise self.fail(node, f"nested deeper than {self.limits.max_depth} levels; flatten it.")
        if id(node) in self.active:
            raise self.fail(node, "an alias refers to its own anchor (a recursive structure).")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _TAG + "seq":
                    raise self.fail(node, _bad_tag(node))
                return self.sequence(node, path, depth)
            if node.tag != _TAG + "map":
                raise self.fail(node, _bad_tag(node))
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag not in SCALAR_TAGS:
            raise self.fail(node, _bad_tag(node))
        self.chars += len(node.value)
        if self.chars > self.limits.max_chars:
            raise self.fail(
                node,
                f"expands to more than {self.limits.max_chars:,} characters of text (aliases "
                "repeating long anchors); write the values out or simplify.",
            )
        return self.loader.construct_object(node, deep=True)

    def sequence(self, node: yaml.SequenceNode, path: Location, depth: int) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self.build(item, (*path, index), depth + 1))
        return items

    def mapping(self, node: yaml.MappingNode, path: Location, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a key must be a plain scalar (text or a number).")
            key = self.scalar(key_node)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise self.fail(key_node, "a key must be a plain scalar (text or a number).")
            line = key_node.start_mark.line + 1
            if key in out:
                first = self.lines.get((*path, key))
                raise self.fail(
                    key_node, f"duplicate key {key!r} (first at line {first}); keep one."
                )
            self.lines[(*path, key)] = line
            out[key] = self.build(value_node, (*path, key), depth + 1)
        for merge in merges:
            self.merge(merge, out, path, depth)
        return out

    def merge(self, value: yaml.Node, out: dict[Any, Any], path: Location, depth: int) -> None:
        """``<<: *anchor`` or ``<<: [*a, *b]``: keys not given explicitly (earlier wins)."""
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self.fail(source, "a merge key '<<' takes a mapping or a list of them.")
            lines: dict[Location, int] = {}
            saved, self.lines = self.lines, lines
            try:
                merged = self.build(source, path, depth)
            finally:
                self.lines = saved
            added = {key for key in merged if key not in out}
            out.update({key: item for key, item in merged.items() if key in added})
            for loc, line in lines.items():
                if len(loc) > len(path) and loc[len(path)] in added:
                    self.lines.setdefault(loc, line)


def _bad_tag(node: yaml.Node) -> str:
    tag = node.tag.replace(_TAG, "!!")
    return (
        f"not valid YAML for cohortcalc: tag {tag!r} is not allowed (plain data only); remove it."
    )
