"""``repro archive``: keep the images that records use inside the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import ReproError, UsageError
from repro.runner.engine import connect
from repro.runner.image import resolve_recorded
from repro.runner.transfer import export_image
from repro.store.images import ArchivedImage, ImageArchive
from repro.store.store import Store

__all__ = ["ArchiveResult", "archive"]


@dataclass
class ArchiveResult:
    images: list[ArchivedImage] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(image id, why) for images that could not be archived."""
    disk_bytes_before: int = 0
    disk_bytes_after: int = 0

    @property
    def image_bytes(self) -> int:
        """What the archived images would take as separate copies."""
        return sum(entry.bytes for entry in self.images)


def archive(
    refs: Sequence[str] = (),
    *,
    every: bool = False,
    store: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ArchiveResult:
    """Archive the images of the runs ``refs`` (``every``: of every run in the store)."""
    chosen = Store.locate(store)
    chosen.require()
    if every == bool(refs):
        raise UsageError("give run ids, or --all (not both)")
    records = (
        [chosen.load(row.id) for row in chosen.runs()] if every else [chosen.load(chosen.resolve(ref)) for ref in refs]
    )
    images = {record.image.id: record.image.repo_digests for record in records}
    store_archive = ImageArchive(chosen.layout)
    result = ArchiveResult(disk_bytes_before=store_archive.disk_bytes())
    engine = connect()
    try:
        for image_id, digests in images.items():
            try:
                if store_archive.get(image_id) is None:
                    resolve_recorded(engine, image_id, digests, progress=progress)
                result.images.append(export_image(engine, store_archive, image_id, progress))
            except ReproError as exc:
                result.failed.append((image_id, str(exc)))
    finally:
        engine.close()
    result.disk_bytes_after = store_archive.disk_bytes()
    return result
