"""``repro validate``: check manifests without running anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from repro.errors import ManifestError
from repro.lineage import upstream_chain
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.points import MAX_POINTS

__all__ = ["validate"]


def validate(
    paths: Sequence[Path | str], *, max_points: int = MAX_POINTS, require_sources: bool = True
) -> list[ManifestFile]:
    """Load every manifest, bound its points and follow its ``from:`` mounts to their upstream
    manifests; raise one :class:`ManifestError` listing the problems of all of them
    (``require_sources=False``: mount sources and upstream manifests may be missing)."""
    problems: list[str] = []
    loaded = []
    for path in paths:
        try:
            manifest = load_manifest(path, require_sources=require_sources)
            manifest.points(max_points=max_points)
            if require_sources:
                upstream_chain(manifest)  # each from: leads to one point of a manifest, never back
            loaded.append(manifest)
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ManifestError(problems)
    return loaded
