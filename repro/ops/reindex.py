"""``repro reindex``: rebuild the store's index from its records (the records are the truth)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.store.store import Store

__all__ = ["ReindexResult", "reindex"]


@dataclass(frozen=True)
class ReindexResult:
    store: Store
    runs: int
    """How many runs the rebuilt index holds."""
    metrics_parsed: int = 0
    """Runs whose metrics were parsed anew (recorded by an older repro, or never parsed)."""


def reindex(*, store: Path | str | None = None) -> ReindexResult:
    """Rebuild the store's index from its records, parsing the metrics of runs that have none
    parsed yet (recorded by an older repro)."""
    from repro.execute.finish import write_parsed_metrics

    chosen = Store.locate(store)
    chosen.require()
    parsed = 0
    for record in chosen.records():
        folder = chosen.run_folder(record.id)
        if record.status.final and not folder.metrics.exists() and write_parsed_metrics(folder, record) is not None:
            parsed += 1
    return ReindexResult(store=chosen, runs=chosen.rebuild_index(), metrics_parsed=parsed)
