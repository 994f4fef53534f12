"""``repro reindex``: rebuild the store's index from its records (the records are the truth)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import ReproError
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.index import Value
    from repro.store.record import RunRecord

__all__ = ["ReindexResult", "reindex"]


@dataclass(frozen=True)
class ReindexResult:
    store: Store
    runs: int
    """How many runs the rebuilt index holds."""
    metrics_parsed: int = 0
    """Runs whose metrics were parsed from their outputs (every ended run that names a metrics
    file whose recorded content is there)."""


def reindex(*, store: Path | str | None = None, skipped: Callable[[str], None] | None = None) -> ReindexResult:
    """Rebuild the store's index from its valid records (each invalid one is skipped, with a
    line for ``skipped``) and what their outputs hold: the metrics of every ended run are parsed
    again from its recorded metrics file (``metrics.json`` is derived data, rewritten here: one
    edited, pulled or left by an older repro is replaced by what the outputs say)."""
    from repro.execute.finish import write_parsed_metrics

    chosen = Store.locate(store)
    chosen.require()
    parsed = 0

    def metrics(record: RunRecord) -> Mapping[str, Value] | None:
        nonlocal parsed
        spec = record.manifest.resolved.get("metrics")
        if not record.status.final or not isinstance(spec, dict) or record.outputs is None:
            return None
        try:
            folder = chosen.real_run_folder(record.id)
        except ReproError:
            return None  # not a run's folder: fsck names it; no metrics from it
        values = write_parsed_metrics(folder, record)
        parsed += values is not None
        return values

    # One pass, one record at a time: a store may hold a million runs.
    runs = chosen.rebuild_index(metrics, skipped)
    return ReindexResult(store=chosen, runs=runs, metrics_parsed=parsed)
