"""Hand a plan to Snakemake and see it through: signals, cancellation, the resulting records.

Snakemake runs in a worker thread so that this (main) thread stays free to receive Ctrl-C and
SIGTERM; either cancels the session, which kills the running containers. Their jobs then
write ``interrupted`` records and no new container starts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from repro.errors import StoreError, UsageError
from repro.manifest.load import ManifestFile
from repro.plan import Plan
from repro.store.leases import plan_in_use
from repro.store.names import is_run_id
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
    """Run the plan's points; return what became of them and whether it was interrupted."""
    from repro.workflow.bridge import LOCAL, execute_plan

    plan_path = plan.write(store)
    session = Session(progress=progress)
    session.emit(PlanReady(plan.manifest_name, len(plan.points), len(plan.to_run), max(1, jobs)))
    session.remember(plan_path, plan)
    session.remember_manifest(manifest)
    targets = [store.point_marker(p.key) for p in plan.to_run]
    with plan_in_use(plan_path), activate(session), cancel_on_signals(session) as interrupted:
        _in_worker(
            lambda: execute_plan(
                plan_path, store.root, targets, jobs=max(1, jobs), executor=executor or LOCAL, verbose=verbose
            ),
            session,
        )
    return Driven(_finished(store, plan, session), interrupted.is_set())


@dataclass(frozen=True)
class Driven:
    """What became of a plan's points: how each that ended did, and whether it was cut short."""

    finished: list[PointFinished]
    interrupted: bool

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
        holder = store.lease(planned.key).holder() or {}
        run_id = holder.get("run")
        if not is_run_id(run_id):
            continue
        with contextlib.suppress(UsageError, StoreError):
            record = store.load(run_id)
            # A lease is anyone's to write in a shared store: only a run of this point counts.
            if record.point.key == planned.key and record.started_at >= since:
                found[planned.key] = PointFinished(record)
    return sorted(found.values(), key=lambda e: (e.record.started_at, e.record.id))


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
