"""The jobs of the rules in ``workflows/repro.smk``: from a Snakemake job to a point.

The Snakefile stays a thin, readable shell around these functions, so the logic is typed,
tested and shared by every way in: ``repro run``, a user's own Snakefile, a cluster job.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import repro
from repro.errors import ReproError, SetupError, UsageError
from repro.execute.orphans import adopt, last_run, orphan_of
from repro.execute.point import execute_point
from repro.manifest.load import ManifestFile
from repro.plan import Plan, PlannedPoint
from repro.provenance.process import DriverFacts
from repro.runner.engine import connect
from repro.store.layout import RunFolder
from repro.store.leases import PointLease, plan_in_use
from repro.store.names import is_run_id
from repro.store.record import Status
from repro.store.store import Store
from repro.workflow.session import (
    PointAdopting,
    PointFinished,
    PointStarted,
    PointWaiting,
    Session,
    cancel_on_signals,
    current,
)

__all__ = ["KEY_PATTERN", "PointFailed", "RuleContext", "context", "rules_file", "run_job"]

KEY_PATTERN = "[0-9a-f]{64}"


class PointFailed(Exception):
    """Raised in a job so Snakemake counts the point as failed (its record says why)."""


def rules_file() -> Path:
    """``repro.smk``: inside the installed package, or at the top of a source checkout."""
    package = Path(repro.__file__).parent
    for candidate in (package / "workflows" / "repro.smk", package.parent / "workflows" / "repro.smk"):
        if candidate.is_file():
            return candidate
    raise SetupError(f"repro's Snakemake rules are missing from {package}; reinstall repro")


@dataclass(frozen=True)
class RuleContext:
    """What the rules need from the workflow's config: the plans whose points they run."""

    plans: tuple[Path, ...]
    store: Store
    threads: int
    resources: dict[str, int]
    """Snakemake resources from the manifests: ``mem_mb`` and ``runtime`` (minutes)."""
    waits_on: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """The job keys of points that wait on upstream points, and the markers they wait on."""

    @property
    def marker_pattern(self) -> str:
        return self.store.layout.point_marker_pattern

    def upstream_markers(self, wildcards: Any) -> list[str]:
        """The ``repro_point`` rule's input: for a point that waits on upstream points (see
        :mod:`repro.lineage`), their markers; for any other, nothing."""
        return list(self.waits_on.get(str(wildcards.key), ()))

    def lookup(self, key: str) -> tuple[Path, PlannedPoint]:
        """The plan and point of the job ``key``: a point's key, or the lineage key of a point
        that has ``from:`` mounts (the name of its job while its upstream waited)."""
        session = current()
        for path in self.plans:
            for planned in session.plan(path).points:
                if key in (planned.key, planned.after):
                    return path, planned
        raise UsageError(f"no plan of this workflow has a point with key {key}")


def context(config: Mapping[str, Any]) -> RuleContext:
    """Read ``config["repro"]``: ``{"plans": [PATH, …]}`` as ``repro run`` gives it (the plan and
    the plans of the upstream points it waits on) and :func:`repro.workflow.experiment` leaves it
    for a user's Snakefile, or ``{"plan": PATH}``."""
    section = config.get("repro") or {}
    paths: list[Any] = []
    if isinstance(section, Mapping):
        paths = list(section.get("plans") or []) + ([section["plan"]] if section.get("plan") else [])
    if not paths:
        raise UsageError(
            "repro's rules need config repro.plan or repro.plans: call "
            "repro.workflow.experiment(MANIFEST, config) before `include: repro.workflow.rules()`"
        )
    plan_paths = tuple(dict.fromkeys(Path(str(p)).absolute() for p in paths))
    session = current()
    declared = [session.declared(path) for path in plan_paths]  # reads; writes nothing
    stores = {store for store, _ in declared}
    if len(stores) != 1:
        raise UsageError(f"the experiments of one workflow must share a store (found {', '.join(sorted(stores))})")
    manifests = [manifest.model for _, manifest in declared]
    cpus = [m.resources.cpus for m in manifests if m.resources.cpus]
    memory = [m.resources.memory_bytes for m in manifests if m.resources.memory_bytes]
    timeouts = [m.resources.timeout_seconds for m in manifests if m.resources.timeout_seconds]
    resources = {}
    if memory:
        resources["mem_mb"] = math.ceil(max(memory) / 2**20)
    if timeouts:
        resources["runtime"] = math.ceil(max(timeouts) / 60)
    store = Store(Path(stores.pop()), job=True)
    waits_on: dict[str, tuple[str, ...]] = {}
    for path in plan_paths:
        plan = session.declared_plan(path)
        markers = tuple(str(store.point_marker(waiting.key)) for waiting in plan.waits_on)
        for planned in plan.points if markers else ():
            waits_on[planned.key] = markers
    return RuleContext(
        plans=plan_paths,
        store=store,
        threads=max(1, math.ceil(max(cpus))) if cpus else 1,
        resources=resources,
        waits_on=waits_on,
    )


def run_job(ctx: RuleContext, key: str) -> None:
    """The body of the ``repro_point`` rule: execute the point with ``key``."""
    session = current()
    plan_path, planned = ctx.lookup(key)
    plan = session.plan(plan_path)
    manifest = session.manifest(Path(plan.manifest_path))
    if manifest.sha256 != plan.manifest_sha256:
        raise UsageError(f"{manifest.path} changed after the run was planned; run it again")
    session.cancellation.check()
    # In a job process of its own (a user's `snakemake`, a cluster node) this is the main
    # thread, and a SIGTERM from Snakemake or the scheduler must stop the container too.
    with cancel_on_signals(session), plan_in_use(ctx.store.layout.plan(plan.id)):
        if plan.waits_on:  # its upstream points ran (they are this job's input): key it now
            try:
                plan, planned = plan.settled(ctx.store, manifest, planned)
            except ReproError as exc:
                session.note(f"{plan.manifest_name}: point {planned.label} cannot run: {exc}")
                raise PointFailed(str(exc)) from exc
        _run_point(ctx, session, plan, planned, manifest, job=key)


def _run_point(
    ctx: RuleContext, session: Session, plan: Plan, planned: PlannedPoint, manifest: ManifestFile, job: str
) -> None:
    """Run the point once per store: under its lease, after any other driver that runs it (whose
    result is then this one's), adopting the run of a driver that died. ``job``: the key
    Snakemake asked for — the point's lineage key when it waited on upstream points, whose
    marker then names the run too."""
    store = ctx.store
    lease = store.lease(planned.key)
    me = DriverFacts.current()
    holder = {"pid": me.pid, "host": me.host, "plan": plan.id}
    if not lease.try_acquire(holder):
        other = lease.holder() or {}
        session.emit(PointWaiting(planned.label, f"pid {other.get('pid', '?')}@{other.get('host', '?')}"))
        lease.acquire(holder, check=session.cancellation.check)
    try:
        event = _settled_since(store, lease, plan.created_at or session.started, planned)
        if event is None and job != planned.key and not plan.force:
            event = _succeeded_before(store, planned.key)
        if event is None:
            event = _run_or_adopt(store, session, plan, planned, manifest, lease)
    finally:
        lease.release()
    record = event.record
    marker = job if job != planned.key else None
    if marker is not None and record.status is Status.SUCCEEDED:
        store.mark_point(marker, record.id)
    event = dataclasses.replace(event, folder=store.run_folder(record.id).path, job=marker)
    session.emit(event)
    if record.status is not Status.SUCCEEDED:
        raise PointFailed(f"point {planned.label} {record.status.value} (run {record.id})")


def _succeeded_before(store: Store, key: str) -> PointFinished | None:
    """The run that already succeeded for ``key``, a point keyed only now that its upstream ran
    (an upstream that ran anew but made the same outputs leaves its points as they were)."""
    run_id = store.marked_run(key)
    if run_id is None or not is_run_id(run_id):
        return None
    try:
        record = store.load(run_id)
    except ReproError:
        return None
    if record.status is Status.SUCCEEDED and record.point.key == key:
        return PointFinished(record, how="found")
    return None


def _started(lease: PointLease, session: Session, planned: PlannedPoint, folder: RunFolder) -> None:
    lease.note(run=folder.run_id)  # the next holder learns of this run from the lease, not the index
    session.emit(PointStarted(planned.label, folder.run_id, folder.stdout, folder.stderr))


def _settled_since(store: Store, lease: PointLease, since: datetime, planned: PlannedPoint) -> PointFinished | None:
    """The run another driver finished for the point while this plan waited to run it, if any:
    the run the lease's last holder names (jobs never read the index), if it is a run of this
    very point (a lease is a file anyone sharing the store may write: what it names is checked)."""
    record = last_run(store, lease, planned.key)
    if record is not None and record.status.final and record.ended_at and record.ended_at >= since:
        return PointFinished(record, how="waited")
    return None


def _run_or_adopt(
    store: Store, session: Session, plan: Plan, planned: PlannedPoint, manifest: ManifestFile, lease: PointLease
) -> PointFinished:
    engine = connect(plan.engine_host, api_version=plan.engine_api, runtime=plan.engine_runtime)
    try:
        orphan = orphan_of(last_run(store, lease, planned.key))
        if orphan is not None:
            lease.note(run=orphan.id)
            folder = store.run_folder(orphan.id)
            session.emit(PointAdopting(planned.label, orphan.id, folder.stdout, folder.stderr))
            return PointFinished(adopt(store, orphan, engine, session.cancellation), how="adopted")
        record = execute_point(
            store,
            plan,
            manifest,
            planned,
            engine,
            session.cancellation,
            on_start=functools.partial(_started, lease, session, planned),
        )
        return PointFinished(record)
    except ReproError as exc:
        raise PointFailed(str(exc)) from exc
    finally:
        engine.close()
