"""Folding the journal into the index (see :mod:`repro.store.journal` for why jobs leave entries
instead of writing the index): the records written since the index last saw them — by jobs
anywhere, or by ``repro push`` — are read (the records are the truth) and written into the
index in one transaction; then exactly the entries read are removed. Final records the store's
log (:mod:`repro.store.tlog`) does not hold yet are appended to it first, in run id order.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import threading
from dataclasses import dataclass

from repro.errors import StoreError, UsageError
from repro.store.index import Index, IndexEntry
from repro.store.journal import Entry
from repro.store.layout import shown_name
from repro.store.runs import RunFiles
from repro.store.status import Status

__all__ = ["fold_journal"]

_log = logging.getLogger(__name__)


PARALLEL_FROM = 2000
"""Runs from which a fold reads their records in a process per CPU (up to :data:`_MOST_PROCESSES`):
reading and validating is most of a large fold's time, and each record is read independently."""

_MOST_PROCESSES = 4


@dataclass(frozen=True, slots=True)
class _Read:
    """What a fold takes from one run's folder: its index entry, its record's digest, whether
    the record is final, and (for a succeeded run) the run its point's marker names."""

    entry: IndexEntry
    digest: str
    final: bool
    marked: str | None


def fold_journal(runs: RunFiles, index: Index) -> int:
    """Fold ``runs``' journal into ``index``; return how many runs it indexed. Succeeded runs
    also get their point's marker if it names an older run (a pushed or pulled run arrives
    without one). Never fails a command: an index that cannot be written now keeps the entries
    for the next one."""
    entries = runs.journal.pending()
    if not entries:
        return 0
    collecting = gc.isenabled() and len(entries) >= PARALLEL_FROM
    if collecting:  # no cycles are made here: passes over the thousands of objects kept find nothing
        gc.disable()
    try:
        return _fold(runs, index, entries)
    finally:
        if collecting:
            gc.enable()


def _fold(runs: RunFiles, index: Index, entries: list[Entry]) -> int:
    for entry in entries:
        if entry.run_id is None:
            name = shown_name(entry.name)
            _log.warning("skipping journal entry %s: its name does not begin with a run id", name)
    read = _read_runs(runs, sorted({entry.run_id for entry in entries if entry.run_id is not None}))
    rows = [found.entry for found in read]
    # The final records' digests, for the store's log: in the log first, it must not wait for the index.
    logged = runs.log_digests([(found.entry.id, found.digest) for found in read if found.final])
    try:
        index.put_many(rows)
    except StoreError as exc:
        _log.warning("%s; %d run(s) wait in the journal for the next command", exc, len(rows))
        return 0
    for found in read:
        row, named = found.entry, found.marked
        if row.status is not Status.SUCCEEDED:
            continue
        # Run ids sort by start time: a marker that names a newer run of the point stays (checked
        # only then, so a planted marker naming a "newer" run of another point changes nothing).
        if named == row.id or (named is not None and named > row.id and runs.marked_run(row.key)):
            continue
        try:
            runs.mark_point(row.key, row.id, durable=False)  # derived: the next fold redoes it
        except StoreError as exc:
            _log.warning("%s", exc)
    if logged is not None:  # else the entries stay, for a fold that can append to the log
        runs.journal.clear(entries)
    return len(rows)


def _read_runs(runs: RunFiles, run_ids: list[str]) -> list[_Read]:
    """:func:`_read_run` of each of ``run_ids`` that is a valid run, in their order: many of them
    in a forked process per CPU, each a share of them, when this process can fork safely (it
    runs one thread: a thread of another holding a lock would leave the child waiting forever)."""
    processes = min(len(os.sched_getaffinity(0)), _MOST_PROCESSES)
    if len(run_ids) < PARALLEL_FROM or processes < 2 or threading.active_count() > 1:
        return [found for run_id in run_ids if (found := _read_run(runs, run_id)) is not None]
    shares = [run_ids[number::processes] for number in range(processes)]
    children = [_fork_reading(runs, share) for share in shares[1:]]
    results = {found.entry.id: found for found in _reads(runs, shares[0])}
    for (pid, pipe), share in zip(children, shares[1:], strict=True):
        for found in _collected(pid, pipe) or _reads(runs, share):  # a child that failed: read here
            results[found.entry.id] = found
    return [results[run_id] for run_id in run_ids if run_id in results]


def _reads(runs: RunFiles, run_ids: list[str]) -> list[_Read]:
    return [found for run_id in run_ids if (found := _read_run(runs, run_id)) is not None]


def _fork_reading(runs: RunFiles, run_ids: list[str]) -> tuple[int, int]:
    """A child process reading ``run_ids`` and sending what it read, and what it would have
    logged, pickled down a pipe: (its pid, the pipe's end to read)."""
    readable, writable = os.pipe()
    pid = os.fork()
    if pid:
        os.close(writable)
        return pid, readable
    code = 1
    try:  # the child: whatever happens, it ends here, running none of the parent's exit handlers
        os.close(readable)
        said = _Said()
        package = logging.getLogger("repro")
        package.handlers[:], package.propagate = [said], False  # said by the parent, in its order
        read = _reads(runs, run_ids)
        with os.fdopen(writable, "wb") as pipe:
            pickle.dump((read, said.records), pipe, protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
    finally:
        os._exit(code)


class _Said(logging.Handler):
    """What a child process logs, kept to be sent to its parent (made plain, so it pickles)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args, record.exc_info, record.exc_text = record.getMessage(), None, None, None
        self.records.append(record)


def _collected(pid: int, pipe: int) -> list[_Read] | None:
    """What the child ``pid`` sent down ``pipe`` (what it logged is logged here); None if it failed."""
    with os.fdopen(pipe, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        return None
    read: list[_Read]
    said: list[logging.LogRecord]
    read, said = pickle.loads(data)  # noqa: S301 - our own child's, through our own pipe
    for record in said:
        logging.getLogger(record.name).handle(record)
    return read


def _read_run(runs: RunFiles, run_id: str) -> _Read | None:
    try:
        entry, digest, final = runs.entry(run_id)
    except UsageError as exc:  # gone (removed by hand): nothing to index
        _log.debug("not indexing %s: %s", run_id, exc)
        return None
    except StoreError as exc:  # not a valid record: never indexed, never a path (`repro fsck` names it too)
        _log.warning("skipping run %s: %s", run_id, exc)
        return None
    # Only what the index keeps of the record is kept: thousands of validated records held at
    # once make every pass of the garbage collector walk all of them (3/4 of a fold's time).
    marked = runs.marked_name(entry.key) if entry.status is Status.SUCCEEDED else None
    return _Read(entry, digest, final, marked)
