"""``repro run``: plan a manifest's points and run those not yet succeeded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.config import configured_flag
from repro.errors import UsageError
from repro.execute.orphans import reconcile
from repro.manifest.load import ManifestFile, load_manifest
from repro.manifest.points import MAX_POINTS, parse_sets
from repro.ops.attest import AttestResult, sign_records, signing_key_id
from repro.plan import Plan, build_plan, check_devices, check_resources, find_image, load_plan
from repro.runner.engine import Engine, connect
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
    upstream: list[PointFinished] = field(default_factory=list)
    """How the upstream points the plan waited on ended (they ran first)."""
    signed: AttestResult | None = None
    """The statements signed for the records (``--sign``), and the log's checkpoint after them."""

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
        """Points that should have run but left no record (cancelled before they started, or
        waiting on an upstream point that did not succeed)."""
        return len(self.plan.to_run) - len(self.records)

    @property
    def upstream_failed(self) -> list[RunRecord]:
        """Upstream points that ran first and did not succeed (their downstream could not run)."""
        return [e.record for e in self.upstream if e.record.status is not Status.SUCCEEDED]


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
        result.plan = _pin_with_upstream(plan, manifest, chosen, engine, archive, executor, keep_image, progress)
    finally:
        engine.close()
    result.plan_path = result.plan.write(chosen)
    _notes(plan, progress)
    return result


def _pin_with_upstream(
    plan: Plan,
    manifest: ManifestFile,
    store: Store,
    engine: Engine,
    archive: ImageArchive,
    executor: Executor | None,
    keep_image: bool,
    progress: Callable[[Event | str], None] | None,
) -> Plan:
    """``plan`` pinned (see :func:`_pin`) after the upstream points it waits on, which run first
    in the same Snakemake invocation: each of their plans is checked, pinned and written like
    this one — first, since pinning makes a plan another (its id is its content's), and
    ``waits_on`` then names each by the id it was written under."""
    pinned: dict[str, Plan] = {}
    for other in plan.upstream:
        pinned[other.id] = _pin_with_upstream(
            other, load_manifest(other.manifest_path), store, engine, archive, executor, False, progress
        )
        pinned[other.id].write(store)
    waits_on = [w.model_copy(update={"plan": pinned[w.plan].id}) if w.plan in pinned else w for w in plan.waits_on]
    plan = plan.model_copy(update={"waits_on": waits_on, "upstream": list(pinned.values())})
    return _pin(plan, manifest, engine, archive, executor, keep_image, progress)


def _pin(
    plan: Plan,
    manifest: ManifestFile,
    engine: Engine,
    archive: ImageArchive,
    executor: Executor | None,
    keep_image: bool,
    progress: Callable[[Event | str], None] | None,
) -> Plan:
    """``plan`` checked against this host and ``engine`` and pinned to its verified image."""
    if manifest.sha256 != plan.manifest_sha256:
        raise UsageError(f"{manifest.path} changed while the run was planned; run it again")
    engine.check_network(manifest.model.network)
    if executor is None or executor.local:  # a cluster node may offer what this host does not
        check_resources(manifest, engine)
        check_devices(manifest)
    image = find_image(manifest, engine, archive, progress)
    if keep_image:
        export_image(engine, archive, image.id, progress)
    archived = archive.get(image.id)
    if archived is not None:
        image = image.model_copy(update={"archive": archive.reference(archived)})
    return plan.pinned_to(image, engine)


def drive_plan(
    plan_path: Path | str,
    *,
    plan_id: str,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
    sign: bool = False,
    key: Path | str | None = None,
) -> RunResult:
    """Run the points of the plan ``plan_id`` that :func:`prepare_run` wrote to ``plan_path``
    (what a detached driver does): the file must hold exactly that plan (its content hashes to
    ``plan_id``), or nothing runs and nothing it names is read."""
    sign = _signing(sign, key)
    plan = load_plan(Path(plan_path), plan_id)
    manifest = load_manifest(plan.manifest_path)
    if manifest.sha256 != plan.manifest_sha256:
        raise UsageError(f"{manifest.path} changed after the run was planned; run it again")
    store = Store(Path(plan.store))
    driven = drive(plan, manifest, store, jobs=jobs, progress=progress, executor=executor, verbose=verbose)
    result = RunResult(plan, store, driven.finished, driven.interrupted, Path(plan_path), driven.upstream)
    if sign:
        result.signed = _sign(result, key, progress)
    return result


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
    sign: bool = False,
    key: Path | str | None = None,
) -> RunResult:
    """Run every point of a manifest that has not yet succeeded (all of them with ``force``).

    With ``keep_image``, the image is archived into the store first (see ``repro archive``).
    A point whose earlier driver died while its container ran is adopted, not run again; a
    point another driver runs at the same time is waited for, and its result taken. With
    ``sign`` (or ``sign: true`` in the user's config), each final record gets a statement signed
    with ``key`` (default: the configured key), and the store's log a signed checkpoint.
    """
    sign = _signing(sign, key)
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
    result.finished, result.interrupted, result.upstream = driven.finished, driven.interrupted, driven.upstream
    if sign:
        result.signed = _sign(result, key, progress)
    return result


def _signing(sign: bool, key: Path | str | None) -> bool:
    """Whether to sign (``--sign``, or ``sign: true`` in the config); with a key checked now,
    before any point runs, rather than after hours of them."""
    sign = sign or configured_flag("sign")
    if sign:
        signing_key_id(key)
    return sign


def _sign(result: RunResult, key: Path | str | None, progress: Callable[[Event | str], None] | None) -> AttestResult:
    signed = sign_records(result.store, [record.id for record in result.records], key)
    if progress:
        progress(
            f"signed {signed.created} record(s) with key {signed.key_id[:16]}; the log's checkpoint covers "
            f"{signed.checkpoint.checkpoint.size if signed.checkpoint else 0} record(s)"
        )
    return signed


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
