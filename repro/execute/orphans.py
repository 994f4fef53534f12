"""Runs whose driver died: told apart from live ones, finished from what the engine kept, or
adopted and seen through.

A record in ``running`` state names its driver (:class:`DriverFacts`) and, once it exists, its
container; every container carries its run's id as a label. When the driver is gone
(``kill -9``, the OOM killer, a crashed login node), the record would say ``running`` forever.
Any later command reconciles such records from the engine, and only records whose driver ran
on this machine (a login node never judges a compute node's points):

- the container still runs: the run is *orphaned*; ``repro run`` adopts it (:func:`adopt`):
  it waits for the container, completes the logs from the engine's own copy, hashes the
  outputs and writes the final record (``adopted: true``) — compute hours are not redone;
- the container has exited: the run is finished the same way, from its real exit status;
- the container is gone (or never started): the run is finished ``interrupted``, saying why.

Whoever finishes a run holds its point's lease meanwhile, so no two commands finish one run.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from repro.errors import EngineError, StoreError, UsageError
from repro.execute.finish import finish_run
from repro.manifest.model import FailOn
from repro.provenance.process import DriverFacts
from repro.runner.container import Cancellation, ContainerOutcome, adopt_container, remove_container, run_containers
from repro.runner.engine import Engine, connect
from repro.store.leases import PointLease
from repro.store.names import is_run_id
from repro.store.record import RunRecord, Status
from repro.store.store import Store

__all__ = ["Reconciled", "adopt", "driver_state", "last_run", "orphan_of", "reconcile", "running_records"]

_log = logging.getLogger(__name__)

DriverState = Literal["alive", "dead", "unknown"]


def driver_state(record: RunRecord) -> DriverState:
    """Whether the driver of a running record still runs (``unknown``: another machine's)."""
    driver = record.driver
    if driver is None:  # schema 1: no driver named; judge only this host's records, by their containers
        return "dead" if record.host.hostname == socket.gethostname() else "unknown"
    if not driver.on_this_machine:
        return "unknown"
    return "alive" if driver.alive() else "dead"


def running_records(store: Store, key: str | None = None) -> list[RunRecord]:
    """The records that say ``running`` (of the point ``key``, if given), as on disk."""
    if not store.exists:
        return []
    records = []
    for row in store.index.running(key):
        try:
            record = store.load(row.id)
        except (StoreError, EngineError):
            continue
        if record.status is Status.RUNNING:
            records.append(record)
    return records


@dataclass
class Reconciled:
    finished: list[RunRecord] = field(default_factory=list)
    """Records of dead drivers now final (from the container's exit, or ``interrupted``)."""
    orphaned: list[RunRecord] = field(default_factory=list)
    """Records of dead drivers whose container still runs (``repro run`` adopts them)."""


def reconcile(store: Store) -> Reconciled:
    """Finish the runs of dead drivers whose containers ended; find those still running.

    Costs one index query when no record says ``running``. Never fails for want of an engine:
    an unreachable engine leaves the records as they are, for a later command.
    """
    result = Reconciled()
    dead = [r for r in running_records(store) if driver_state(r) == "dead"]
    by_runtime: dict[str, list[RunRecord]] = {}
    for record in dead:
        by_runtime.setdefault(record.versions.runtime or "docker", []).append(record)
    for runtime, records in by_runtime.items():
        try:
            engine = connect(runtime=runtime)
        except EngineError as exc:
            _log.debug("not reconciling %d run(s): %s", len(records), exc)
            continue
        try:
            for record in records:
                _reconcile_one(store, engine, record, result)
        finally:
            engine.close()
    return result


def _reconcile_one(store: Store, engine: Engine, record: RunRecord, result: Reconciled) -> None:
    try:
        containers = run_containers(engine, record.id)
    except EngineError as exc:
        _log.debug("not reconciling %s: %s", record.id, exc)
        return
    if any(c.get("State") == "running" for c in containers):
        if record.driver is not None:  # a schema-1 record's live container may have a live driver
            result.orphaned.append(record)
        return
    lease = store.lease(record.point.key)
    if not lease.try_acquire({"finishing": record.id, **DriverFacts.current().model_dump()}):
        return  # someone holds the point: they see to this run
    if lease.previous and "run" in lease.previous:
        lease.note(run=lease.previous["run"])  # the point's last run stays named for the next holder
    try:
        current = store.load(record.id)
        if current.status is Status.RUNNING:
            result.finished.append(_finish_stopped(store, engine, current, containers, Cancellation()))
    except (EngineError, StoreError) as exc:
        _log.warning("could not finish run %s of a dead driver: %s", record.id, exc)
    finally:
        lease.release()


def last_run(store: Store, lease: PointLease, key: str) -> RunRecord | None:
    """The run the last holder of ``lease`` (held now) started or finished, as on disk — if it
    is a run of the point ``key``: a lease is a file anyone who shares the store may write, so
    the run it names is checked (a valid run id, a valid record, of this point) before it is
    taken as the point's result or adopted."""
    run_id = (lease.previous or {}).get("run")
    if not is_run_id(run_id):
        return None
    try:
        record = store.load(run_id)
    except (UsageError, StoreError):
        return None
    return record if record.point.key == key else None


def orphan_of(record: RunRecord | None) -> RunRecord | None:
    """``record`` (a point's last run), if it is still running and its driver died on this machine.

    The caller holds the point's lease, so that driver no longer holds it; it is dead, or on
    another machine (never judged from here)."""
    if record is not None and record.status is Status.RUNNING and record.driver is not None:
        return record if driver_state(record) == "dead" else None
    return None


def adopt(store: Store, orphan: RunRecord, engine: Engine, cancellation: Cancellation) -> RunRecord:
    """See the orphaned run through as its driver (the caller holds the point's lease): wait for
    its container, or finish it from what the engine kept; return the final record."""
    containers = run_containers(engine, orphan.id)
    running = [c for c in containers if c.get("State") == "running"]
    if not running:
        return _finish_stopped(store, engine, orphan, containers, cancellation)
    record = orphan.model_copy(update={"driver": DriverFacts.current(), "adopted": True})
    store.write_record(record)  # the run is driven again: `repro ps` says running, not orphaned
    timeout = record.container.resources.timeout_seconds
    remaining = None if timeout is None else timeout - _elapsed(record)
    folder = store.run_folder(record.id)
    outcome = adopt_container(engine, str(running[0]["Id"]), folder.stdout, folder.stderr, remaining, cancellation)
    return _finish(store, record, outcome, None)


def _finish_stopped(
    store: Store, engine: Engine, record: RunRecord, containers: list[dict[str, Any]], cancellation: Cancellation
) -> RunRecord:
    """Finish a dead driver's run whose container has exited, never started, or is gone."""
    folder = store.run_folder(record.id)
    exited = [c for c in containers if c.get("State") in ("exited", "dead")]
    if exited:
        outcome = adopt_container(engine, str(exited[0]["Id"]), folder.stdout, folder.stderr, None, cancellation)
        return _finish(store, record, outcome, None)
    for container in containers:  # created, never started: nothing ran
        remove_container(engine, str(container["Id"]))
    driver = f"its driver ({record.driver})" if record.driver else "its driver"
    reason = (
        f"{driver} died before its container started"
        if containers
        else f"{driver} died and its container is gone: the run did not finish"
    )
    return _finish(store, record, None, reason, interrupted=True)


def _finish(
    store: Store, record: RunRecord, outcome: ContainerOutcome | None, error: str | None, *, interrupted: bool = False
) -> RunRecord:
    rules = [FailOn.model_validate(rule) for rule in record.manifest.resolved.get("fail_on") or []]
    return finish_run(
        store,
        record,
        store.run_folder(record.id),
        outcome,
        error,
        _elapsed(record),
        interrupted=interrupted,
        fail_on=rules,
        adopted=True,
    )


def _elapsed(record: RunRecord) -> float:
    return max(0.0, (datetime.now(UTC) - record.started_at).total_seconds())
