"""Folding the journal into the index (see :mod:`repro.store.journal` for why jobs leave entries
instead of writing the index): the records written since the index last saw them — by jobs
anywhere, or by ``repro push`` — are read (the records are the truth) and written into the
index in one transaction; then exactly the entries read are removed. Final records the store's
log (:mod:`repro.store.tlog`) does not hold yet are appended to it first, in run id order.
"""

from __future__ import annotations

import logging

from repro.errors import StoreError, UsageError
from repro.store.index import Index, IndexEntry
from repro.store.layout import shown_name
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
    digests: list[tuple[str, str]] = []  # the final records', for the store's log
    for entry in entries:
        if entry.run_id is None:
            name = shown_name(entry.path.name)
            _log.warning("skipping journal entry %s: its name does not begin with a run id", name)
    for run_id in sorted({entry.run_id for entry in entries if entry.run_id is not None}):
        try:
            record, digest = runs.load_digested(run_id)
        except UsageError as exc:  # gone (removed by hand): nothing to index
            _log.debug("not indexing %s: %s", run_id, exc)
            continue
        except StoreError as exc:  # not a valid record: never indexed, never a path (`repro fsck` names it too)
            _log.warning("skipping run %s: %s", run_id, exc)
            continue
        # Only what the index keeps of the record is kept: thousands of validated records held
        # at once make every pass of the garbage collector walk all of them (3/4 of a fold's time).
        rows.append(IndexEntry.of(record, runs.metrics_of(record)))
        if record.status.final:
            digests.append((record.id, digest))
    logged = runs.log_digests(digests)  # in the log first: it must not wait for the index
    try:
        index.put_many(rows)
    except StoreError as exc:
        _log.warning("%s; %d run(s) wait in the journal for the next command", exc, len(rows))
        return 0
    for row in rows:
        if row.status is not Status.SUCCEEDED:
            continue
        # Run ids sort by start time: a marker that names a newer run of the point stays (checked
        # only then, so a planted marker naming a "newer" run of another point changes nothing).
        named = runs.marked_name(row.key)
        if named == row.id or (named is not None and named > row.id and runs.marked_run(row.key)):
            continue
        try:
            runs.mark_point(row.key, row.id, durable=False)  # derived: the next fold redoes it
        except StoreError as exc:
            _log.warning("%s", exc)
    if logged is not None:  # else the entries stay, for a fold that can append to the log
        runs.journal.clear(entries)
    return len(rows)
