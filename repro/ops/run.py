"""``repro run``: plan a manifest's points and run those not yet succeeded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import UsageError
from repro.execute.orphans import reconcile
from repro.manifest.load import load_manifest
from repro.manifest.points import MAX_POINTS, parse_sets
from repro.plan import Plan, build_plan, check_resources, find_image, load_plan
from repro.runner.engine import connect
from repro.runner.transfer import export_image
from repro.store.images import ImageArchive
from repro.store.record import RunRecord, Status
from repro.store.store import Store
from repro.workflow.bridge import Executor
from repro.workflow.driver import drive
from repro.workflow.session import Event, PointFinished

__all__ = ["RunResult", "drive_plan", "plan_run", "prepare_run", "run"]


@dataclass
class RunResult:
    """What ``repro run`` did (or, for a dry run, would do): the plan, how each point that ended
    did, and whether it was cut short."""

    plan: Plan
    store: Store
    finished: list[PointFinished] = field(default_factory=list)
    interrupted: bool = False
    plan_path: Path | None = None
    """Where the plan is written (once it is pinned and something will run)."""

    @property
    def records(self) -> list[RunRecord]:
        return [event.record for event in self.finished]

    @property
    def driver_log(self) -> Path:
        """Where a detached driver of this plan writes what it prints."""
        return self.store.layout.driver_log(self.plan.id)

    @property
    def skipped(self) -> int:
        return len(self.plan.points) - len(self.plan.to_run)

    @property
    def failed(self) -> list[RunRecord]:
        """Runs that failed or timed out (an interrupted run is not a failure: nobody let it end)."""
        return [r for r in self.records if r.status in (Status.FAILED, Status.TIMEOUT)]

    @property
    def stopped(self) -> list[RunRecord]:
        """Runs that were interrupted."""
        return [r for r in self.records if r.status is Status.INTERRUPTED]

    @property
    def missing(self) -> int:
        """Points that should have run but left no record (cancelled before they started)."""
        return len(self.plan.to_run) - len(self.records)


def plan_run(
    manifest_path: Path | str,
    *,
    store: Path | str | None = None,
    sets: Sequence[str] = (),
    force: bool = False,
    max_points: int = MAX_POINTS,
) -> RunResult:
    """Plan without running: points, keys, and which ones already succeeded (no engine needed)."""
    manifest = load_manifest(manifest_path)
    chosen = Store.locate(store, manifest.folder)
    plan = build_plan(manifest, chosen, parse_sets(sets), force=force, dry_run=True, max_points=max_points)
    return RunResult(plan=plan, store=chosen)


def prepare_run(
    manifest_path: Path | str,
    *,
    store: Path | str | None = None,
    sets: Sequence[str] = (),
    force: bool = False,
    keep_image: bool = False,
    max_points: int = MAX_POINTS,
    executor: Executor | None = None,
    progress: Callable[[Event | str], None] | None = None,
) -> RunResult:
    """Everything ``repro run`` does before the first container: finish the runs of dead drivers,
    plan, find and verify the image (archiving it with ``keep_image``), and write the pinned
    plan (``plan_path``) unless nothing is left to run."""
    manifest = load_manifest(manifest_path)
    chosen = Store.locate(store, manifest.folder)
    _reconcile(chosen, progress)
    plan = build_plan(manifest, chosen, parse_sets(sets), force=force, max_points=max_points, progress=progress)
    result = RunResult(plan=plan, store=chosen)
    if not plan.to_run:
        return result
    engine = connect()
    archive = ImageArchive(chosen.layout)
    try:
        engine.check_network(manifest.model.network)
        if executor is None or executor.local:  # a cluster node may offer what this host does not
            check_resources(manifest, engine)
        image = find_image(manifest, engine, archive, progress)
        if keep_image:
            export_image(engine, archive, image.id, progress)
    finally:
        engine.close()
    archived = archive.get(image.id)
    if archived is not None:
        image = image.model_copy(update={"archive": archive.reference(archived)})
    result.plan = plan.pinned_to(image, engine)
    result.plan_path = result.plan.write(chosen)
    _notes(plan, progress)
    return result


def drive_plan(
    plan_path: Path | str,
    *,
    plan_id: str,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RunResult:
    """Run the points of the plan ``plan_id`` that :func:`prepare_run` wrote to ``plan_path``
    (what a detached driver does): the file must hold exactly that plan (its content hashes to
    ``plan_id``), or nothing runs and nothing it names is read."""
    plan = load_plan(Path(plan_path), plan_id)
    manifest = load_manifest(plan.manifest_path)
    if manifest.sha256 != plan.manifest_sha256:
        raise UsageError(f"{manifest.path} changed after the run was planned; run it again")
    store = Store(Path(plan.store))
    driven = drive(plan, manifest, store, jobs=jobs, progress=progress, executor=executor, verbose=verbose)
    return RunResult(plan, store, driven.finished, driven.interrupted, Path(plan_path))


def run(
    manifest_path: Path | str,
    *,
    store: Path | str | None = None,
    sets: Sequence[str] = (),
    jobs: int = 1,
    force: bool = False,
    keep_image: bool = False,
    max_points: int = MAX_POINTS,
    executor: Executor | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RunResult:
    """Run every point of a manifest that has not yet succeeded (all of them with ``force``).

    With ``keep_image``, the image is archived into the store first (see ``repro archive``).
    A point whose earlier driver died while its container ran is adopted, not run again; a
    point another driver runs at the same time is waited for, and its result taken.
    """
    result = prepare_run(
        manifest_path,
        store=store,
        sets=sets,
        force=force,
        keep_image=keep_image,
        max_points=max_points,
        executor=executor,
        progress=progress,
    )
    if result.plan_path is None:
        return result
    manifest = load_manifest(manifest_path)
    driven = drive(
        result.plan, manifest, result.store, jobs=jobs, progress=progress, executor=executor, verbose=verbose
    )
    result.finished, result.interrupted = driven.finished, driven.interrupted
    return result


def _reconcile(store: Store, progress: Callable[[Event | str], None] | None) -> None:
    for record in reconcile(store).finished:
        if progress:
            progress(f"run {record.id} ({record.point.label}) of a driver that died: {record.status.value}")


def _notes(plan: Plan, progress: Callable[[Event | str], None] | None) -> None:
    """Say, before anything starts, what a later rerun will miss (a note, not a refusal)."""
    if progress is None or plan.git is None:
        return
    if plan.git.commit is None:
        progress(f"note: {plan.git.root} has no commit yet: these runs cannot be rerun until there is one")
    elif plan.git.dirty:
        progress(f"note: {plan.git.root} has uncommitted changes: each run records them as a diff")
