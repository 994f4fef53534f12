"""``repro log``, ``repro show``, ``repro reindex``: what the store holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.execute.orphans import reconcile
from repro.store.index import IndexRow
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["LogResult", "ReindexResult", "ShowResult", "log", "reindex", "show"]


@dataclass(frozen=True)
class LogResult:
    store: Store
    rows: list[IndexRow]
    """Runs, newest first, as the index knows them."""

    def records(self) -> list[RunRecord]:
        """The full records of the rows, read from disk."""
        return [self.store.load(row.id) for row in self.rows]


@dataclass(frozen=True)
class ShowResult:
    record: RunRecord
    folder: Path


@dataclass(frozen=True)
class ReindexResult:
    store: Store
    runs: int
    """How many runs the rebuilt index holds."""


def log(*, limit: int | None = None, name: str | None = None, store: Path | str | None = None) -> LogResult:
    """The store's runs, newest first (``limit`` of them; only the manifest ``name``'s)."""
    chosen = Store.locate(store)
    if chosen.exists:
        reconcile(chosen)  # a dead driver's run must not be listed as running
    return LogResult(store=chosen, rows=chosen.runs(limit=limit, name=name))


def show(ref: str, *, store: Path | str | None = None) -> ShowResult:
    """One run's record (``ref``: its id or a unique prefix) and its folder."""
    chosen = Store.locate(store)
    chosen.require()
    record = chosen.load(chosen.resolve(ref))
    return ShowResult(record=record, folder=chosen.run_folder(record.id).path)


def reindex(*, store: Path | str | None = None) -> ReindexResult:
    """Rebuild the store's index from its records."""
    chosen = Store.locate(store)
    return ReindexResult(store=chosen, runs=chosen.rebuild_index())
