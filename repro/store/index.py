"""The SQLite index over a store's records: listing, lookup by point key, and queries on
parameters and metrics.

Records on disk are the truth; this index is a cache of some of their fields (and of each
run's parsed metrics) and is rebuilt from them whenever it is missing, damaged, or from an
older repro (:data:`INDEX_VERSION`). Only commands write it, folding in the journal that jobs
leave (:mod:`repro.store.journal`); it is kept in SQLite's rollback-journal mode, not WAL, whose
shared-memory file assumes that every reader and writer is on one host — a store on NFS is
not. Each thread gets its own connection, with a generous busy timeout.

Parameters and metrics are rows of one table, ``vals`` (run, name, value), each run and each
name an integer: numbers are compared as numbers (``size=4`` finds 4 and 4.0), booleans as
booleans, text as text, in SQL — a filter over a million runs never loads a record. How a
query with conditions finds its runs quickly is told at :meth:`Index.rows`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repro.errors import StoreError
from repro.store.status import Status
from repro.store.values import Value

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["INDEX_VERSION", "Condition", "Index", "IndexEntry", "IndexRow", "Value"]

_log = logging.getLogger(__name__)

_OPEN_ATTEMPTS = 50

_KINDS = {stat.S_IFDIR: "folder", stat.S_IFLNK: "link", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket"}

INDEX_VERSION = 5
"""Raised whenever the tables change, or what may be in them: an index of another version is
rebuilt from the records. 4: runs and the names of values are integers, and a value is one
column (see ``_stored``). 5: only valid records are indexed (an older index may hold rows of
records this repro refuses: pulled or planted with names that lead out of the store)."""


_TABLES = """
CREATE TABLE IF NOT EXISTS runs (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    started_at TEXT NOT NULL,
    started REAL NOT NULL,
    duration REAL,
    manifest TEXT NOT NULL,
    params TEXT NOT NULL,
    image_id TEXT NOT NULL,
    git_commit TEXT,
    reproduces TEXT,
    error TEXT,
    user TEXT,
    uid INTEGER
);
CREATE TABLE IF NOT EXISTS names (
    nid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (name, source)
);
CREATE TABLE IF NOT EXISTS vals (
    run INTEGER NOT NULL,
    nid INTEGER NOT NULL,
    v NOT NULL,
    PRIMARY KEY (run, nid)
) WITHOUT ROWID;
"""
# ``vals.v`` has no type, so SQLite keeps each value's own: a number as REAL, text as TEXT, a
# boolean as a one-byte BLOB. Values of different types are never equal, and SQLite orders all
# numbers before all text and all text before all blobs — which ``_test`` relies on.

_INDEXES = """
CREATE INDEX IF NOT EXISTS runs_key ON runs (key, status);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started, id);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_name ON runs (name, started);
CREATE INDEX IF NOT EXISTS runs_user ON runs (user, started);
CREATE INDEX IF NOT EXISTS vals_value ON vals (nid, v);
"""

_RUN_COLUMNS = (
    "id, key, name, label, status, exit_code, started_at, started, duration, manifest, params, image_id, "
    "git_commit, reproduces, error, user, uid"
)
_STARTED = 7
"""Where ``started`` (seconds since the epoch) is among :data:`_RUN_COLUMNS`."""
_ORDER = " ORDER BY started DESC, id DESC"

_CACHE_KIB = 64 << 10
"""SQLite's page cache per connection (its default, 2 MiB, rereads pages of a large index)."""
_CHUNK = 500
"""Run ids per statement when a query names runs (SQLite limits the placeholders of one)."""
_WINDOW = 5_000
"""A query with conditions and a limit looks among this many newest runs first (see :meth:`Index.rows`)."""
_DRIVER_CAP = 50_000
"""Matches counted at most per condition to choose the one that leads a query."""
_BATCH = 1_000
"""Runs written per statement when an index is built."""


@dataclass(frozen=True)
class IndexRow:
    """One run as the index knows it."""

    id: str
    key: str
    name: str
    label: str
    status: Status
    exit_code: int | None
    started_at: str
    duration: float | None
    manifest: str
    params: dict[str, object]
    image_id: str
    git_commit: str | None
    reproduces: str | None
    error: str | None = None
    user: str | None = None
    """Who ran it (login name; None for records from before repro recorded it)."""

    @classmethod
    def of(cls, record: RunRecord) -> IndexRow:
        """The row the index would hold for ``record`` (for a record it has not folded in yet)."""
        return _row(_row_values(record))


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """All the index keeps of one run: its row (the values of the run's columns), its parameters
    and its parsed metrics (None: not known; writing the entry keeps the metrics indexed before).

    Made from a record (:meth:`of`), or directly by whoever knows these values without a record
    (a benchmark making a store of a million runs). Holding entries instead of records keeps a
    fold of many runs small: a record is a tree of objects, an entry a few tuples."""

    row: tuple[object, ...]
    params: Mapping[str, Value]
    metrics: Mapping[str, Value] | None = None

    @classmethod
    def of(cls, record: RunRecord, metrics: Mapping[str, Value] | None = None) -> IndexEntry:
        return cls(_row_values(record), dict(record.point.params), metrics)

    @property
    def id(self) -> str:
        return str(self.row[0])

    @property
    def key(self) -> str:
        return str(self.row[1])

    @property
    def status(self) -> Status:
        return Status(str(self.row[4]))


Entries = Iterable["IndexEntry | tuple[RunRecord, Mapping[str, Value] | None]"]
"""What :meth:`Index.put_many` and :meth:`Index.build` take: entries, or records with their metrics."""


@dataclass(frozen=True)
class Condition:
    """``name op value`` on a run's parameters or metrics (``size=4``, ``ipc>1.5``)."""

    name: str
    op: Literal["=", "!=", ">", "<"]
    value: Value


class Index:
    """The ``index.sqlite`` of one store."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        """Open the file read-only (``mode=ro``): change no byte of it, create no journal beside
        it, add no table or index (``repro ui`` reads a store and must leave it as it was)."""
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open()
            self._local.connection = connection
        return connection

    def _open(self) -> sqlite3.Connection:
        if self.readonly:
            try:
                connection = sqlite3.connect(
                    f"{self.path.as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None
                )
                connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
                return connection
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store index {self.path} ({exc})") from exc
        # Leaving WAL (an index from an older repro), and creating the schema, need a moment of
        # exclusive access; commands opening the index at once may find it busy, which the busy
        # timeout does not cover.
        last: sqlite3.Error | None = None
        for attempt in range(_OPEN_ATTEMPTS):
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "delete":
                    connection.execute("PRAGMA journal_mode=DELETE")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
                self._schema(connection)
                return connection
            except sqlite3.OperationalError as exc:
                connection.close()
                last = exc
                if "locked" not in str(exc) and "busy" not in str(exc):
                    break
                time.sleep(0.02 * (attempt + 1))
            except sqlite3.Error as exc:
                connection.close()
                last = exc
                break
        if last is not None and ("disk I/O" in str(last) or "full" in str(last)) and self.path.is_file():
            # A full disk: SQLite cannot make its journal, but the index can still be read as it
            # is (writes then fail, and records stay the truth).
            return sqlite3.connect(f"{self.path.as_uri()}?immutable=1", uri=True, isolation_level=None)
        raise StoreError(f"cannot open the store index {self.path} ({last}); rebuild it: repro reindex")

    @staticmethod
    def _schema(connection: sqlite3.Connection) -> None:
        """Create the tables and their indexes (a new index gets this version); an index that
        cannot be added now (a full disk, a read-only store) is not needed to read the tables."""
        exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone()
        try:
            connection.executescript(_TABLES + _INDEXES)
            if not exists:
                connection.execute(f"PRAGMA user_version = {INDEX_VERSION}")
        except sqlite3.OperationalError:
            if not exists:
                raise

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"the store index {self.path} failed ({exc}); rebuild it: repro reindex") from exc

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- writing --------------------------------------------------------------------------------

    def put(self, record: RunRecord, metrics: Mapping[str, Value] | None = None) -> None:
        """Insert or update the row of ``record`` (with its parsed ``metrics``, when known)."""
        self.put_many([(record, metrics)])

    def put_many(self, entries: Entries) -> None:
        """Insert or update the rows of many runs (entries, or records with their parsed metrics)
        at once, in one transaction."""
        self.put_batches([entries])

    def put_batches(self, batches: Iterable[Entries], before_commit: Callable[[], object] | None = None) -> None:
        """:meth:`put_many` of each of ``batches`` as it comes (a batch may still be being read
        while the one before is written), all in one transaction; ``before_commit`` runs once
        all are written, before they are committed (what must happen before the index shows them)."""
        with self._cursor() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                names = _Names(db)
                for entries in batches:
                    _put(db, entries, names)
                if before_commit is not None:
                    before_commit()
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- health ---------------------------------------------------------------------------------

    def readable(self) -> str | None:
        """None when the index can be read as this repro reads it; otherwise why not
        (``missing``, ``unreadable (…)``, ``from an older repro``). Only damage and age count:
        an index a full disk keeps from growing is still readable."""
        try:
            kind = stat.S_IFMT(self.path.lstat().st_mode)
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            return f"unreadable ({exc.strerror})"
        if kind != stat.S_IFREG:  # a folder, a link, a FIFO: never opened, moved aside (swap_in)
            return f"not a file (a {_KINDS.get(kind, 'special file')})"
        try:
            with self.path.open("rb") as handle:
                header = handle.read(16)
        except OSError as exc:
            return f"unreadable ({exc.strerror})"
        if header != b"SQLite format 3\x00":
            return "unreadable (not an SQLite database)"
        try:
            connection = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=60)
            try:
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                # One row, not count(*): counting a million runs reads the whole table.
                connection.execute("SELECT 1 FROM runs LIMIT 1").fetchone()
            finally:
                connection.close()
        except sqlite3.DatabaseError as exc:
            damaged = ("malformed", "not a database", "no such table", "corrupt")
            if any(word in str(exc) for word in damaged):
                return f"unreadable ({exc})"
            return None
        if version != INDEX_VERSION:
            return f"from another version of repro (index version {version}, this repro's is {INDEX_VERSION})"
        return None

    @staticmethod
    def build(path: Path, entries: Entries) -> None:
        """Write a complete index of ``entries`` (entries, or records with their parsed metrics)
        as a new file at ``path`` (nothing else is touched), in bounded memory: the tables are
        filled first, a batch at a time, and their indexes made last (faster than keeping them
        up to date row by row)."""
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                # A new file, used only once complete (and synced): there is nothing to roll back
                # to, and nothing to keep if the build stops half-way.
                connection.execute("PRAGMA journal_mode = OFF")
                connection.execute("PRAGMA synchronous = OFF")
                connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
                connection.executescript(_TABLES)
                connection.execute(f"PRAGMA user_version = {INDEX_VERSION}")
                connection.execute("BEGIN")
                names = _Names(connection)
                batch: list[IndexEntry] = []
                rid = 0
                for given in entries:
                    batch.append(_entry(given))
                    if len(batch) == _BATCH:
                        _append(connection, batch, rid, names)
                        rid += len(batch)
                        batch = []
                _append(connection, batch, rid, names)
                for statement in filter(None, (line.strip() for line in _INDEXES.splitlines())):
                    connection.execute(statement)
                connection.execute("COMMIT")
            finally:
                connection.close()
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
        except sqlite3.Error as exc:
            raise StoreError(f"cannot build an index at {path} ({exc})") from exc
        except OSError as exc:
            raise StoreError(f"cannot build an index at {path} ({exc.strerror})") from exc

    def create(self) -> None:
        """Make an empty index where there is none — built aside and linked into place, so no
        SQLite lock is taken on a shared file (a job may make a store) and a second maker's
        index never replaces the first's."""
        if self.path.exists():
            return
        built = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        try:
            self.build(built, [])
            with contextlib.suppress(FileExistsError):
                os.link(built, self.path)
        finally:
            built.unlink(missing_ok=True)

    def swap_in(self, built: Path) -> None:
        """Make the index file ``built`` (see :meth:`build`) this index, in one rename: readers see
        the old index or the new one, never neither. Whatever is in the index's place that is not a
        file (a folder, a link) is moved aside first, under a name that says so, and never opened."""
        self.close()
        for path in (self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
            self._move_aside(path)
        with contextlib.suppress(sqlite3.Error, OSError):  # fold the old WAL in, so none is left over
            old = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
        built.replace(self.path)
        for suffix in ("-wal", "-shm"):  # an old WAL must never be replayed into the new file
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

    @staticmethod
    def _move_aside(path: Path) -> None:
        try:
            if stat.S_ISREG(path.lstat().st_mode):
                return
        except FileNotFoundError:
            return
        aside = path.with_name(f".{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.{secrets.token_hex(4)}.aside")
        try:
            path.rename(aside)
        except OSError as exc:
            raise StoreError(f"{path} is not a file and cannot be moved aside ({exc.strerror}); remove it") from exc
        _log.warning("%s was not a file: moved it aside to %s", path, aside.name)

    # -- reading --------------------------------------------------------------------------------

    def succeeded_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """For each key that has a succeeded run: the id of its newest one."""
        wanted = list(keys)
        found: dict[str, str] = {}
        with self._cursor() as db:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, id FROM runs WHERE status = 'succeeded' AND key IN ({marks}) "  # noqa: S608 - only placeholders are interpolated
                    "ORDER BY started, id",
                    chunk,
                )
                found.update(dict(rows))
        return found

    def rows(
        self,
        limit: int | None = None,
        name: str | None = None,
        *,
        names: Sequence[str] = (),
        statuses: Sequence[str] = (),
        since: float | None = None,
        until: float | None = None,
        where: Sequence[Condition] = (),
        ids: Sequence[str] | None = None,
        users: Sequence[str] = (),
    ) -> list[IndexRow]:
        """Runs, newest first, that pass every filter given: manifest ``name`` (or any of
        ``names``), status, start time (``since``/``until``: seconds since the epoch), who ran
        them (``users``: login names, or uids as digits), ``ids``, and conditions on parameters or
        metrics (``where``).

        Conditions are answered from ``vals``' two orders — by run (is this run's value …?) and by
        name and value (which runs have a value …?) — so that no query walks every run when
        fewer will do: a query with a limit first looks among the newest runs (where conditions
        that many runs meet find their matches at once); then one condition leads — the one
        with the fewest matches — and only its runs are tested against the others."""
        clauses: list[str] = []
        args: list[object] = []
        wanted = [name] if name is not None else list(names)
        if wanted:
            clauses.append(f"name IN ({','.join('?' * len(wanted))})")
            args += wanted
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            args += list(statuses)
        if users:
            names_ = [u for u in users if not u.isdigit()]
            uids = [int(u) for u in users if u.isdigit()]
            either = []
            if names_:
                either.append(f"user IN ({','.join('?' * len(names_))})")
                args += names_
            if uids:
                either.append(f"uid IN ({','.join('?' * len(uids))})")
                args += uids
            clauses.append("(" + " OR ".join(either) + ")")
        if since is not None:
            clauses.append("started >= ?")
            args.append(since)
        if until is not None:
            clauses.append("started <= ?")
            args.append(until)
        with self._cursor() as db:
            if ids is None:
                found = _select(db, clauses, args, where, limit)
            else:
                found = []
                for start in range(0, len(ids), _CHUNK):
                    chunk = list(ids[start : start + _CHUNK])
                    named = [*clauses, f"id IN ({','.join('?' * len(chunk))})"]
                    found += _select(db, named, [*args, *chunk], where, limit, lead=False)
                if len(ids) > _CHUNK:
                    found.sort(key=lambda values: (values[_STARTED], values[0]), reverse=True)
                    found = found[:limit] if limit is not None else found
            return [_row(values) for values in found]

    def values(self, run_ids: Sequence[str], source: Literal["param", "metric"]) -> dict[str, dict[str, Value]]:
        """The parameters or metrics of each run in ``run_ids``, by name."""
        found: dict[str, dict[str, Value]] = {run: {} for run in run_ids}
        with self._cursor() as db:
            names = dict(db.execute("SELECT nid, name FROM names WHERE source = ?", [source]).fetchall())
            for start in range(0, len(run_ids), _CHUNK):
                chunk = list(run_ids[start : start + _CHUNK])
                # CROSS JOIN: the runs named lead (SQLite would otherwise walk every value of the names).
                query = (
                    "SELECT r.id, v.nid, v.v FROM runs AS r CROSS JOIN vals AS v ON v.run = r.rid "  # noqa: S608
                    f"WHERE r.id IN ({','.join('?' * len(chunk))}) "
                    "AND v.nid IN (SELECT nid FROM names WHERE source = ?)"
                )
                for run, nid, stored in db.execute(query, [*chunk, source]).fetchall():
                    found[run][names[nid]] = _value(stored)
        return found

    def rows_for_key(self, key: str, limit: int | None = None) -> list[IndexRow]:
        """The runs of the point ``key``, newest first."""
        query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE key = ?{_ORDER}"  # noqa: S608
        args: list[object] = [key]
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._cursor() as db:
            return [_row(values) for values in db.execute(query, args)]

    def running(self, key: str | None = None) -> list[IndexRow]:
        """Runs whose record says ``running`` (of the point ``key``, if given), oldest first."""
        query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = 'running'"  # noqa: S608
        args: list[object] = []
        if key is not None:
            query += " AND key = ?"
            args.append(key)
        with self._cursor() as db:
            return [_row(values) for values in db.execute(query + " ORDER BY started, id", args)]

    def ids_starting_with(self, prefix: str) -> list[str]:
        """Up to three run ids that begin with ``prefix`` (read from the ids' own order: the
        first ids from ``prefix`` on are those that begin with it, if any do)."""
        with self._cursor() as db:
            following = [
                row[0] for row in db.execute("SELECT id FROM runs WHERE id >= ? ORDER BY id LIMIT 3", [prefix])
            ]
        return [run_id for run_id in following if run_id.startswith(prefix)]


class _Names:
    """The ``names`` table during one write: the integer of each (source, name), added when new."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.known: dict[tuple[str, str], int] = {
            (source, name): nid for nid, source, name in db.execute("SELECT nid, source, name FROM names")
        }

    def nid(self, source: str, name: str) -> int:
        found = self.known.get((source, name))
        if found is None:
            cursor = self.db.execute("INSERT INTO names (source, name) VALUES (?, ?)", [source, name])
            found = self.known[(source, name)] = int(cursor.lastrowid or 0)
        return found


def _entry(given: IndexEntry | tuple[RunRecord, Mapping[str, Value] | None]) -> IndexEntry:
    return given if isinstance(given, IndexEntry) else IndexEntry.of(*given)


def _vals(rid: int, entry: IndexEntry, names: _Names) -> list[tuple[int, int, object]]:
    known = names.known
    found = []
    for source, values in (("param", entry.params), ("metric", entry.metrics or {})):
        for name, value in values.items():
            nid = known.get((source, name))
            found.append((rid, names.nid(source, name) if nid is None else nid, _stored(value)))
    return found


def _put(db: sqlite3.Connection, entries: Entries, names: _Names) -> None:
    latest = {entry.id: entry for entry in map(_entry, entries)}  # the last entry of a run wins
    known = _rids(db, list(latest))
    # New runs (a fold's usual case) are written as a build writes them, many per statement;
    # runs indexed before are updated one by one, keeping their integers.
    after = db.execute("SELECT max(rid) FROM runs").fetchone()[0] or 0
    _append(db, [entry for run, entry in latest.items() if run not in known], after, names)
    _replace(db, [(rid, latest[run]) for run, rid in known.items()], names)


def _append(db: sqlite3.Connection, batch: Sequence[IndexEntry], after: int, names: _Names) -> None:
    """Write the runs of ``batch``, new to the index, numbered from ``after + 1``."""
    marks = ",".join("?" * 18)
    db.executemany(
        f"INSERT INTO runs (rid, {_RUN_COLUMNS}) VALUES ({marks})",  # noqa: S608 - fixed text only
        [(after + number, *entry.row) for number, entry in enumerate(batch, start=1)],
    )
    rows = [row for number, entry in enumerate(batch, start=1) for row in _vals(after + number, entry, names)]
    db.executemany("INSERT OR REPLACE INTO vals VALUES (?, ?, ?)", rows)


def _rids(db: sqlite3.Connection, run_ids: Sequence[str]) -> dict[str, int]:
    """The integers of those of ``run_ids`` the index holds."""
    found: dict[str, int] = {}
    for start in range(0, len(run_ids), _CHUNK):
        chunk = run_ids[start : start + _CHUNK]
        query = f"SELECT id, rid FROM runs WHERE id IN ({','.join('?' * len(chunk))})"  # noqa: S608 - placeholders only
        found.update(db.execute(query, chunk).fetchall())
    return found


def _replace(db: sqlite3.Connection, known: Sequence[tuple[int, IndexEntry]], names: _Names) -> None:
    """Replace the rows and values of runs the index holds (each keeps its integer: its values
    name it); metrics not known (None) stay as indexed before."""
    marks = ",".join("?" * 17)
    db.executemany(
        f"UPDATE runs SET ({_RUN_COLUMNS}) = ({marks}) WHERE rid = ?",  # noqa: S608 - fixed text
        [(*entry.row, rid) for rid, entry in known],
    )
    db.executemany(
        "DELETE FROM vals WHERE run = ? AND nid IN (SELECT nid FROM names WHERE source = 'param')",
        [(rid,) for rid, entry in known if entry.metrics is None],
    )
    db.executemany("DELETE FROM vals WHERE run = ?", [(rid,) for rid, entry in known if entry.metrics is not None])
    db.executemany(
        "INSERT OR REPLACE INTO vals VALUES (?, ?, ?)",
        [row for rid, entry in known for row in _vals(rid, entry, names)],
    )


@dataclass(frozen=True)
class _Test:
    """One condition as SQL on ``vals AS v`` (which name, which values), with its arguments."""

    sql: str
    args: list[object]
    equal: bool

    def probe(self, run: str = "runs.rid") -> str:
        """The condition on the run whose integer is the column ``run`` (one lookup by run and name)."""
        return f"EXISTS (SELECT 1 FROM vals AS v WHERE v.run = {run} AND {self.sql})"  # noqa: S608 - fixed text


def _test(db: sqlite3.Connection, condition: Condition) -> _Test | None:
    """``condition`` as SQL, or None when no run can meet it (no value has that name; a number
    compared with an infinite or undefined one)."""
    nids = [nid for (nid,) in db.execute("SELECT nid FROM names WHERE name = ?", [condition.name])]
    if not nids:
        return None
    names = f"v.nid IN ({','.join('?' * len(nids))})"
    if condition.op in (">", "<"):
        number = _stored(condition.value)
        if not isinstance(number, float):
            return None
        # Numbers sort before all text (and text before booleans' blobs): ``v < ''`` keeps numbers.
        bound = " AND v.v < ''" if condition.op == ">" else ""
        return _Test(f"{names} AND v.v {condition.op} ?{bound}", [*nids, number], equal=False)
    # Values of different types are never equal: 4 is not '4' nor true, and is not != them either
    # (a run with no such value at all does not pass ``!=``).
    return _Test(f"{names} AND v.v {condition.op} ?", [*nids, _stored(condition.value)], condition.op == "=")


def _select(
    db: sqlite3.Connection,
    clauses: Sequence[str],
    args: Sequence[object],
    where: Sequence[Condition],
    limit: int | None,
    *,
    lead: bool = True,
) -> list[tuple[object, ...]]:
    """The rows (:data:`_RUN_COLUMNS`) of runs meeting ``clauses`` and ``where``, newest first;
    ``lead``: let the condition with the fewest matches choose the runs (not when ``clauses``
    name the runs already)."""
    tests = [_test(db, condition) for condition in where]
    if None in tests:
        return []
    if not tests:
        return _newest(db, f"SELECT {_RUN_COLUMNS} FROM runs{_where(clauses)}", args, limit)  # noqa: S608 - fixed text
    checked = [test for test in tests if test is not None]
    probes = [test.probe() for test in checked]
    probe_args = [arg for test in checked for arg in test.args]
    if not lead:
        query = f"SELECT {_RUN_COLUMNS} FROM runs{_where([*clauses, *probes])}"  # noqa: S608 - fixed text
        return _newest(db, query, [*args, *probe_args], limit)
    if limit is not None:
        # Conditions that many runs meet: the newest runs hold the matches (a few lookups each).
        newest = f"SELECT * FROM runs{_where(clauses)}{_ORDER} LIMIT ?"  # noqa: S608
        query = f"SELECT {_RUN_COLUMNS} FROM ({newest}) AS runs{_where(probes)}{_ORDER} LIMIT ?"  # noqa: S608
        found = db.execute(query, [*args, _WINDOW, *probe_args, limit]).fetchall()
        if len(found) == limit:
            return found
    # Otherwise the condition with the fewest matches leads: its runs, in the order of their
    # integers (so the lookups of the other conditions go through ``vals`` in its own order).
    counts = [_matches(db, test) for test in checked]
    first = min(range(len(checked)), key=lambda number: (counts[number], not checked[number].equal))
    if counts[first] == 0:
        return []
    leader = checked[first]
    others = [test for number, test in enumerate(checked) if number != first]
    # LIMIT -1 keeps the ORDER BY: SQLite drops a subquery's order that the query does not ask
    # for — and the order is the point (the lookups below then walk ``vals`` and ``runs`` in
    # their own order, a page at a time, not one page per run). The other conditions are tested
    # on the leader's runs before their rows are read.
    runs = f"SELECT DISTINCT v.run FROM vals AS v WHERE {leader.sql} ORDER BY v.run LIMIT -1"  # noqa: S608
    query = (
        f"SELECT {_RUN_COLUMNS} FROM ({runs}) AS lead CROSS JOIN runs ON runs.rid = lead.run"  # noqa: S608
        f"{_where([*(test.probe('lead.run') for test in others), *clauses])}"
    )
    other_args = [arg for test in others for arg in test.args]
    return _newest(db, query, [*leader.args, *other_args, *args], limit)


def _newest(db: sqlite3.Connection, query: str, args: Sequence[object], limit: int | None) -> list[tuple[object, ...]]:
    """The rows of ``query`` (:data:`_RUN_COLUMNS`), newest first: ``limit`` of them sorted by
    SQLite, or all of them sorted here — SQLite sorts whole rows, Python only their keys, which
    for 100,000 rows is several times faster."""
    if limit is not None:
        return db.execute(f"{query}{_ORDER} LIMIT ?", [*args, limit]).fetchall()
    found = db.execute(query, args).fetchall()
    found.sort(key=lambda values: (values[_STARTED], values[0]), reverse=True)
    return found


def _matches(db: sqlite3.Connection, test: _Test) -> int:
    """How many values meet ``test``, counted up to :data:`_DRIVER_CAP` (beyond, all are alike)."""
    query = f"SELECT count(*) FROM (SELECT 1 FROM vals AS v WHERE {test.sql} LIMIT ?)"  # noqa: S608 - fixed text
    return int(db.execute(query, [*test.args, _DRIVER_CAP]).fetchone()[0])


def _where(clauses: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _stored(value: object) -> object:
    """A parameter's or metric's value as ``vals`` keeps it: a number as a float (4 and 4.0 are
    one), a boolean as a one-byte blob (never a number), anything else — an infinite or
    undefined number too — as text."""
    if isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return str(value)
        return number if math.isfinite(number) else str(value)
    return str(value)


def _value(stored: object) -> Value:
    """A value as ``vals`` keeps it, read back (see :func:`_stored`)."""
    if isinstance(stored, bytes):
        return stored != b"\x00"
    if isinstance(stored, float):
        return int(stored) if stored.is_integer() and abs(stored) < 2**53 else stored
    if isinstance(stored, int):
        return stored
    return str(stored)


def _row_values(record: RunRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.point.key,
        record.manifest.name,
        record.point.label,
        record.status.value,
        record.exit_code,
        record.started_at.isoformat(),
        record.started_at.timestamp(),
        record.duration_seconds,
        record.manifest.path,
        json.dumps(record.point.params),
        record.image.id,
        record.git.commit if record.git else None,
        record.reproduces,
        record.error,
        record.user.name if record.user else None,
        record.user.uid if record.user else None,
    )


def _row(values: tuple[object, ...]) -> IndexRow:
    """A row of :data:`_RUN_COLUMNS` as SQLite gives it (each column in its declared type)."""
    (
        id_,
        key,
        name,
        label,
        status,
        exit_code,
        started,
        _,
        duration,
        manifest,
        params,
        image,
        commit,
        rep,
        error,
        user,
        _,
    ) = values
    return IndexRow(
        str(id_),
        str(key),
        str(name),
        str(label),
        _STATUSES[str(status)],
        exit_code if isinstance(exit_code, int) else None,
        str(started),
        duration if isinstance(duration, float) else None,
        str(manifest),
        json.loads(str(params)),
        str(image),
        commit if isinstance(commit, str) else None,
        rep if isinstance(rep, str) else None,
        error if isinstance(error, str) else None,
        user if isinstance(user, str) else None,
    )


_STATUSES = {status.value: status for status in Status}
