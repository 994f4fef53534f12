"""``repro ps``: the store's running points, and those whose driver died (orphaned)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from repro.execute.orphans import driver_state, reconcile, running_records
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["PsResult", "RunningPoint", "ps"]


@dataclass(frozen=True)
class RunningPoint:
    record: RunRecord
    state: Literal["running", "orphaned"]
    """``orphaned``: its driver is gone but its container runs (``repro run`` adopts it)."""

    @property
    def elapsed_seconds(self) -> float:
        return max(0.0, (datetime.now(UTC) - self.record.started_at).total_seconds())


@dataclass
class PsResult:
    store: Store
    points: list[RunningPoint] = field(default_factory=list)
    finished: list[RunRecord] = field(default_factory=list)
    """Runs of dead drivers that this command found ended, and finished."""


def ps(*, store: Path | str | None = None) -> PsResult:
    """The runs whose records say ``running``, after finishing those whose driver died and
    whose container ended."""
    chosen = Store.locate(store)
    result = PsResult(store=chosen)
    if not chosen.exists:
        return result
    result.finished = reconcile(chosen).finished
    for record in running_records(chosen):
        state: Literal["running", "orphaned"] = "orphaned" if driver_state(record) == "dead" else "running"
        result.points.append(RunningPoint(record, state))
    return result
