"""Folding the journal into the index (see :mod:`repro.store.journal` for why jobs leave entries
instead of writing the index): the records written since the index last saw them — by jobs
anywhere, or by ``repro push`` — are read (the records are the truth) and written into the
index in one transaction; then exactly the entries read are removed. Final records the store's
log (:mod:`repro.store.tlog`) does not hold yet are appended to it first, in run id order.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import signal
import threading
from collections.abc import Generator, Iterator
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
_WRITING = 0.25
"""What writing its runs to the index adds to reading them (10,000 runs: 0.23 s to 0.93 s)."""


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
    read: list[_Read] = []
    logged: list[int | None] = []
    reading = _read_batches(runs, sorted({entry.run_id for entry in entries if entry.run_id is not None}))

    def batches() -> Iterator[list[IndexEntry]]:
        for batch in reading:
            read.extend(batch)
            yield [found.entry for found in batch]

    def log_them() -> None:
        # The final records' digests, for the store's log: in the log first, before the index shows them.
        logged.append(runs.log_digests([(found.entry.id, found.digest) for found in read if found.final]))

    try:
        index.put_batches(batches(), before_commit=log_them)
    except StoreError as exc:
        _log.warning("%s; %d run(s) wait in the journal for the next command", exc, len(read))
        return 0
    finally:
        reading.close()  # the children reading, if the index failed before it took all they read
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
    if logged[0] is not None:  # else the entries stay, for a fold that can append to the log
        runs.journal.clear(entries)
    return len(read)


def _read_batches(runs: RunFiles, run_ids: list[str]) -> Generator[list[_Read], None, None]:
    """:func:`_read_run` of each of ``run_ids`` that is a valid run, in their order, in batches:
    many of them in forked processes, one per CPU, when this process can fork safely (it runs
    one thread: a thread of another holding a lock would leave the child waiting forever). This
    process reads the first, smaller share, so that it has written it to the index by the time
    the others have read theirs."""
    processes = min(len(os.sched_getaffinity(0)), _MOST_PROCESSES)
    if len(run_ids) < PARALLEL_FROM or processes < 2 or threading.active_count() > 1:
        yield _reads(runs, run_ids)
        return
    mine = round(len(run_ids) / (processes + _WRITING))
    each = -(-(len(run_ids) - mine) // (processes - 1))
    shares = [run_ids[start : start + each] for start in range(mine, len(run_ids), each)]
    children: list[tuple[int, int] | None] = []
    try:
        children += (_fork_reading(runs, share) for share in shares)
        yield _reads(runs, run_ids[:mine])
        for share in shares:
            child = children.pop(0)
            collected = None if child is None else _collected(*child)
            yield _reads(runs, share) if collected is None else collected  # a child that failed: read here
    finally:
        for child in children:  # the fold stopped (the index failed): no child is left behind
            if child is not None:
                os.close(child[1])
                _ended(child[0], kill=True)


def _ended(pid: int, *, kill: bool = False) -> int:
    """The exit status of the child ``pid``, once it ended (killed first, with ``kill``)."""
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _reads(runs: RunFiles, run_ids: list[str]) -> list[_Read]:
    return [found for run_id in run_ids if (found := _read_run(runs, run_id)) is not None]


def _fork_reading(runs: RunFiles, run_ids: list[str]) -> tuple[int, int] | None:
    """A child process reading ``run_ids`` and sending what it read, and what it would have
    logged, pickled down a pipe: (its pid, the pipe's end to read); None when there can be no
    child now (no process or descriptor left): the parent reads them."""
    try:
        readable, writable = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(readable)
        os.close(writable)
        return None
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
    try:
        with os.fdopen(pipe, "rb") as handle:
            data = handle.read()
    except BaseException:
        _ended(pid, kill=True)
        raise
    if os.waitstatus_to_exitcode(_ended(pid)) != 0 or not data:
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
