"""Reading a store without changing a byte of it: what ``repro ui`` sees.

Other commands fold the journal into the index before they read it, and finish the runs of
dead drivers; both write. A :class:`StorePeek` does neither: it opens the index read-only
(SQLite's ``mode=ro``: no journal file, no schema change), and reads the records that pending
journal entries name straight from their folders — they are newer than the index's rows, so
they replace them. A run whose record says ``running`` is shown as its record says, and a dead
driver's run as orphaned, without asking the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from repro.errors import StoreError, UsageError
from repro.store.index import Index, IndexRow, Value
from repro.store.names import is_run_id
from repro.store.status import Status
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["StorePeek"]

_log = logging.getLogger(__name__)


class StorePeek:
    """A read-only look at ``store``: its index as it is, and the journal not yet folded in."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.layout = store.layout
        self.index = Index(store.layout.index, readonly=True)

    def index_problem(self) -> str | None:
        """Why the index cannot be read (``missing``, …), or None: without it only the runs of
        pending journal entries are seen (``repro reindex`` would rebuild it; a peek never does)."""
        return self.index.readable()

    def journal_records(self) -> dict[str, RunRecord]:
        """The records that pending journal entries name, as on disk (unreadable ones left out)."""
        found: dict[str, RunRecord] = {}
        for run_id in sorted({entry.run_id for entry in self.store.journal.pending() if entry.run_id is not None}):
            if not is_run_id(run_id):
                continue
            try:
                found[run_id] = self.store.load(run_id)
            except (UsageError, StoreError) as exc:
                _log.debug("not showing %s: %s", run_id, exc)
        return found

    def rows(self) -> tuple[list[IndexRow], dict[str, RunRecord]]:
        """Every run, newest first, as the index and the journal tell them; and the records read
        for the journal's runs."""
        indexed = self.index.rows() if self.index_problem() is None else []
        fresh = self.journal_records()
        rows = [row for row in indexed if row.id not in fresh]
        rows += [IndexRow.of(record) for record in fresh.values()]
        rows.sort(key=lambda row: row.id, reverse=True)  # run ids sort by start time
        return rows, fresh

    def metrics(self, rows: Sequence[IndexRow], fresh: dict[str, RunRecord]) -> dict[str, dict[str, Value]]:
        """The parsed metrics of each row: from the index, or from ``metrics.json`` for runs the
        index has not seen."""
        indexed = [row.id for row in rows if row.id not in fresh]
        found = self.index.values(indexed, "metric") if indexed and self.index_problem() is None else {}
        for run_id in fresh:
            found[run_id] = self.store.metrics_of(fresh[run_id]) or {}
        return found

    def running(self) -> list[RunRecord]:
        """The records that say ``running`` now, oldest first: those the index or the journal
        names as running, read again from disk (one that has ended since is left out)."""
        candidates = {row.id for row in self.index.running()} if self.index_problem() is None else set()
        candidates |= {entry.run_id for entry in self.store.journal.pending() if is_run_id(entry.run_id)}
        found = []
        for run_id in sorted(candidates):
            try:
                record = self.store.load(run_id)
            except (UsageError, StoreError):
                continue
            if record.status is Status.RUNNING:
                found.append(record)
        return found

    def knows(self, run_id: str) -> bool:
        """Whether ``run_id`` is a run the index or the journal names (checked before any path
        is built from it)."""
        if not is_run_id(run_id):
            return False
        if any(entry.run_id == run_id for entry in self.store.journal.pending()):
            return True
        return self.index_problem() is None and bool(self.index.rows(ids=[run_id]))

    def load(self, run_id: str) -> RunRecord:
        """The record of a run this peek knows (:meth:`knows`)."""
        if not self.knows(run_id):
            raise UsageError(f"no run {run_id} in {self.store.root}")
        return self.store.load(run_id)
