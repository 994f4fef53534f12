"""Hand a plan to Snakemake and see it through: signals, cancellation, the resulting records.

Snakemake runs in a worker thread so that this (main) thread stays free to receive Ctrl-C and
SIGTERM; either cancels the session, which kills the running containers. Their jobs then
write ``interrupted`` records and no new container starts.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import StoreError, UsageError
from repro.manifest.load import ManifestFile
from repro.plan import Plan, PlannedPoint, load_plan
from repro.store.leases import plan_in_use
from repro.store.names import is_plan_id, is_run_id
from repro.store.record import RunRecord
from repro.store.store import Store
from repro.workflow.session import Event, PlanReady, PointFinished, Session, activate, cancel_on_signals

if TYPE_CHECKING:
    from repro.workflow.bridge import Executor

__all__ = ["Driven", "drive"]


def drive(
    plan: Plan,
    manifest: ManifestFile,
    store: Store,
    *,
    jobs: int,
    progress: Callable[[Event | str], None] | None,
    executor: Executor | None = None,
    verbose: bool = False,
) -> Driven:
    """Run the plan's points (after the upstream points they wait on, whose plans ``waits_on``
    names); return what became of them and whether it was interrupted."""
    from repro.workflow.bridge import LOCAL, execute_plan

    plan_path = plan.write(store)
    upstream = _upstream_plans(plan, store)

    def log_then_report(event: Event | str) -> None:
        # The driver makes its points' records visible: each enters the store's log as it ends.
        if isinstance(event, PointFinished) and event.how != "waited":
            store.log_records([event.record])
        if progress is not None:
            progress(event)

    session = Session(progress=log_then_report)
    shown = tuple(
        f"{Path(other.manifest_path).name} (point {other.points[0].label}, key {other.points[0].key[:12]})"
        for _, other in upstream
    )
    session.emit(PlanReady(plan.manifest_name, len(plan.points), len(plan.to_run), max(1, jobs), shown))
    session.remember(plan_path, plan)
    session.remember_manifest(manifest)
    for path, other in upstream:
        session.remember(path, other)
    targets = [store.point_marker(p.key) for p in plan.to_run]
    paths = [plan_path, *(path for path, _ in upstream)]
    with contextlib.ExitStack() as using:
        for path in paths:
            using.enter_context(plan_in_use(path))
        using.enter_context(activate(session))
        interrupted = using.enter_context(cancel_on_signals(session))
        _in_worker(
            lambda: execute_plan(
                paths, store.root, targets, jobs=max(1, jobs), executor=executor or LOCAL, verbose=verbose
            ),
            session,
        )
    finished = _finished(store, plan, session)
    upstream_finished = [event for _, other in upstream for event in _finished(store, other, session)]
    # Those of jobs in other processes (a cluster) enter the log too.
    store.log_records(event.record for event in [*upstream_finished, *finished])
    return Driven(finished, interrupted.is_set(), upstream_finished)


def _upstream_plans(plan: Plan, store: Store) -> list[tuple[Path, Plan]]:
    """The plans of the upstream points ``plan`` waits on (and theirs), as written beside it
    (pinned to their images: see :func:`repro.ops.run.prepare_run`)."""
    found: dict[str, tuple[Path, Plan]] = {}
    pending = list(plan.waits_on)
    while pending:
        waiting = pending.pop()
        if waiting.plan is None or waiting.plan in found:
            continue
        if not is_plan_id(waiting.plan):
            raise StoreError(f"plan {plan.id} names an upstream plan {waiting.plan!r} that is not a plan id")
        path = store.layout.plan(waiting.plan)
        other = load_plan(path, waiting.plan)  # bound to its content, as this plan names it
        found[waiting.plan] = (path, other)
        pending += other.waits_on
    return list(found.values())


@dataclass(frozen=True)
class Driven:
    """What became of a plan's points: how each that ended did, and whether it was cut short."""

    finished: list[PointFinished]
    interrupted: bool
    upstream: list[PointFinished] = field(default_factory=list)
    """How the upstream points the plan waited on ended (those that ran)."""

    @property
    def records(self) -> list[RunRecord]:
        return [event.record for event in self.finished]


def _finished(store: Store, plan: Plan, session: Session) -> list[PointFinished]:
    """Each point's ending as its job reported it; for jobs in other processes (a cluster), the
    run each point's lease names, if it started since the plan was made — read from files, so
    that a driver never writes the index either (the next command folds the journal in)."""
    found = dict(session.finished)
    since = plan.created_at or session.started
    for planned in plan.to_run:
        if planned.key in found:
            continue
        # A point that waited on its upstream was keyed in its job: its lineage key's marker
        # names its run (checked to be a run of this manifest's point of that label); any other's
        # lease does — a lease is anyone's to write in a shared store: only a run of this point counts.
        if plan.waits_on:
            of_point = functools.partial(_is_point_of, plan, planned)
            run_id = store.marked_run(planned.key, of=of_point)
        else:
            run_id = (store.lease(planned.key).holder() or {}).get("run")
            of_point = functools.partial(_has_key, planned.key)
        if not is_run_id(run_id):
            continue
        with contextlib.suppress(UsageError, StoreError):
            record = store.load(run_id)
            if of_point(record) and record.started_at >= since:
                found[planned.key] = PointFinished(record)
    mine = {found[p.key].record.id: found[p.key] for p in plan.to_run if p.key in found}
    return sorted(mine.values(), key=lambda e: (e.record.started_at, e.record.id))


def _has_key(key: str, record: RunRecord) -> bool:
    return record.point.key == key


def _is_point_of(plan: Plan, planned: PlannedPoint, record: RunRecord) -> bool:
    """Whether ``record`` is a run of ``planned``, a point keyed in its job (its upstream ran)."""
    return record.point.key == planned.key or (
        record.manifest.path == plan.manifest_path and record.point.label == planned.label
    )


def _in_worker(work: Callable[[], object], session: Session) -> None:
    """Run ``work`` in a thread, keeping this (main) thread responsive to signals."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:
            failure.append(exc)
            session.cancellation.cancel("stopped by an error")

    worker = threading.Thread(target=target, name="repro-snakemake", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(timeout=0.2)
    if failure:
        raise failure[0]
