"""``repro lock``: pin every image given by tag to its content, editing the manifest in place.

Only the bytes of the ``image`` value change; comments, key order, quoting and layout of the
rest of the file stay byte-for-byte as they were. (A round-trip YAML library re-emits the
whole document and can still move whitespace; splicing the one value at the position the
parser reports cannot.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from repro.errors import ManifestError
from repro.manifest.model import ImagePin
from repro.manifest.yamlfile import YamlProblem, _Loader, construct

__all__ = ["LockResult", "image_value", "is_pinned", "lock_text"]


@dataclass(frozen=True)
class LockResult:
    path: Path
    before: str
    """The image as written before (a tag, or a pin)."""
    pinned_before: bool
    pin: ImagePin | None = None
    """The new pin, or None when the image was left alone."""

    @property
    def changed(self) -> bool:
        return self.pin is not None


def image_value(text: str, shown: str) -> tuple[object, int, int]:
    """The manifest's ``image`` value and its character span in ``text``."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ManifestError([f"{shown}: not valid YAML: {exc}"]) from None
    if not isinstance(root, yaml.MappingNode):
        raise ManifestError([f"{shown}:1: (document): a manifest is a mapping"])
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "image":
            try:
                loaded = construct(value)
            except YamlProblem as problem:
                raise ManifestError([f"{shown}:{problem.line}: image: {problem.message}"]) from None
            return loaded, value.start_mark.index, value.end_mark.index
    raise ManifestError([f"{shown}:1: image: required, but missing"])


def _render(pin: ImagePin) -> str:
    if pin.kind == "digest":
        return f"{pin.name}@{pin.digest}"
    return f"{{name: {json.dumps(pin.name)}, id: {json.dumps(pin.digest)}}}"


def is_pinned(text: str, shown: str) -> tuple[bool, str]:
    """Whether the manifest's image is pinned by content, and the value as written."""
    value, start, end = image_value(text, shown)
    return isinstance(value, dict) or (isinstance(value, str) and "@" in value), text[start:end]


def lock_text(
    text: str, shown: str, resolve: Callable[[str], ImagePin] | None, *, update: bool = False
) -> tuple[str, LockResult]:
    """``text`` with its image pinned by ``resolve(tag)``; unchanged if it was pinned already.

    With ``update``, a pinned image's name (``name:tag``) is resolved again. Without
    ``resolve``, nothing is changed (a check).
    """
    value, start, end = image_value(text, shown)
    if isinstance(value, dict):
        name = value.get("name")
        pinned = True
    elif isinstance(value, str):
        name, at, _ = value.partition("@")
        pinned = bool(at)
    else:
        raise ManifestError([f"{shown}: image: must be NAME:TAG, NAME@sha256:… or {{name, id}}"])
    if not isinstance(name, str) or not name:
        raise ManifestError([f"{shown}: image: has no name to resolve"])
    before = text[start:end]
    unchanged = LockResult(Path(shown), before, pinned_before=pinned)
    if resolve is None or (pinned and not update):
        return text, unchanged
    pin = resolve(name)
    if pinned and _render(pin) == before:
        return text, unchanged
    return text[:start] + _render(pin) + text[end:], LockResult(Path(shown), before, pinned, pin)
