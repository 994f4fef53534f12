"""What the rules in ``workflows/repro.smk`` call: the bridge from a Snakemake job to a point.

The Snakefile stays a thin, readable shell around these functions, so the logic is typed,
tested and shared by every way in: ``repro run``, a user's own Snakefile, a cluster job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import repro
from repro.errors import ReproError, StoreError
from repro.execute import execute_point
from repro.plan import Plan, PlannedPoint
from repro.runner.engine import connect
from repro.store.record import Status
from repro.store.store import Store
from repro.workflow.session import PointFinished, PointStarted, current

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
    raise StoreError(f"repro's Snakemake rules are missing from {package}; reinstall repro")


@dataclass(frozen=True)
class RuleContext:
    """What the rules need from the workflow's config."""

    plan_path: Path
    store: Store

    @property
    def marker_pattern(self) -> str:
        return str(self.store.root / "points" / "{key}.json")


def context(config: Mapping[str, Any]) -> RuleContext:
    """Read ``config["repro"]`` (``{"plan": PATH}``) as given by ``repro run``."""
    section = config.get("repro") or {}
    plan_path = section.get("plan") if isinstance(section, Mapping) else None
    if not plan_path:
        raise StoreError("repro's rules need config repro.plan (the plan file `repro run` writes)")
    path = Path(str(plan_path)).absolute()
    plan = current().plan(path)
    return RuleContext(plan_path=path, store=Store(Path(plan.store)))


def _planned(plan: Plan, key: str) -> PlannedPoint:
    for planned in plan.points:
        if planned.key == key:
            return planned
    raise StoreError(f"plan {plan.id} has no point with key {key}")


def run_job(ctx: RuleContext, key: str) -> None:
    """The body of the ``repro_point`` rule: execute the point with ``key``."""
    session = current()
    plan = session.plan(ctx.plan_path)
    planned = _planned(plan, key)
    manifest = session.manifest(Path(plan.manifest_path))
    if manifest.sha256 != plan.manifest_sha256:
        raise StoreError(f"{manifest.path} changed after the run was planned; run it again")
    session.cancellation.check()
    engine = connect(plan.engine_host, api_version=plan.engine_api)
    try:
        record = execute_point(
            ctx.store,
            plan,
            manifest,
            planned,
            engine,
            session.cancellation,
            on_start=lambda run_id: session.emit(PointStarted(label=planned.label, run_id=run_id)),
        )
    except ReproError as exc:
        raise PointFailed(str(exc)) from exc
    finally:
        engine.close()
    session.emit(PointFinished(record))
    if record.status is not Status.SUCCEEDED:
        raise PointFailed(f"point {planned.label} {record.status.value} (run {record.id})")
