"""Load YAML keeping the line of every value, and refusing keys given twice.

PyYAML (like most loaders) silently keeps the last of two equal keys; in a manifest that hides
a mistake (two ``params:`` blocks, one of them ignored), so it is an error here. The line map
lets every validation error name the line it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Located", "YamlProblem", "load_located"]

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
    """Parse ``path``; raise :class:`YamlProblem` for syntax errors and duplicate keys."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlProblem(line, "(document)", f"not valid YAML: {exc.problem}") from exc
    located = Located(data=None)
    if node is None:
        return located
    located.data = _construct(node, (), located.lines, yaml.constructor.SafeConstructor())
    return located


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], scalars: yaml.constructor.SafeConstructor) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(
                    key_node.start_mark.line + 1, format_loc(loc), "YAML merge keys (<<) are not supported"
                )
            key = _construct(key_node, (*loc, "<key>"), {}, scalars)
            if not isinstance(key, (str, int, float, bool)):
                raise YamlProblem(key_node.start_mark.line + 1, format_loc(loc), "keys must be plain scalars")
            child: Loc = (*loc, key if isinstance(key, (str, int)) else str(key))
            if key in result:
                first = lines.get(child, 0)
                raise YamlProblem(
                    key_node.start_mark.line + 1,
                    format_loc(child),
                    f"key given twice (first on line {first}); remove one",
                )
            lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, lines, scalars)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, index), lines, scalars) for index, item in enumerate(node.value)]
    if loc and loc[0] in RAW_TEXT_ROOTS and isinstance(node, yaml.ScalarNode) and not node.style:
        # YAML 1.1 would read `0755` as 493, `1:30` as 90 and `yes` as true: a command word or an
        # environment value is text, exactly as written.
        return node.value
    return scalars.construct_object(node, deep=True)
