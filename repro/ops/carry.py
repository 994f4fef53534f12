"""What a run needs elsewhere besides its own folder: its image archived, its commits as git
bundles, its inputs, found by content, and the upstream runs whose outputs it mounted
(``from:``). ``repro pack`` puts them in a tar; ``repro push`` sends them to another store;
``repro verify --upstream`` reruns the chain."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from repro.errors import ReproError, StoreError, UsageError
from repro.provenance.hashing import hash_tree
from repro.runner.engine import connect
from repro.runner.image import resolve_recorded
from repro.runner.transfer import export_image
from repro.store.images import ImageArchive
from repro.store.record import InputRecord, RunRecord
from repro.store.store import Store

__all__ = ["archive_images", "bundle_commits", "find_inputs", "upstream_records", "with_upstream"]


def archive_images(archive: ImageArchive, records: Sequence[RunRecord], progress: Callable[[str], None] | None) -> None:
    """Keep the images of ``records`` in ``archive`` (from the engine, for those not yet kept)."""
    missing = {r.image.id: r.image.repo_digests for r in records if archive.get(r.image.id) is None}
    if not missing:
        return
    engine = connect()
    try:
        for image_id, digests in missing.items():
            resolve_recorded(engine, image_id, digests, archive=archive, progress=progress)
            export_image(engine, archive, image_id, progress)
    finally:
        engine.close()


def bundle_commits(repository: str, commits: Iterable[str], bundle: Path, scratch: Path) -> None:
    """Write ``bundle``: a git bundle of exactly ``commits`` of ``repository`` and the history
    they reach (no branches, nothing of the user's refs). ``scratch``: a new folder to use."""
    subprocess.run(["git", "init", "--quiet", "--bare", str(scratch)], check=True)
    for commit in sorted(set(commits)):
        fetched = subprocess.run(
            ["git", "-C", str(scratch), "fetch", "--quiet", repository, f"{commit}:refs/heads/run-{commit}"],
            capture_output=True,
            text=True,
        )
        if fetched.returncode != 0:
            raise ReproError(f"cannot bundle commit {commit[:12]} of {repository}: {fetched.stderr.strip()[:200]}")
    subprocess.run(["git", "-C", str(scratch), "bundle", "create", "--quiet", str(bundle), "--all"], check=True)


def find_inputs(
    records: Sequence[RunRecord], limit: int, store: Store, progress: Callable[[str], None] | None
) -> dict[str, tuple[InputRecord, Path | None]]:
    """Each distinct input of ``records``, by digest: with a copy that holds its recorded content,
    or None (over ``limit`` bytes, or no copy has that content any more)."""
    found: dict[str, tuple[InputRecord, Path | None]] = {}
    # Where each content was seen: a rerun's record names its temporary worktree, which is gone,
    # while the original run's record names the folder that still holds the same content.
    known: dict[str, list[str]] = {}
    for other in [*records, *store.records()]:
        for item in other.inputs:
            known.setdefault(item.digest, []).append(item.source)
    cache = store.digest_cache()
    try:
        for record in records:
            for item in record.inputs:
                if item.digest in found or item.upstream_run is not None:
                    continue  # an upstream run's outputs travel with that run
                copy: Path | None = None
                if item.bytes <= limit:
                    for candidate in map(Path, dict.fromkeys(known[item.digest])):
                        if candidate.exists() and hash_tree(candidate, hasher=cache).digest == item.digest:
                            copy = candidate
                            break
                    if copy is None and progress:
                        progress(f"input {item.source}: no copy with its recorded content; listed to fetch")
                found[item.digest] = (item, copy)
    finally:
        if cache is not None:
            cache.close()
    return found


def upstream_records(store: Store, records: Sequence[RunRecord]) -> list[RunRecord]:
    """The runs whose outputs ``records`` mounted (``inputs[].upstream_run``), and theirs, each
    once, every run after the runs it needs; raises when one is not in ``store``."""
    found: dict[str, RunRecord] = {}

    def visit(record: RunRecord) -> None:
        for entry in record.inputs:
            if entry.upstream_run is None or entry.upstream_run in found:
                continue
            try:
                upstream = store.load(entry.upstream_run)
            except UsageError:
                raise StoreError(
                    f"run {record.id} mounted the outputs of run {entry.upstream_run}, which is not in "
                    f"{store.root}; bring it here first (repro pull --runs {entry.upstream_run})"
                ) from None
            visit(upstream)
            found[upstream.id] = upstream

    for record in records:
        visit(record)
    return list(found.values())


def with_upstream(store: Store, records: Sequence[RunRecord]) -> list[RunRecord]:
    """``records`` and the upstream runs they need (:func:`upstream_records`), each once."""
    return list({record.id: record for record in [*upstream_records(store, records), *records]}.values())
