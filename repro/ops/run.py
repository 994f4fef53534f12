"""``repro run``: plan a manifest's points and run those not yet succeeded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.manifest.load import load_manifest
from repro.manifest.points import parse_sets
from repro.plan import Plan, build_plan, find_image
from repro.runner.engine import connect
from repro.runner.transfer import export_image
from repro.store.images import ImageArchive
from repro.store.record import RunRecord, Status
from repro.store.store import Store
from repro.workflow.bridge import Executor
from repro.workflow.driver import drive
from repro.workflow.session import Event

__all__ = ["RunResult", "plan_run", "run"]


@dataclass
class RunResult:
    """What ``repro run`` did (or, for a dry run, would do): the plan, the records of the runs it
    made, and whether it was cut short."""

    plan: Plan
    store: Store
    records: list[RunRecord] = field(default_factory=list)
    interrupted: bool = False

    @property
    def skipped(self) -> int:
        return len(self.plan.points) - len(self.plan.to_run)

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status is not Status.SUCCEEDED]

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
) -> RunResult:
    """Plan without running: points, keys, and which ones already succeeded (no engine needed)."""
    manifest = load_manifest(manifest_path)
    chosen = Store.locate(store, manifest.folder)
    plan = build_plan(manifest, chosen, parse_sets(sets), force=force, dry_run=True)
    return RunResult(plan=plan, store=chosen)


def run(
    manifest_path: Path | str,
    *,
    store: Path | str | None = None,
    sets: Sequence[str] = (),
    jobs: int = 1,
    force: bool = False,
    keep_image: bool = False,
    executor: Executor | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> RunResult:
    """Run every point of a manifest that has not yet succeeded (all of them with ``force``).

    With ``keep_image``, the image is archived into the store first (see ``repro archive``).
    """
    manifest = load_manifest(manifest_path)
    settings = parse_sets(sets)
    chosen = Store.locate(store, manifest.folder)
    plan = build_plan(manifest, chosen, settings, force=force, progress=progress)
    result = RunResult(plan=plan, store=chosen)
    if not plan.to_run:
        return result
    engine = connect()
    archive = ImageArchive(chosen.layout)
    try:
        engine.check_network(manifest.model.network)
        image = find_image(manifest, engine, archive, progress)
        if keep_image:
            export_image(engine, archive, image.id, progress)
    finally:
        engine.close()
    if archive.get(image.id) is not None:
        image = image.model_copy(update={"archive": str(archive.entry_path(image.id).relative_to(chosen.root))})
    plan = plan.pinned_to(image, engine)
    result.plan = plan
    result.records, result.interrupted = drive(
        plan, manifest, chosen, jobs=jobs, progress=progress, executor=executor, verbose=verbose
    )
    return result
