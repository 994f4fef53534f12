"""Load YAML keeping the line of every value, refusing keys given twice, within bounds.

PyYAML (like most loaders) silently keeps the last of two equal keys; in a manifest that hides
a mistake (two ``params:`` blocks, one of them ignored), so it is an error here. The line map
lets every validation error name the line it is about.

A manifest is input from anyone (an artifact, a colleague, a pull request), so it is bounded
before anything is built from it: at most :data:`MAX_BYTES`; no control characters; aliases
are allowed, but the document they expand to has at most :data:`MAX_NODES` values nested at
most :data:`MAX_DEPTH` deep, and an alias that contains itself is refused (a "billion laughs"
document otherwise expands without end, and a recursive one never ends).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "Located", "YamlProblem", "construct", "load_located"]

MAX_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 100

# The C loader is several times faster; fall back to the pure-Python one where libyaml is absent.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Loc = tuple[str | int, ...]

RAW_TEXT_ROOTS = frozenset({"command", "env"})
"""Top-level keys whose plain scalars are kept as the text written."""


class YamlProblem(Exception):
    """The text is not YAML we accept; ``line`` is 1-based."""

    def __init__(self, line: int, field_path: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.field_path = field_path
        self.message = message


@dataclass
class Located:
    """A parsed document and the line of each value, keyed by its path."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """The line of ``loc``, or of its nearest ancestor that has one (1 for the document)."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return 1


def format_loc(loc: Loc) -> str:
    """``('mounts', 0, 'source')`` → ``mounts[0].source``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def load_located(path: Path) -> Located:
    """Parse ``path``; raise :class:`YamlProblem` for syntax errors, duplicate keys and documents
    out of bounds (UnicodeDecodeError for text that is not UTF-8)."""
    raw = path.read_bytes()
    if len(raw) > MAX_BYTES:
        raise YamlProblem(1, "(document)", f"{len(raw):,} bytes: a manifest is at most {MAX_BYTES:,} (1 MiB)")
    text = raw.decode("utf-8")
    _refuse_control_characters(text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, "(document)", f"not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(1, "(document)", f"not valid YAML: {str(exc).splitlines()[0]}") from exc
    located = Located(data=None)
    if node is None:
        return located
    located.data = _Builder(located.lines).build(node, ())
    return located


def construct(node: yaml.Node) -> Any:
    """The value of one composed node, within the same bounds as a whole manifest."""
    return _Builder({}).build(node, ())


def _refuse_control_characters(text: str) -> None:
    for number, line in enumerate(text.split("\n"), 1):
        for column, char in enumerate(line, 1):
            code = ord(char)
            if (code < 0x20 and char not in "\t\r") or 0x7F <= code <= 0x9F or code in (0xFFFE, 0xFFFF):
                raise YamlProblem(
                    number, "(document)", f"control character U+{code:04X} in column {column}; a manifest is text"
                )


def _raw_text(loc: Loc) -> bool:
    """Command words and environment values (``env.X``, ``env.X.value``) are text as written."""
    if not loc or loc[0] not in RAW_TEXT_ROOTS:
        return False
    return loc[0] == "command" or len(loc) == 2 or (len(loc) == 3 and loc[2] == "value")


class _Builder:
    """Builds values from composed nodes, counting every value an alias expands to."""

    def __init__(self, lines: dict[Loc, int]) -> None:
        self.lines = lines
        self.count = 0
        self.scalars = yaml.constructor.SafeConstructor()
        self._open: set[int] = set()  # nodes being built right now: meeting one again is a loop

    def build(self, node: yaml.Node, loc: Loc, *, record: bool = True) -> Any:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise YamlProblem(line, format_loc(loc), f"expands to more than {MAX_NODES:,} values (aliases?)")
        if len(loc) > MAX_DEPTH:
            raise YamlProblem(line, format_loc(loc), f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in self._open:
            raise YamlProblem(line, format_loc(loc), "an alias that contains itself (recursive)")
        if record:
            self.lines.setdefault(loc, line)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc, record)
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*loc, index), record=record) for index, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))
        raise YamlProblem(line, format_loc(loc), "not a value YAML can say")  # pragma: no cover

    def _mapping(self, node: yaml.MappingNode, loc: Loc, record: bool) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(
                    key_node.start_mark.line + 1, format_loc(loc), "YAML merge keys (<<) are not supported"
                )
            key = self.build(key_node, (*loc, "<key>"), record=False)
            if not isinstance(key, (str, int, float, bool)):
                raise YamlProblem(key_node.start_mark.line + 1, format_loc(loc), "keys must be plain scalars")
            child: Loc = (*loc, key if isinstance(key, (str, int)) else str(key))
            if key in result:
                first = self.lines.get(child, 0)
                raise YamlProblem(
                    key_node.start_mark.line + 1,
                    format_loc(child),
                    f"key given twice (first on line {first}); remove one",
                )
            if record:
                self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, record=record)
        return result

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        if _raw_text(loc) and not node.style:
            # YAML 1.1 would read `0755` as 493, `1:30` as 90 and `yes` as true: a command word or
            # an environment value is text, exactly as written.
            return node.value
        return self.scalars.construct_object(node, deep=True)
