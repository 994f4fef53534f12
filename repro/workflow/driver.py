"""Hand a plan to Snakemake and see it through: signals, cancellation, the resulting records.

Snakemake runs in a worker thread so that this (main) thread stays free to receive Ctrl-C and
SIGTERM; either cancels the session, which kills the running containers. Their jobs then
write ``interrupted`` records and no new container starts.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import StoreError, UsageError
from repro.manifest.load import ManifestFile
from repro.plan import Plan, load_plan
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
    """Run the plan's points (after the upstream points they wait on, whose plans ``waits_on``
    names); return what became of them and whether it was interrupted."""
    from repro.workflow.bridge import LOCAL, execute_plan

    plan_path = plan.write(store)
    upstream = _upstream_plans(plan, store)
    session = Session(progress=progress)
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
    return Driven(
        _finished(store, plan, session),
        interrupted.is_set(),
        [event for _, other in upstream for event in _finished(store, other, session)],
    )


_PLAN_ID = re.compile(r"[0-9a-z][0-9a-z-]{0,63}")


def _upstream_plans(plan: Plan, store: Store) -> list[tuple[Path, Plan]]:
    """The plans of the upstream points ``plan`` waits on (and theirs), as written beside it
    (pinned to their images: see :func:`repro.ops.run.prepare_run`)."""
    found: dict[str, tuple[Path, Plan]] = {}
    pending = list(plan.waits_on)
    while pending:
        waiting = pending.pop()
        if waiting.plan is None or waiting.plan in found:
            continue
        if not _PLAN_ID.fullmatch(waiting.plan):
            raise StoreError(f"plan {plan.id} names an upstream plan {waiting.plan!r} that is not a plan id")
        path = store.layout.plan(waiting.plan)
        other = load_plan(path)
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
    for planned in plan.to_run:
        if planned.key in found:
            continue
        # A point that waited on its upstream was keyed in its job: its lineage key's marker
        # names its run; any other's lease does.
        holder = {"run": store.marked_run(planned.key)} if plan.waits_on else store.lease(planned.key).holder() or {}
        run_id = holder.get("run")
        if not isinstance(run_id, str) or not is_run_id(run_id):
            continue
        with contextlib.suppress(UsageError, StoreError):
            record = store.load(run_id)
            if record.started_at >= plan.created_at:
                found[planned.key] = PointFinished(record)
    mine = {found[p.key].record.id: found[p.key] for p in plan.to_run if p.key in found}
    return sorted(mine.values(), key=lambda e: (e.record.started_at, e.record.id))


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
