"""``repro reindex``: rebuild the store's index from its records (the records are the truth)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from repro.errors import ReproError
from repro.store.index import Value
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["ReindexResult", "reindex"]


@dataclass(frozen=True)
class ReindexResult:
    store: Store
    runs: int
    """How many runs the rebuilt index holds."""
    metrics_parsed: int = 0
    """Runs whose metrics were parsed anew (recorded by an older repro, or never parsed)."""


def reindex(*, store: Path | str | None = None, skipped: Callable[[str], None] | None = None) -> ReindexResult:
    """Rebuild the store's index from its valid records (each invalid one is skipped, with a
    line for ``skipped``), parsing again the metrics of runs whose ``metrics.json`` is missing or
    not bound to their recorded outputs (recorded by an older repro, edited, or pulled)."""
    from repro.execute.finish import write_parsed_metrics

    chosen = Store.locate(store)
    chosen.require()
    parsed = 0
    derived: dict[str, dict[str, Value] | None] = {}
    for record in chosen.records(skipped):
        if not record.status.final or chosen.metrics_of(record) is not None:
            continue
        try:
            folder = chosen.real_run_folder(record.id)
        except ReproError:
            continue  # fsck names it
        values = write_parsed_metrics(folder, record)
        if values is not None:
            parsed += 1
            derived[record.id] = values

    def metrics(record: RunRecord) -> Mapping[str, Value] | None:
        return derived[record.id] if record.id in derived else chosen.metrics_of(record)

    runs = chosen.rebuild_index(metrics, skipped)
    return ReindexResult(store=chosen, runs=runs, metrics_parsed=parsed)
