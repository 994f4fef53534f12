"""``repro unpack``: restore an artifact into a fresh folder, without touching any other store."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from repro.artifact.restore import Restored, extract, restore
from repro.errors import UsageError

__all__ = ["UnpackResult", "free_bytes", "unpack"]

UnpackResult = Restored

_HEADROOM = 1 << 30


def free_bytes(folder: Path) -> int:
    """What may be unpacked under ``folder`` by default: its filesystem's free space less 1 GiB."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    status = os.statvfs(existing)
    return max(0, status.f_bavail * status.f_frsize - _HEADROOM)


def unpack(artifact: Path | str, destination: Path | str, *, max_bytes: int | None = None) -> UnpackResult:
    """Unpack ``artifact`` into ``destination`` (a new or empty folder), staging inside it; stop
    once its contents would pass ``max_bytes`` (default: :func:`free_bytes`)."""
    artifact = Path(artifact)
    folder = Path(destination).absolute()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} is not an empty folder: unpack into a new folder (-C DIR)")
    if not artifact.is_file():
        raise UsageError(f"{artifact}: no such artifact file")
    limit = free_bytes(folder) if max_bytes is None else max_bytes
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".unpacking-{secrets.token_hex(4)}"
    try:
        index = extract(artifact, staging, limit)
        restored = restore(staging, index, folder)
    except BaseException:
        # Leave the folder as it was found: gone if this made it, else empty.
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    restored.store.create()  # its own log, starting with the artifact's runs
    restored.store.rebuild_index()
    return restored
