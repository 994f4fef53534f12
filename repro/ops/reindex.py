"""``repro reindex``: rebuild the store's index from its records (the records are the truth)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
    """Runs whose metrics were parsed anew (recorded by an older repro, or never parsed)."""


def reindex(*, store: Path | str | None = None) -> ReindexResult:
    """Rebuild the store's index from its records, parsing the metrics of runs that have none
    parsed yet (recorded by an older repro) — in one pass over the records, one at a time."""
    from repro.execute.finish import write_parsed_metrics

    chosen = Store.locate(store)
    chosen.require()
    parsed = 0

    def metrics(record: RunRecord) -> dict[str, Value] | None:
        nonlocal parsed
        folder = chosen.run_folder(record.id)
        if record.status.final and not folder.metrics.exists():
            values = write_parsed_metrics(folder, record)
            parsed += values is not None
            return values
        return chosen.metrics_of(record.id)

    return ReindexResult(store=chosen, runs=chosen.rebuild_index(metrics), metrics_parsed=parsed)
