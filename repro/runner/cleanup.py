"""What ``repro gc`` asks of the engine: repro's stopped containers and dangling images, their
removal, and the build cache."""

from __future__ import annotations

from dataclasses import dataclass, field

from repro.errors import EngineError
from repro.runner import labels
from repro.runner.engine import Engine

__all__ = [
    "ContainerInfo",
    "ImageInfo",
    "build_cache_bytes",
    "dangling_images",
    "prune_build_cache",
    "remove_image",
    "stopped_containers",
]


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int
    labels: dict[str, str] = field(default_factory=dict)


def _explain(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def stopped_containers(engine: Engine, store: str) -> list[ContainerInfo]:
    """Containers of the store ``store`` (by its label) that are not running."""
    import docker.errors
    import requests.exceptions

    try:
        found = engine.client.api.containers(
            all=True, filters={"label": f"{labels.STORE}={store}", "status": ["created", "exited", "dead"]}
        )
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine did not list containers: {_explain(exc)}") from exc
    return [
        ContainerInfo(
            id=str(item["Id"]),
            name=str((item.get("Names") or ["?"])[0]).lstrip("/"),
            labels=dict(item.get("Labels") or {}),
        )
        for item in found
    ]


def dangling_images(engine: Engine) -> list[ImageInfo]:
    """Images with no tag left."""
    import docker.errors
    import requests.exceptions

    try:
        found = engine.client.api.images(filters={"dangling": True})
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine did not list images: {_explain(exc)}") from exc
    return [
        ImageInfo(id=str(item["Id"]), size=int(item.get("Size") or 0), labels=dict(item.get("Labels") or {}))
        for item in found
    ]


def remove_image(engine: Engine, image_id: str) -> None:
    import docker.errors
    import requests.exceptions

    try:
        engine.client.api.remove_image(image_id, noprune=False)
    except docker.errors.NotFound:
        return
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(_explain(exc)) from exc


def build_cache_bytes(engine: Engine) -> int:
    """The bytes the engine's build cache holds."""
    import docker.errors
    import requests.exceptions

    try:
        usage = engine.client.api.df()
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(f"the engine did not say what it stores: {_explain(exc)}") from exc
    return sum(int(item.get("Size", 0)) for item in usage.get("BuildCache") or [])


def prune_build_cache(engine: Engine) -> int:
    """Empty the engine's build cache; return the bytes freed."""
    import docker.errors
    import requests.exceptions

    try:
        pruned = engine.client.api.prune_builds()
    except (docker.errors.APIError, requests.exceptions.RequestException) as exc:
        raise EngineError(_explain(exc)) from exc
    return int(pruned.get("SpaceReclaimed") or 0)
