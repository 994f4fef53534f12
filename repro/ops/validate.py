"""``repro validate``: check manifests without running anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from repro.errors import ManifestError
from repro.manifest.load import ManifestFile, load_manifest

__all__ = ["validate"]


def validate(paths: Sequence[Path | str]) -> list[ManifestFile]:
    """Load every manifest; raise one :class:`ManifestError` listing the problems of all of them."""
    problems: list[str] = []
    loaded = []
    for path in paths:
        try:
            loaded.append(load_manifest(path))
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ManifestError(problems)
    return loaded
