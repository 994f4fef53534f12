"""Images between the engine and the store's archive: export into it, load out of it.

Loading verifies every blob first (:meth:`ImageArchive.tar_stream`: manifest, config, layers),
then streams the image to the engine without writing a copy of it, and afterwards the engine's
image ID must be the archived one; loading never tags an image, so it never moves a tag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from repro.errors import EngineError, ImageError
from repro.runner.engine import Engine
from repro.store.images import ArchivedImage, ArchiveError, ImageArchive

__all__ = ["export_image", "load_image"]

_CHUNK = 1 << 20


def export_image(
    engine: Engine, archive: ImageArchive, image_id: str, progress: Callable[[str], None] | None = None
) -> ArchivedImage:
    """Archive the engine's image ``image_id`` (idempotent); return its entry."""
    existing = archive.get(image_id)
    if existing is not None:
        return existing
    import docker.errors
    import requests.exceptions

    try:
        attrs: dict[str, Any] = engine.client.api.inspect_image(image_id)  # type: ignore[no-untyped-call]  # untyped in types-docker
        if progress:
            progress(f"archiving {image_id[:19]}… ({attrs.get('Size', 0) / 1e6:.0f} MB)")
        stream = engine.client.api.get_image(image_id, chunk_size=_CHUNK)
        return archive.ingest(stream, image_id, list(attrs.get("RepoTags") or []), list(attrs.get("RepoDigests") or []))
    except docker.errors.ImageNotFound as exc:
        raise ImageError(f"image {image_id} is not in the engine, so it cannot be archived") from exc
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine failed to export image {image_id[:19]}…: {exc}") from exc


def load_image(engine: Engine, archive: ImageArchive, image_id: str) -> None:
    """Verify, then load the archived image ``image_id`` into the engine (untagged)."""
    import docker.errors
    import requests.exceptions

    entry = archive.get(image_id)
    if entry is None:
        raise ArchiveError(f"image {image_id} is not in the store's archive")
    try:
        stream = archive.tar_stream(entry)  # every blob checked before the engine sees a byte
        for event in engine.client.api.load_image(stream):  # type: ignore[no-untyped-call]  # untyped in types-docker
            if isinstance(event, dict) and event.get("error"):
                raise ArchiveError(f"the engine refused the archived image: {event['error']}")
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine failed to load the archived image {entry.id[:19]}…: {exc}") from exc
    loaded = engine.client.api.inspect_image(entry.id)  # type: ignore[no-untyped-call]  # untyped in types-docker
    if loaded.get("Id") != entry.id:
        raise ArchiveError(f"the engine loaded {loaded.get('Id')} instead of {entry.id}")
    archive.remember_loaded(entry.id)
