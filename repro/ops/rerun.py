"""``repro rerun``: rebuild runs' exact invocations from their records alone, and run them again.

What a record pins, the rerun restores or refuses:
- the code: the recorded commit in a temporary git worktree, with the recorded uncommitted
  diff applied (the user's working tree is never touched);
- the manifest: read from that tree, and its sha256 must be the recorded one;
- the inputs: each mount's content must have the recorded digest — found in the rebuilt tree,
  or at the recorded host path; a changed or missing input is an error, never silently used;
  an input that was another run's outputs (a ``from:`` mount) is that run's stored outputs in
  this store, checked against its record (or, when the chain is rerun, the outputs its rerun
  made, which must have the same digest);
- the image: by its recorded ID (engine, registry digest, or the store's archive);
- the point: the recorded parameters, whose key must come out as the recorded key.

Runs that share all of that but their parameters (the points of one sweep) are rerun together:
one rebuilt tree, one Snakemake invocation, ``jobs`` containers at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from repro.errors import Interrupted, ReproError, SetupError, UsageError
from repro.lineage import glob_escape, upstream_input
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.points import make_point, point_key
from repro.plan import Plan, PlannedPoint, check_devices
from repro.provenance.git import bundle_clone, rebuilt_tree
from repro.provenance.hashing import hash_file, hash_tree
from repro.provenance.statcache import StatCache
from repro.runner.engine import Engine, connect
from repro.runner.image import resolve_recorded
from repro.store.images import ImageArchive
from repro.store.integrity import check_outputs
from repro.store.record import ImageRecord, InputRecord, OutputEntry, OutputsRecord, RunRecord
from repro.store.store import Store
from repro.workflow.driver import Driven, drive
from repro.workflow.session import Event

__all__ = ["RerunError", "RerunResult", "rerun", "rerun_batches", "rerun_records"]


class RerunError(SetupError):
    """What a run needs to be rerun exactly is missing or has changed."""


@dataclass
class RerunResult:
    original: RunRecord
    record: RunRecord | None = None
    """The new run's record (None when it could not run, or was interrupted first)."""
    error: str | None = None
    """Why the run could not be rerun."""


def rerun(
    ref: str,
    *,
    store: Path | str | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RerunResult:
    """Rerun the run ``ref`` (an id or a unique prefix); raise if it cannot be rerun."""
    chosen = Store.locate(store)
    chosen.require()
    (result,) = rerun_records(
        chosen, [chosen.load(chosen.resolve(ref))], progress=progress, verbose=verbose, strict=True
    )
    return result


def rerun_records(
    store: Store,
    originals: Sequence[RunRecord],
    *,
    jobs: int = 1,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
    strict: bool = False,
    upstream_runs: Mapping[str, str] | None = None,
) -> list[RerunResult]:
    """Rerun ``originals``, batching those that share code, manifest, inputs and image.

    ``upstream_runs``: for an input that was an upstream run's outputs, the run whose outputs to
    mount instead (that run's rerun, when the chain is rerun); by default the recorded run's.
    A run that cannot be rerun gets a result with ``error`` (``strict``: the error is raised).
    Raises :class:`Interrupted` when the user interrupts.
    """
    results = {original.id: RerunResult(original) for original in originals}
    for group in rerun_batches(originals):
        try:
            driven = _rerun_group(
                store, group, jobs=jobs, progress=progress, verbose=verbose, upstream_runs=upstream_runs or {}
            )
        except Interrupted:
            raise
        except ReproError as exc:
            if strict:
                raise
            for original in group:
                results[original.id].error = str(exc)
            continue
        by_key = {record.point.key: record for record in driven.records}
        for original in group:
            results[original.id].record = by_key.get(original.point.key)
        if driven.interrupted:
            raise Interrupted("interrupted; the runs so far are recorded")
    return [results[original.id] for original in originals]


def _group_key(record: RunRecord) -> tuple[object, ...]:
    git = record.git
    return (
        record.manifest.path if git is None else (git.root, git.commit, git.diff_sha256, git.manifest_path),
        record.manifest.sha256,
        record.image.id,
        tuple(sorted((i.target, i.digest) for i in record.inputs)),
    )


def rerun_batches(originals: Sequence[RunRecord]) -> Iterator[list[RunRecord]]:
    """``originals`` in batches that can share one rebuilt tree and one plan: the same code,
    manifest, image and inputs; a plan holds each point key once, so a key seen again starts
    a new batch."""
    groups: dict[tuple[object, ...], list[list[RunRecord]]] = {}
    for original in originals:
        batches = groups.setdefault(_group_key(original), [[]])
        if any(r.point.key == original.point.key for r in batches[-1]):
            batches.append([])
        batches[-1].append(original)
    for batches in groups.values():
        yield from batches


def _rerun_group(
    store: Store,
    group: list[RunRecord],
    *,
    jobs: int,
    progress: Callable[[Event | str], None] | None,
    verbose: bool,
    upstream_runs: Mapping[str, str],
) -> Driven:
    first = group[0]
    with _manifest_as_it_was(store, first) as manifest:
        check_devices(manifest)
        cache = store.digest_cache()
        try:
            manifest, inputs = _with_verified_inputs(
                manifest, first, cache, _relocated_inputs(store, first), store, upstream_runs
            )
        finally:
            if cache is not None:
                cache.close()
        digests = {i.target: i.digest for i in inputs}
        points = []
        for original in group:
            point = make_point(manifest.model, original.point.params, original.point.index, [])
            key = point_key(manifest.model, point, digests)
            if key != original.point.key:
                raise RerunError(
                    f"run {original.id} rebuilt to a different experiment (key {key[:12]}, recorded "
                    f"{original.point.key[:12]}); it cannot be rerun exactly"
                )
            points.append(
                PlannedPoint(
                    index=original.point.index,
                    label=original.point.label,
                    key=key,
                    params=original.point.params,
                    reproduces=original.id,
                )
            )
        image, engine = _recorded_image(store, first, progress)
        diff = store.real_run_folder(first.id).diff
        plan = Plan(
            created_at=datetime.now(UTC),
            store=str(store.root),
            manifest_path=str(manifest.path),
            manifest_sha256=manifest.sha256,
            manifest_name=manifest.model.name,
            axes=[],
            git=first.git,
            diff_blob=store.put_blob(diff.read_bytes()) if first.git and first.git.diff else None,
            inputs=inputs,
            points=points,
            force=True,
        ).pinned_to(image, engine)
        return drive(plan, manifest, store, jobs=jobs, progress=progress, verbose=verbose)


def _recorded_image(
    store: Store, original: RunRecord, progress: Callable[[Event | str], None] | None
) -> tuple[ImageRecord, Engine]:
    """The image ``original`` ran, found and verified, and the engine that has it."""
    engine = connect()
    try:
        engine.check_network(original.container.network)
        facts = resolve_recorded(
            engine,
            original.image.id,
            original.image.repo_digests,
            archive=ImageArchive(store.layout),
            progress=progress,
        )
    finally:
        engine.close()
    digests = list(facts.repo_digests) or original.image.repo_digests
    image = original.image.model_copy(update={"repo_digests": digests})
    return image, engine


@contextmanager
def _manifest_as_it_was(store: Store, original: RunRecord) -> Iterator[ManifestFile]:
    git = original.git
    if git is None:
        path = Path(original.manifest.path)
        if not path.is_file():
            raise RerunError(f"the manifest {path} of run {original.id} is gone (and it was not in a git repository)")
        manifest = load_manifest(path, require_sources=False)
        _check_manifest_digest(manifest, original)
        yield manifest
        return
    if git.commit is None:
        raise RerunError(f"run {original.id} ran in a repository without commits; its code cannot be rebuilt")
    diff = store.real_run_folder(original.id).diff if git.diff else None
    if diff is not None:
        if not diff.is_file():
            raise RerunError(f"the uncommitted changes of run {original.id} ({diff}) are missing from the store")
        if hash_file(diff) != git.diff_sha256:
            raise RerunError(f"{diff} does not match the digest recorded for run {original.id}; it was altered")
    root = Path(git.root)
    if not root.exists():  # an unpacked artifact: the repository was cloned elsewhere
        root = Path(store.relocations()["repositories"].get(git.root, git.root))
    with contextlib.ExitStack() as stack:
        bundle = store.layout.bundle(git.commit)
        if not root.exists() and bundle.is_file():  # pushed here from another store, with its commit
            root = stack.enter_context(bundle_clone(bundle))
        tree = stack.enter_context(rebuilt_tree(root, git.commit, diff, for_run=original.id))
        if Path(git.manifest_path).is_absolute():  # the code is the commit's: a host file is not it
            raise RerunError(
                f"run {original.id} recorded its manifest outside its repository ({git.manifest_path}); "
                "it cannot be rebuilt from the commit"
            )
        path = tree / git.manifest_path
        manifest = load_manifest(path, require_sources=False)
        _check_manifest_digest(manifest, original)
        yield manifest


def _check_manifest_digest(manifest: ManifestFile, original: RunRecord) -> None:
    if manifest.sha256 != original.manifest.sha256:
        raise RerunError(
            f"the manifest {manifest.path} is not the one run {original.id} ran "
            f"(sha256 {manifest.sha256[:12]}, recorded {original.manifest.sha256[:12]})"
        )


def _relocated_inputs(store: Store, original: RunRecord) -> dict[str, str]:
    """Where inputs of ``original`` are now, besides their recorded paths: an unpacked
    artifact's (``relocations.json``), and copies pushed into the store (``inputs/``)."""
    relocated = dict(store.relocations()["inputs"])
    for item in original.inputs:
        pushed = store.layout.input(item.digest)
        if item.digest not in relocated and pushed.exists():
            relocated[item.digest] = str(pushed)
    return relocated


def _with_verified_inputs(
    manifest: ManifestFile,
    original: RunRecord,
    cache: StatCache | None,
    relocated: Mapping[str, str],
    store: Store,
    upstream_runs: Mapping[str, str],
) -> tuple[ManifestFile, list[InputRecord]]:
    """Find every mount's content as recorded: in the rebuilt tree, else at the recorded path;
    an upstream run's outputs in this store."""
    recorded = {entry.target: entry for entry in original.inputs}
    sources: list[Path] = []
    inputs: list[InputRecord] = []
    for index, mount in enumerate(manifest.model.mounts):
        entry = recorded.get(mount.target)
        if entry is None:
            raise RerunError(f"run {original.id} recorded no input for mount {mount.target}")
        if mount.upstream is not None:
            if entry.upstream_run is None:
                raise RerunError(f"run {original.id} recorded no upstream run for its from: mount {mount.target}")
            shown = _upstream_outputs(store, original, entry, upstream_runs.get(entry.upstream_run))
            sources.append(Path(shown.source))
            inputs.append(shown)
            continue
        candidates = [manifest.mount_source(index), Path(entry.source)]
        if entry.digest in relocated:
            candidates.append(Path(relocated[entry.digest]))
        candidates = list(dict.fromkeys(candidates))
        found: list[str] = []
        chosen: Path | None = None
        for candidate in candidates:
            if not candidate.exists():
                continue
            digest = hash_tree(candidate, hasher=cache).digest
            if digest == entry.digest:
                chosen = candidate
                break
            found.append(f"{candidate} has {digest[:19]}…")
        if chosen is None:
            if not found:
                raise RerunError(
                    f"input {mount.target} of run {original.id} is missing: {entry.source} does not exist "
                    "(and the rebuilt tree does not hold it); restore it, then rerun"
                )
            raise RerunError(
                f"input {mount.target} of run {original.id} changed: recorded {entry.digest[:19]}…, "
                f"but {'; '.join(found)} — restore the recorded content, or run the experiment anew"
            )
        sources.append(chosen)
        inputs.append(entry.model_copy(update={"source": str(chosen)}))
    return dataclasses.replace(manifest, sources=tuple(sources)), inputs


def _upstream_outputs(store: Store, original: RunRecord, entry: InputRecord, instead: str | None) -> InputRecord:
    """The input ``entry`` of ``original`` — the stored outputs of its upstream run (or of the
    run ``instead``: that run's rerun) under the recorded path — checked: the run is in this
    store, its record gives the recorded digest, and its stored files are what its record says."""
    assert entry.upstream_run is not None
    run_id = instead or entry.upstream_run
    where = f"input {entry.target} of run {original.id}"
    try:
        upstream = store.load(run_id)
    except UsageError:
        raise RerunError(
            f"{where} is the outputs of run {run_id}, which is not in this store: bring it with the "
            "downstream run (repro pull --runs, or a pack of the downstream run, carries it)"
        ) from None
    glob = entry.upstream_path  # the recorded match, as a glob of itself
    found = upstream_input(
        store, upstream, entry.target, glob and glob_escape(glob), lambda message: RerunError(f"{where}: {message}")
    )
    if found.digest != entry.digest:
        rerun_of = f" (the rerun of {entry.upstream_run})" if instead else ""
        raise RerunError(
            f"{where} was {entry.digest[:19]}… in run {entry.upstream_run}, but run {run_id}{rerun_of} "
            f"holds {found.digest[:19]}… there: the upstream does not reproduce"
        )
    assert upstream.outputs is not None  # upstream_input refuses a run without outputs
    damage = check_outputs(Path(found.source), _below(upstream.outputs, entry.upstream_path, found.digest))
    if damage:
        raise RerunError(
            f"{where}: the stored outputs of run {run_id} differ from its record "
            f"({damage[0].path.name} {damage[0].what}); see: repro fsck {run_id}"
        )
    return found


def _below(outputs: OutputsRecord, path: str | None, digest: str) -> OutputsRecord:
    """The part of a run's outputs record under ``path`` (None: all of it; ``digest``: its tree
    digest), as if it were the whole."""
    if path is None:
        return outputs
    inside = [e for e in outputs.files if e.path == path or e.path.startswith(path + "/")]
    rerooted = [
        _rerooted(e, "" if e.path == path else e.path.removeprefix(path + "/"))
        for e in inside
        if not (e.path == path and e.kind == "dir")
    ]
    return outputs.model_copy(
        update={"files": rerooted, "digest": digest, "total_bytes": sum(e.size for e in rerooted)}
    )


def _rerooted(entry: OutputEntry, path: str) -> OutputEntry:
    """``entry`` under another path, in memory only: a single file's own entry is named ``""``,
    as :func:`repro.provenance.hashing.hash_tree` names it — a name no record may hold (its
    model refuses it), so it is set without validation."""
    moved = object.__new__(OutputEntry)
    for item in dataclasses.fields(OutputEntry):
        object.__setattr__(moved, item.name, path if item.name == "path" else getattr(entry, item.name))
    return moved
