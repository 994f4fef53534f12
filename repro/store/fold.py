"""Folding the journal into the index (see :mod:`repro.store.journal` for why jobs leave entries
instead of writing the index): the records written since the index last saw them — by jobs
anywhere, or by ``repro push`` — are read (the records are the truth) and written into the
index in one transaction; then exactly the entries read are removed.
"""

from __future__ import annotations

import logging

from repro.errors import StoreError, UsageError
from repro.store.index import Index, IndexEntry
from repro.store.runs import RunFiles
from repro.store.status import Status

__all__ = ["fold_journal"]

_log = logging.getLogger(__name__)


def fold_journal(runs: RunFiles, index: Index) -> int:
    """Fold ``runs``' journal into ``index``; return how many runs it indexed. Succeeded runs
    also get their point's marker if it names an older run (a pushed or pulled run arrives
    without one). Never fails a command: an index that cannot be written now keeps the entries
    for the next one."""
    entries = runs.journal.pending()
    if not entries:
        return 0
    rows: list[IndexEntry] = []
    for run_id in sorted({entry.run_id for entry in entries}):
        try:
            record = runs.load(run_id)
        except (UsageError, StoreError) as exc:  # gone, or corrupt (`repro fsck` says which)
            _log.debug("not indexing %s: %s", run_id, exc)
            continue
        # Only what the index keeps of the record is kept: thousands of validated records held
        # at once make every pass of the garbage collector walk all of them (3/4 of a fold's time).
        rows.append(IndexEntry.of(record, runs.metrics_of(run_id)))
    try:
        index.put_many(rows)
    except StoreError as exc:
        _log.warning("%s; %d run(s) wait in the journal for the next command", exc, len(rows))
        return 0
    for row in rows:
        if row.status is not Status.SUCCEEDED:
            continue
        named = runs.marked_run(row.key)
        if named is not None and named >= row.id:  # run ids sort by start time
            continue
        try:
            runs.mark_point(row.key, row.id, durable=False)  # derived: the next fold redoes it
        except StoreError as exc:
            _log.warning("%s", exc)
    runs.journal.clear(entries)
    return len(rows)
