"""Read a manifest file into a :class:`ManifestFile`, or report every problem with its line."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from repro.errors import ManifestError
from repro.manifest.checks import check_manifest, resolve_source, upstream_manifest_path
from repro.manifest.model import Manifest
from repro.manifest.points import MAX_POINTS, Point, Settings, expand_points, points_bound
from repro.manifest.yamlfile import Loc, Located, YamlProblem, format_loc, load_located
from repro.text import display_path

__all__ = ["ManifestFile", "describe_errors", "load_manifest", "read_document"]


@dataclass(frozen=True)
class ManifestFile:
    """A valid manifest and where it came from."""

    path: Path
    """Absolute path of the file."""
    sha256: str
    """Hex sha256 of the file's bytes."""
    model: Manifest
    sources: tuple[Path, ...] | None = None
    """Where each mount's content is, when not where the manifest says (a rerun's verified copy)."""
    lines: Mapping[Loc, int] = field(default_factory=dict, repr=False, compare=False)
    """The line of each value of the file, by its path (``("resources", "cpus")``)."""

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def point_count(self) -> int:
        """How many points the manifest expands to (at most :data:`MAX_POINTS`, or an error)."""
        return len(self.points())

    def problem(self, loc: Loc, message: str) -> ManifestError:
        """An error about the value at ``loc``, as ``file:line: field: message``."""
        line = Located(None, dict(self.lines)).line_of(loc)
        return ManifestError([f"{display_path(self.path)}:{line}: {format_loc(loc)}: {message}"])

    def points(self, settings: Settings | None = None, max_points: int = MAX_POINTS) -> list[Point]:
        """Every point, once they are known to be at most ``max_points`` (counted from the axes,
        before expanding anything)."""
        bound = points_bound(self.model, settings)
        if bound > max_points:
            axes = [len(values) for values in self.model.sweep.values()] + [
                len(v) for v in (settings or {}).values() if isinstance(v, list)
            ]
            shape = " × ".join(map(str, axes)) if axes else "explicit"
            raise self.problem(
                ("sweep",) if self.model.sweep else ("points",),
                f"{bound:,} points ({shape}), more than --max-points {max_points:,}: "
                "narrow the sweep, or raise --max-points if you mean it",
            )
        return list(expand_points(self.model, settings))

    def mount_source(self, index: int) -> Path:
        """The absolute host path of ``mounts[index]`` (a ``from:`` mount has one only once its
        upstream run is resolved: see :mod:`repro.lineage`)."""
        if self.sources is not None:
            return self.sources[index]
        source = self.model.mounts[index].source
        if source is None:
            raise ValueError(f"mounts[{index}] shows another run's outputs: its path comes from that run")
        return resolve_source(source, self.folder)

    def upstream_path(self, index: int) -> Path:
        """The absolute path of the manifest whose run ``mounts[index]`` (a ``from:`` mount) shows."""
        upstream = self.model.mounts[index].upstream
        assert upstream is not None, "only a from: mount names an upstream manifest"
        return upstream_manifest_path(upstream, self.folder)


def read_document(path: Path, shape: str, error: type[ManifestError] = ManifestError) -> tuple[bytes, Located]:
    """The bytes of the YAML file ``path`` and its values with their lines; raise ``error`` as
    ``file:line: field: message`` (a manifest's, or another file read the same way: a claims
    file) for a file that cannot be read, is not YAML within bounds, or is not a mapping
    (``shape`` says what it should look like)."""
    shown = display_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error([f"{shown}: no such file"]) from None
    except OSError as exc:
        raise error([f"{shown}: cannot read it ({exc.strerror})"]) from None
    try:
        located = load_located(path)
    except YamlProblem as problem:
        raise error([f"{shown}:{problem.line}: {problem.field_path}: {problem.message}"]) from None
    except UnicodeDecodeError:
        raise error([f"{shown}: not UTF-8 text"]) from None
    if not isinstance(located.data, dict):
        raise error([f"{shown}:1: (document): {shape}"])
    return raw, located


def load_manifest(path: Path | str, *, require_sources: bool = True) -> ManifestFile:
    """Parse and validate ``path``; raise :class:`ManifestError` listing every problem.

    ``require_sources=False`` accepts mount sources that do not exist (a rerun finds them elsewhere).
    """
    path = Path(path).absolute()
    shown = display_path(path)
    raw, located = read_document(path, "a manifest is a mapping (version: 1, name: …, image: …)")
    try:
        manifest = Manifest.model_validate(located.data)
    except ValidationError as exc:
        raise ManifestError(describe_errors(exc, located, shown)) from None
    problems = [
        f"{shown}:{located.line_of(loc)}: {format_loc(loc)}: {message}"
        for loc, message in check_manifest(manifest, path.parent, require_sources=require_sources)
    ]
    if problems:
        raise ManifestError(problems)
    return ManifestFile(path=path, sha256=hashlib.sha256(raw).hexdigest(), model=manifest, lines=located.lines)


def describe_errors(exc: ValidationError, located: Located, shown: str, kind: str = "manifest") -> list[str]:
    """Pydantic's errors about the document ``located`` (read from ``shown``), one line each as
    ``file:line: field: message``; ``kind`` names the file's kind in hints."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        problems.append(f"{shown}:{located.line_of(loc)}: {format_loc(loc)}: {_message(error, kind)}")
    return problems


def _message(error: Any, kind: str) -> str:
    kind_of = error["type"]
    if kind_of == "extra_forbidden":
        return f"unknown key (check the spelling; the {kind} reference is in the README)"
    if kind_of == "missing":
        return "required, but missing"
    if kind_of == "literal_error" and error["loc"] == ("version",):
        return f"must be 1 (the only {kind} version so far)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
