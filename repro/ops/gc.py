"""``repro gc``: the shared machine's clean-up, made safe.

First, runs whose driver died are reconciled (their ended containers finish their records).
Removed: stopped containers labelled with this store (a run killed with SIGKILL leaves one),
and dangling images that repro made for this store (``repro build`` labels them with the store;
images loaded from the store's archive are listed in it) — but never an image that a record of
the store or its archive needs, unless asked (``include_pinned``). Build cache only on request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.execute.orphans import reconcile, running_records
from repro.runner import labels
from repro.runner.engine import Engine, connect
from repro.store.images import ImageArchive
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["GcResult", "gc"]


@dataclass
class GcResult:
    containers: list[tuple[str, str]] = field(default_factory=list)
    """(id, name) of containers removed (or that would be, in a dry run)."""
    images: list[tuple[str, int]] = field(default_factory=list)
    """(id, bytes) of images removed."""
    kept_pinned: list[str] = field(default_factory=list)
    """Dangling repro images kept because a record or the archive needs them."""
    build_cache_bytes: int = 0
    failures: list[str] = field(default_factory=list)
    finished: list[RunRecord] = field(default_factory=list)
    """Runs of dead drivers whose containers had ended: finished from them before clean-up."""

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.images) + self.build_cache_bytes


def _pinned(store: Store) -> set[str]:
    needed = {record.image.id for record in store.records()}
    needed.update(entry.id for entry in ImageArchive(store.layout).entries())
    return needed


def gc(
    *,
    store: Path | str | None = None,
    dry_run: bool = False,
    include_pinned: bool = False,
    build_cache: bool = False,
) -> GcResult:
    chosen = Store.locate(store)
    result = GcResult()
    if not dry_run and chosen.exists:
        result.finished = reconcile(chosen).finished  # a dead driver's container is its run's evidence first
    engine = connect()
    try:
        _containers(engine, chosen, result, dry_run)
        _images(engine, chosen, result, dry_run, include_pinned)
        if build_cache:
            _build_cache(engine, result, dry_run)
    finally:
        engine.close()
    return result


def _containers(engine: Engine, store: Store, result: GcResult, dry_run: bool) -> None:
    """Stopped containers of this store's runs and shells; never another store's, and never the
    container of a run whose record still says running (its driver, or an adopter, needs it)."""
    import docker.errors

    stopped: list[Any] = engine.client.containers.list(
        all=True, filters={"label": f"{labels.STORE}={store.root}", "status": ["created", "exited", "dead"]}
    )
    running = {record.id for record in running_records(store)}
    for container in stopped:
        if (container.labels or {}).get(labels.RUN) in running:
            continue
        result.containers.append((container.id, container.name))
        if not dry_run:
            try:
                container.remove(force=True, v=True)
            except docker.errors.APIError as exc:
                result.failures.append(f"container {container.name}: {exc.explanation or exc}")


def _images(engine: Engine, store: Store, result: GcResult, dry_run: bool, include_pinned: bool) -> None:
    import docker.errors

    loaded = ImageArchive(store.layout).loaded()
    pinned = _pinned(store) if store.exists else set()
    for image in engine.client.images.list(filters={"dangling": True}):
        image_id = str(image.id)
        image_labels = image.attrs.get("Config", {}).get("Labels") or {}
        built_here = labels.BUILT in image_labels and image_labels.get(labels.STORE) == str(store.root)
        if not built_here and image_id not in loaded:
            continue  # not repro's, or another store's: its records are not known here
        if image_id in pinned and not include_pinned:
            result.kept_pinned.append(image_id)
            continue
        result.images.append((image_id, int(image.attrs.get("Size", 0))))
        if not dry_run:
            try:
                engine.client.images.remove(image_id, noprune=False)
            except docker.errors.APIError as exc:
                result.failures.append(f"image {image_id[:19]}…: {exc.explanation or exc}")


def _build_cache(engine: Engine, result: GcResult, dry_run: bool) -> None:
    import docker.errors

    if dry_run:
        usage = engine.client.api.df()
        result.build_cache_bytes = sum(int(item.get("Size", 0)) for item in usage.get("BuildCache") or [])
        return
    try:
        pruned = engine.client.api.prune_builds()
    except docker.errors.APIError as exc:
        result.failures.append(f"build cache: {exc.explanation or exc}")
        return
    result.build_cache_bytes = int(pruned.get("SpaceReclaimed") or 0)
