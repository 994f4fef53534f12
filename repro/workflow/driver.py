"""Hand a plan to Snakemake and see it through: signals, cancellation, the resulting records.

Snakemake runs in a worker thread so that this (main) thread stays free to receive Ctrl-C and
SIGTERM; either cancels the session, which kills the running containers. Their jobs then
write ``interrupted`` records and no new container starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from repro.manifest.load import ManifestFile
from repro.plan import Plan
from repro.store.record import RunRecord
from repro.store.store import Store
from repro.workflow.session import Event, PlanReady, Session, activate, cancel_on_signals

if TYPE_CHECKING:
    from repro.workflow.bridge import Executor

__all__ = ["drive"]


def drive(
    plan: Plan,
    manifest: ManifestFile,
    store: Store,
    *,
    jobs: int,
    progress: Callable[[Event | str], None] | None,
    executor: Executor | None = None,
    verbose: bool = False,
) -> tuple[list[RunRecord], bool]:
    """Run the plan's points; return the records they left and whether it was interrupted."""
    from repro.workflow.bridge import LOCAL, execute_plan

    plan_path = plan.write(store)
    session = Session(progress=progress)
    session.emit(PlanReady(plan.manifest_name, len(plan.points), len(plan.to_run), max(1, jobs)))
    session.remember(plan_path, plan)
    session.remember_manifest(manifest)
    targets = [store.point_marker(p.key) for p in plan.to_run]
    with activate(session), cancel_on_signals(session) as interrupted:
        _in_worker(
            lambda: execute_plan(
                plan_path, store.root, targets, jobs=max(1, jobs), executor=executor or LOCAL, verbose=verbose
            ),
            session,
        )
    return _records_of(store, plan), interrupted.is_set()


def _records_of(store: Store, plan: Plan) -> list[RunRecord]:
    keys = {p.key for p in plan.to_run}
    since = plan.created_at.isoformat()
    rows = [r for r in store.runs() if r.key in keys and r.started_at >= since]
    return [store.load(r.id) for r in sorted(rows, key=lambda r: (r.started_at, r.id))]


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
