"""Building an image on the engine: what the engine would receive as the build context (with
``.dockerignore`` applied), and the build itself, its progress streamed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from repro.errors import EngineError, ImageError
from repro.runner.engine import Engine

__all__ = ["build_image", "context_files"]


def context_files(context: Path, dockerfile: str) -> list[tuple[str, int]]:
    """The files the engine would receive, with sizes (``.dockerignore`` applied)."""
    from docker.utils.build import exclude_paths

    ignore = context / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [
            line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")
        ]
    included = exclude_paths(str(context), patterns, dockerfile=dockerfile)
    files = []
    for relative in sorted(included):
        path = context / relative
        if path.is_file() and not path.is_symlink():
            files.append((relative, path.stat().st_size))
    return files


def build_image(
    engine: Engine,
    context: Path,
    dockerfile: str,
    tag: str,
    labels: Mapping[str, str],
    progress: Callable[[str], None] | None = None,
) -> str:
    """Build ``context`` as ``tag`` with ``labels``; return the new image's ID."""
    import docker.errors
    import requests.exceptions

    image_id = None
    try:
        for event in engine.client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels=dict(labels),
        ):
            if "error" in event:
                raise ImageError(f"the build of {tag} failed: {str(event['error']).strip()}")
            if progress and event.get("stream", "").strip():
                progress(event["stream"].rstrip())
            aux = event.get("aux") or {}
            if "ID" in aux:
                image_id = aux["ID"]
        if image_id is None:
            image_id = engine.client.images.get(tag).id
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine failed to build {tag}: {exc}") from exc
    return str(image_id)
