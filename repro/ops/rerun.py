"""``repro rerun``: rebuild a run's exact invocation from its record alone, and run it again.

What the record pins, the rerun restores or refuses:
- the code: the recorded commit in a temporary git worktree, with the recorded uncommitted
  diff applied (the user's working tree is never touched);
- the manifest: read from that tree, and its sha256 must be the recorded one;
- the inputs: each mount's content must have the recorded digest — found in the rebuilt tree,
  or at the recorded host path; a changed or missing input is an error, never silently used;
- the image: by its recorded ID (engine, registry digest, or the store's archive);
- the point: the recorded parameters, whose key must come out as the recorded key.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from repro.errors import SetupError
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.points import make_point, point_key
from repro.plan import Plan, PlannedPoint
from repro.provenance.git import rebuilt_tree
from repro.provenance.hashing import hash_file, hash_tree
from repro.runner.engine import connect
from repro.runner.image import resolve_recorded
from repro.store.archive import ImageArchive
from repro.store.record import InputRecord, RunRecord
from repro.store.store import Store
from repro.workflow.driver import drive
from repro.workflow.session import Event

__all__ = ["RerunError", "RerunResult", "rerun", "rerun_record"]


class RerunError(SetupError):
    """What a run needs to be rerun exactly is missing or has changed."""


@dataclass
class RerunResult:
    original: RunRecord
    record: RunRecord | None
    """The new run's record (None when it was interrupted before it started)."""
    interrupted: bool = False


def rerun(
    ref: str,
    *,
    store: Path | str | None = None,
    report: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RerunResult:
    """Rerun the run ``ref`` (an id or a unique prefix) of the store."""
    chosen = Store.locate(store)
    chosen.require()
    return rerun_record(chosen, chosen.load(chosen.resolve(ref)), report=report, verbose=verbose)


def rerun_record(
    store: Store,
    original: RunRecord,
    *,
    report: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RerunResult:
    with _manifest_as_it_was(store, original) as manifest:
        manifest, inputs = _with_verified_inputs(manifest, original)
        point = make_point(manifest.model, original.point.params, original.point.index, [])
        key = point_key(manifest.model, point, {i.target: i.digest for i in inputs})
        if key != original.point.key:
            raise RerunError(
                f"run {original.id} rebuilt to a different experiment (key {key[:12]}, recorded "
                f"{original.point.key[:12]}); it cannot be rerun exactly"
            )
        engine = connect()
        try:
            facts = resolve_recorded(
                engine,
                original.image.id,
                original.image.repo_digests,
                archive=ImageArchive(store.root),
                progress=report,
            )
        finally:
            engine.close()
        image = original.image.model_copy(
            update={"repo_digests": list(facts.repo_digests) or original.image.repo_digests}
        )
        diff = store.run_folder(original.id).path / "git.diff"
        plan = Plan(
            id=f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}",
            created_at=datetime.now(UTC),
            store=str(store.root),
            manifest_path=str(manifest.path),
            manifest_sha256=manifest.sha256,
            manifest_name=manifest.model.name,
            axes=[],
            image=image,
            engine_host=engine.host,
            engine_api=engine.api_version,
            git=original.git,
            diff_blob=str(store.put_blob(diff.read_bytes())) if original.git and original.git.diff else None,
            inputs=inputs,
            points=[
                PlannedPoint(
                    index=original.point.index,
                    label=original.point.label,
                    key=key,
                    params=original.point.params,
                )
            ],
            force=True,
            reproduces=original.id,
        )
        records, interrupted = drive(plan, manifest, store, jobs=1, report=report, verbose=verbose)
    return RerunResult(original=original, record=records[-1] if records else None, interrupted=interrupted)


@contextmanager
def _manifest_as_it_was(store: Store, original: RunRecord) -> Iterator[ManifestFile]:
    git = original.git
    if git is None:
        path = Path(original.manifest.path)
        if not path.is_file():
            raise RerunError(
                f"the manifest {path} of run {original.id} is gone (and it was not in a git repository)"
            )
        manifest = load_manifest(path, require_sources=False)
        _check_manifest_digest(manifest, original)
        yield manifest
        return
    if git.commit is None:
        raise RerunError(f"run {original.id} ran in a repository without commits; its code cannot be rebuilt")
    diff = store.run_folder(original.id).path / "git.diff" if git.diff else None
    if diff is not None:
        if not diff.is_file():
            raise RerunError(
                f"the uncommitted changes of run {original.id} ({diff}) are missing from the store"
            )
        if hash_file(diff) != git.diff_sha256:
            raise RerunError(
                f"{diff} does not match the digest recorded for run {original.id}; it was altered"
            )
    with rebuilt_tree(Path(git.root), git.commit, diff, for_run=original.id) as tree:
        path = (
            tree / git.manifest_path if not Path(git.manifest_path).is_absolute() else Path(git.manifest_path)
        )
        manifest = load_manifest(path, require_sources=False)
        _check_manifest_digest(manifest, original)
        yield manifest


def _check_manifest_digest(manifest: ManifestFile, original: RunRecord) -> None:
    if manifest.sha256 != original.manifest.sha256:
        raise RerunError(
            f"the manifest {manifest.path} is not the one run {original.id} ran "
            f"(sha256 {manifest.sha256[:12]}, recorded {original.manifest.sha256[:12]})"
        )


def _with_verified_inputs(
    manifest: ManifestFile, original: RunRecord
) -> tuple[ManifestFile, list[InputRecord]]:
    """Find every mount's content as recorded: in the rebuilt tree, else at the recorded path."""
    recorded = {entry.target: entry for entry in original.inputs}
    sources: list[Path] = []
    inputs: list[InputRecord] = []
    for index, mount in enumerate(manifest.model.mounts):
        entry = recorded.get(mount.target)
        if entry is None:
            raise RerunError(f"run {original.id} recorded no input for mount {mount.target}")
        candidates = list(dict.fromkeys([manifest.mount_source(index), Path(entry.source)]))
        found: list[str] = []
        chosen: Path | None = None
        for candidate in candidates:
            if not candidate.exists():
                continue
            digest = hash_tree(candidate).digest
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
