"""``repro unpack``: restore an artifact into a fresh folder, without touching any other store."""

from __future__ import annotations

import shutil
from pathlib import Path

from repro.artifact.restore import Restored, extract, restore
from repro.errors import UsageError

__all__ = ["UnpackResult", "unpack"]

UnpackResult = Restored


def unpack(artifact: Path | str, destination: Path | str) -> UnpackResult:
    """Unpack ``artifact`` into ``destination`` (a new or empty folder)."""
    artifact = Path(artifact)
    folder = Path(destination).absolute()
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} is not empty: unpack into a new folder (-C DIR)")
    staging = folder.parent / f".{folder.name}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        index = extract(artifact, staging)
        restored = restore(staging, index, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    restored.store.rebuild_index()
    return restored
