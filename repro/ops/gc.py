"""``repro gc``: the shared machine's clean-up, made safe.

First, runs whose driver died are reconciled (their ended containers finish their records).
Removed: stopped containers labelled with this store (a run killed with SIGKILL leaves one),
and dangling images that repro made for this store (``repro build`` labels them with the store;
images loaded from the store's archive are listed in it) — but never an image that a record of
the store or its archive needs, unless asked (``include_pinned``). Build cache only on request.

In the store: plans no record names (``plans/<id>.json``, what a run or a pipeline handed to
Snakemake), unless a driver or a job uses one (it holds a shared lock on the file) or it was
written in the last :data:`PLAN_GRACE_SECONDS`; and diff blobs that no run folder links and no
kept plan names.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.execute.orphans import reconcile, running_records
from repro.plan import load_plan
from repro.runner import labels
from repro.runner.engine import Engine, connect
from repro.store.images import ImageArchive
from repro.store.leases import plan_unused
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["PLAN_GRACE_SECONDS", "GcResult", "gc"]

PLAN_GRACE_SECONDS = 15 * 60
"""A plan this young is kept even if unused: a detached driver or a pipeline's first job may be
between writing it and locking it (or writing the first record that names it)."""


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
    plans: list[str] = field(default_factory=list)
    """Ids of the plans removed from the store: no record names them, nothing uses them."""
    blobs: list[tuple[str, int]] = field(default_factory=list)
    """(sha256, bytes) of diff blobs removed: no run links them, no kept plan names them."""

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.images) + sum(size for _, size in self.blobs) + self.build_cache_bytes


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
    if chosen.exists:
        _plans_and_blobs(chosen, result, dry_run)
    engine = connect()
    try:
        _containers(engine, chosen, result, dry_run)
        _images(engine, chosen, result, dry_run, include_pinned)
        if build_cache:
            _build_cache(engine, result, dry_run)
    finally:
        engine.close()
    return result


def _plans_and_blobs(store: Store, result: GcResult, dry_run: bool) -> None:
    named = {record.plan for record in store.records() if record.plan}
    young = time.time() - PLAN_GRACE_SECONDS
    kept_blobs: set[str] = set()
    for path in sorted(store.layout.plans.glob("*.json")):
        try:
            fresh = path.stat().st_mtime > young
        except FileNotFoundError:
            continue
        if path.stem in named or fresh:
            kept_blobs.update(_diff_blob(path))
            continue
        remove = _nothing if dry_run else functools.partial(path.unlink, missing_ok=True)
        removable = plan_unused(path, remove)  # a dry run checks the lock too: it says what would go
        if removable:
            result.plans.append(path.stem)
        else:
            kept_blobs.update(_diff_blob(path))
    for path in sorted(store.layout.blobs.glob("*")):
        try:
            facts = path.stat()
        except FileNotFoundError:
            continue
        digest = path.name
        if facts.st_nlink > 1 or facts.st_mtime > young or digest in kept_blobs:
            continue
        result.blobs.append((digest, facts.st_size))
        if not dry_run:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                result.failures.append(f"blob {digest[:12]}: {exc.strerror}")


def _nothing() -> None:
    pass


def _diff_blob(plan_path: Path) -> set[str]:
    with contextlib.suppress(Exception):  # an unreadable plan names nothing; fsck reports it
        blob = load_plan(plan_path).diff_blob
        return {Path(blob).name} if blob else set()
    return set()


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
