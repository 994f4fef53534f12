"""Folding the journal into the index (see :mod:`repro.store.journal` for why jobs leave entries
instead of writing the index): the records written since the index last saw them — by jobs
anywhere, or by ``repro push`` — are read (the records are the truth) and written into the
index in one transaction; then exactly the entries read are removed. Final records the store's
log (:mod:`repro.store.tlog`) does not hold yet are appended to it, in run id order, before that
transaction commits. Thousands of runs are read by forked processes, one per CPU, and written
as they come (see :func:`_read_batches`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import queue
import signal
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import NoReturn

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
_WRITING = 0.2
"""Writing a run to the index, against reading it (10,000 runs: about 0.2 s against 1 s)."""


@dataclass(frozen=True, slots=True)
class _Read:
    """What a fold takes from one run's folder: its index entry, its record's digest, whether
    the record is final, and (for a succeeded run) the run its point's marker named when the
    run was read (only trusted to say that nothing is to be marked)."""

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
        row = found.entry
        if row.status is not Status.SUCCEEDED or found.marked == row.id:
            continue  # marked by its job (the marker as read with the run): the usual case
        # Read again now: this fold may have marked the point already, or a job since.
        named = runs.marked_name(row.key)
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
    process reads the first, smaller share, and writes it to the index while the others read
    theirs; what they read comes in batches as they read it (taken off their pipes by a thread
    each, so that none waits for this process), to be written as it comes."""
    processes = min(len(os.sched_getaffinity(0)), _MOST_PROCESSES)
    reaped = signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN  # children vanish: no waiting for them
    if len(run_ids) < PARALLEL_FROM or processes < 2 or threading.active_count() > 1 or reaped:
        yield _reads(runs, run_ids)
        return
    # This process reads its share and writes all of them: its share is what leaves it as busy as the others.
    mine = round(len(run_ids) * max(0.0, 1 - (processes - 1) * _WRITING) / processes)
    each = -(-(len(run_ids) - mine) // (processes - 1))
    readers: list[_Reader] = []
    try:
        for start in range(mine, len(run_ids), each):
            readers.append(
                _Reader(runs, run_ids[start : start + each], [r.pipe for r in readers if r.pipe is not None])
            )
        for reader in readers:  # threads only once every process is forked
            reader.start()
        yield _reads(runs, run_ids[:mine])
        for reader in readers:
            yield from reader.batches()
    finally:
        for reader in readers:  # the fold stopped (the index failed): no process or thread is left behind
            reader.stop()


_FRAME_RUNS = 500
"""Runs a reading process sends at a time."""


class _Reader:
    """A forked process reading a share of the runs and sending what it reads, pickled, a frame
    per :data:`_FRAME_RUNS` runs, down a pipe; and the thread here that takes each frame off
    the pipe as it comes. What it did not send (it failed, or there could be no process) this
    process reads itself."""

    def __init__(self, runs: RunFiles, share: list[str], others: list[int]) -> None:
        """``others``: the pipes of the readers forked before, which this one's process closes
        (each process ends when its own reader's pipe does, not in a chain)."""
        self.runs = runs
        self.share = share
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.pid: int | None = None
        self.pipe: int | None = None
        self._thread: threading.Thread | None = None
        self._ended = False
        try:
            readable, writable = os.pipe()
        except OSError:
            return  # no descriptor left: read here
        try:
            pid = os.fork()
        except OSError:
            os.close(readable)
            os.close(writable)
            return  # no process left: read here
        if pid == 0:
            for descriptor in (readable, *others):
                os.close(descriptor)
            _serve(runs, share, writable)  # never returns
        os.close(writable)
        self.pid, self.pipe = pid, readable

    def start(self) -> None:
        if self.pipe is not None:
            self._thread = threading.Thread(target=self._drain, args=(self.pipe,), name="repro-fold-reader")
            self._thread.start()

    def _drain(self, pipe: int) -> None:
        try:
            with os.fdopen(pipe, "rb") as handle:
                while len(head := handle.read(8)) == 8:
                    size = int.from_bytes(head, "big")
                    data = handle.read(size)
                    if len(data) < size:
                        break  # cut short: the process died
                    self.frames.put(data)  # an empty frame: all was sent
                    if not size:
                        break
        finally:
            self.frames.put(None)

    def batches(self) -> Iterator[list[_Read]]:
        """What the process read, batch by batch as it came (what it logged is logged here),
        then what it did not read, read here."""
        consumed, done = 0, False
        while self._thread is not None and (frame := self.frames.get()) is not None:
            if not frame:
                done = True
                continue
            count, read, said = pickle.loads(frame)  # noqa: S301 - our own child's, through our own pipe
            for record in said:
                logging.getLogger(record.name).handle(record)
            consumed += count
            yield read
        self.stop(kill=not done)
        if not done:
            yield _reads(self.runs, self.share[consumed:])

    def stop(self, *, kill: bool = True) -> None:
        """End the process (killed, unless it is done) and the thread, and wait for both."""
        if self._ended:
            return
        self._ended = True
        if self.pid is not None and kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self._thread is not None:
            self._thread.join()
        elif self.pipe is not None:
            os.close(self.pipe)
        if self.pid is not None:
            with contextlib.suppress(ChildProcessError):  # reaped already (SIGCHLD ignored since the fork)
                os.waitpid(self.pid, 0)


def _serve(runs: RunFiles, share: list[str], writable: int) -> NoReturn:
    """The forked process: read ``share``, send it frame by frame, end here whatever happens
    (running none of the parent's exit handlers)."""
    code = 1
    try:
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # not the parent's handlers
            signal.signal(number, signal.SIG_DFL)
        said = _Said()
        package = logging.getLogger("repro")
        package.handlers[:], package.propagate = [said], False  # said by the parent, in its order
        with os.fdopen(writable, "wb") as pipe:
            for start in range(0, len(share), _FRAME_RUNS):
                part = share[start : start + _FRAME_RUNS]
                data = pickle.dumps((len(part), _reads(runs, part), said.taken()), protocol=pickle.HIGHEST_PROTOCOL)
                pipe.write(len(data).to_bytes(8, "big") + data)
                pipe.flush()
            pipe.write(bytes(8))  # all was sent
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

    def taken(self) -> list[logging.LogRecord]:
        """What was logged since the last call."""
        taken, self.records = self.records, []
        return taken


def _reads(runs: RunFiles, run_ids: list[str]) -> list[_Read]:
    return [found for run_id in run_ids if (found := _read_run(runs, run_id)) is not None]


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
