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

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from repro.errors import EngineError, ReproError, StoreError
from repro.execute.orphans import reconcile, running_records
from repro.runner import labels
from repro.runner.cleanup import (
    build_cache_bytes,
    dangling_images,
    prune_build_cache,
    remove_image,
    stopped_containers,
)
from repro.runner.container import remove_container
from repro.runner.engine import Engine, connect
from repro.store.files import read_stored
from repro.store.images import ImageArchive
from repro.store.leases import plan_unused
from repro.store.names import is_hex64
from repro.store.record import RunRecord
from repro.store.store import Store
from repro.text import load_json

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
    unreadable: list[str] = []
    for path in sorted(store.layout.plans.glob("*.json")):
        try:
            fresh = path.stat().st_mtime > young
        except FileNotFoundError:
            continue
        if path.stem not in named and not fresh:
            remove = _nothing if dry_run else functools.partial(path.unlink, missing_ok=True)
            if plan_unused(path, remove):  # a dry run checks the lock too: it says what would go
                result.plans.append(path.stem)
                continue
        try:
            kept_blobs.update(_diff_blob(path))
        except ReproError as exc:
            unreadable.append(path.stem)
            result.failures.append(f"plan {path.stem}: {exc}; no diff blob is removed while it is kept")
    if unreadable:
        return  # a kept plan that cannot be read may name any blob: removing one could break its run
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
    """The diff blob a plan names, by its digest: a plan of this repro names it so, one of an
    older repro by the blob's path (only its name is taken, and only if it is a digest). Raises
    :class:`ReproError` when the file is not a plan's."""
    try:
        data = load_json(read_stored(plan_path))
    except OSError as exc:
        raise StoreError(f"cannot read it ({exc.strerror})") from exc
    except ValueError as exc:
        raise StoreError("it is not JSON") from exc
    blob = data.get("diff_blob") if isinstance(data, dict) else None
    if blob is None:
        return set()
    name = PurePosixPath(str(blob)).name
    if not is_hex64(name):
        raise StoreError("it names no blob repro would write")
    return {name}


def _containers(engine: Engine, store: Store, result: GcResult, dry_run: bool) -> None:
    """Stopped containers of this store's runs and shells; never another store's, and never the
    container of a run whose record still says running (its driver, or an adopter, needs it)."""
    running = {record.id for record in running_records(store)}
    for container in stopped_containers(engine, str(store.root)):
        if container.labels.get(labels.RUN) in running:
            continue
        result.containers.append((container.id, container.name))
        if not dry_run:
            try:
                remove_container(engine, container.id)
            except EngineError as exc:
                result.failures.append(f"container {container.name}: {exc}")


def _images(engine: Engine, store: Store, result: GcResult, dry_run: bool, include_pinned: bool) -> None:
    loaded = ImageArchive(store.layout).loaded()
    pinned = _pinned(store) if store.exists else set()
    for image in dangling_images(engine):
        built_here = labels.BUILT in image.labels and image.labels.get(labels.STORE) == str(store.root)
        if not built_here and image.id not in loaded:
            continue  # not repro's, or another store's: its records are not known here
        if image.id in pinned and not include_pinned:
            result.kept_pinned.append(image.id)
            continue
        result.images.append((image.id, image.size))
        if not dry_run:
            try:
                remove_image(engine, image.id)
            except EngineError as exc:
                result.failures.append(f"image {image.id[:19]}…: {exc}")


def _build_cache(engine: Engine, result: GcResult, dry_run: bool) -> None:
    if dry_run:
        result.build_cache_bytes = build_cache_bytes(engine)
        return
    try:
        result.build_cache_bytes = prune_build_cache(engine)
    except EngineError as exc:
        result.failures.append(f"build cache: {exc}")
