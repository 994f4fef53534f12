"""What ``repro run`` (and ``--detach``, ``--dry-run``), ``ps``, ``validate`` and ``lock`` print."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from repro.cli.render import plural, table
from repro.text import display_path, format_duration

if TYPE_CHECKING:
    from repro.api import LockResult, ManifestFile, Plan, RunningPoint, RunResult

__all__ = [
    "detached_json",
    "detached_lines",
    "dry_run_summary",
    "locked",
    "plan_table",
    "run_json",
    "run_summary",
    "running_json",
    "running_table",
    "validated",
]


def plan_table(plan: Plan) -> str:
    rows = []
    waits = "; ".join(w.shown for w in plan.waits_on)
    for point in plan.points:
        if waits:  # keyed once the upstream ran: its outputs' digest is part of the key
            rows.append([point.label, "-", f"waits on {waits}"])
            continue
        action = "run" if plan.force or point.done_by is None else f"skip (succeeded in {point.done_by})"
        rows.append([point.label, point.key[:12], action])
    return table(["POINT", "KEY", "ACTION"], rows)


def dry_run_summary(result: RunResult) -> str:
    plan = result.plan
    todo = len(plan.to_run)
    first = ""
    if plan.waits_on:
        upstream = plan.all_upstream()
        first = f" after {plural(len(upstream), 'upstream point')} ({', '.join(w.shown for w in plan.waits_on)})"
    return (
        f"repro: {plan.manifest_name}: {len(plan.points)} points, {todo} would run{first}, "
        f"{len(plan.points) - todo} already succeeded (store {result.store.root}); nothing was started"
    )


def run_json(result: RunResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "plan": plan.id,
        "points": len(plan.points),
        "skipped": result.skipped,
        "upstream": [
            {"id": e.record.id, "manifest": e.record.manifest.name, "status": e.record.status.value}
            for e in result.upstream
        ],
        "runs": [
            {
                "id": e.record.id,
                "label": e.record.point.label,
                "status": e.record.status.value,
                "key": e.record.point.key,
                "waited": e.how == "waited",
                "adopted": e.how == "adopted",
            }
            for e in result.finished
        ],
        "interrupted": result.interrupted,
    }


def run_summary(result: RunResult) -> str:
    plan = result.plan
    succeeded = len(result.records) - len(result.failed) - len(result.stopped)
    summary = f"repro: {plan.manifest_name}: {plural(len(plan.points), 'point')}: {succeeded} succeeded"
    if result.failed:
        summary += f", {len(result.failed)} failed"
    if result.stopped:
        summary += f", {len(result.stopped)} interrupted"
    if result.skipped:
        summary += f", {result.skipped} already succeeded (--force runs them again)"
    if result.missing:
        summary += f", {result.missing} not started"
    if result.upstream_failed:
        failed = ", ".join(f"{r.manifest.name} {r.status.value} (run {r.id})" for r in result.upstream_failed)
        summary += f" (they wait on an upstream point: {failed})"
    elif result.upstream:
        summary += f", after {plural(len(result.upstream), 'upstream point')} ran"
    return f"{summary}; store {display_path(result.store.root)}"


def detached_json(result: RunResult, pid: int) -> dict[str, Any]:
    return {
        "plan": result.plan.id,
        "driver": {"pid": pid, "log": str(result.driver_log)},
        "queued": [{"label": p.label, "key": p.key} for p in result.plan.to_run],
    }


def detached_lines(result: RunResult, pid: int) -> Iterator[str]:
    plan = result.plan
    yield (
        f"repro: {plan.manifest_name}: {plural(len(plan.to_run), 'point')} queued for a background driver "
        f"(pid {pid}), plan {plan.id}"
    )
    for point in plan.to_run:
        yield f"  queued  {point.label}  {point.key[:12]}"
    yield "repro: follow them with: repro ps; repro logs -f RUN (run ids appear in repro ps)"
    yield f"repro: the driver's own output: {display_path(result.driver_log)}"


def running_json(point: RunningPoint) -> dict[str, Any]:
    record = point.record
    driver = record.driver
    return {
        "id": record.id,
        "key": record.point.key,
        "point": record.point.label,
        "manifest": record.manifest.name,
        "status": point.state,
        "started_at": record.started_at.astimezone(UTC).isoformat(),
        "elapsed_seconds": round(point.elapsed_seconds, 3),
        "container": record.container.id,
        "driver": {"host": driver.host, "pid": driver.pid} if driver else None,
    }


def running_table(points: Sequence[RunningPoint]) -> str:
    rows = []
    for point in points:
        record = point.record
        started = record.started_at.astimezone()
        rows.append(
            [
                record.id,
                record.point.label,
                point.state,
                f"{started:%Y-%m-%d %H:%M:%S}",
                format_duration(point.elapsed_seconds),
                (record.container.id or "-")[:12],
                f"{record.driver.pid}@{record.driver.host}" if record.driver else "-",
            ]
        )
    return table(["RUN", "POINT", "STATUS", "STARTED", "ELAPSED", "CONTAINER", "DRIVER"], rows)


def validated(manifest: ManifestFile) -> str:
    return f"ok: {display_path(manifest.path)}: {manifest.model.name}, {plural(manifest.point_count, 'point')}"


def locked(result: LockResult, *, check: bool) -> str:
    if result.changed:
        return f"locked {result.path}: image {result.before} → {result.pin}"
    if check and not result.pinned_before:
        return f"unpinned {result.path}: image {result.before} (pin it: repro lock {result.path})"
    return f"ok: {result.path}: image already pinned"
