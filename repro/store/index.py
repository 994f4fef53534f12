"""The SQLite index over a store's records: listing, lookup by point key, and queries on
parameters and metrics.

Records on disk are the truth; this index is a cache of some of their fields (and of each
run's parsed metrics) and is rebuilt from them whenever it is missing, damaged, or from an
older repro (:data:`INDEX_VERSION`). Only commands write it, folding in the journal that jobs
leave (:mod:`repro.store.journal`); it is kept in SQLite's rollback-journal mode, not WAL, whose
shared-memory file assumes that every reader and writer is on one host — a store on NFS is
not. Each thread gets its own connection, with a generous busy timeout.

Parameters and metrics are rows of one table, ``vals`` (run, source, name, kind, num, text):
numbers are compared as numbers (``size=4`` finds 4 and 4.0), booleans as booleans, text as
text, in SQL — a filter over 10,000 runs never loads a record.
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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repro.errors import StoreError
from repro.store.status import Status

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["INDEX_VERSION", "Condition", "Index", "IndexRow", "Value"]

_log = logging.getLogger(__name__)

_OPEN_ATTEMPTS = 50

_KINDS = {stat.S_IFDIR: "folder", stat.S_IFLNK: "link", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket"}

INDEX_VERSION = 4
"""Raised whenever the tables change, or what may be in them: an index of another version is
rebuilt from the records. 4: only valid records are indexed (an index of version 3 may hold rows
of records repro 0.4 refuses: pulled or planted with names that lead out of the store)."""

Value = str | int | float | bool

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
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
CREATE INDEX IF NOT EXISTS runs_key ON runs (key, status);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_name ON runs (name, started);
CREATE INDEX IF NOT EXISTS runs_user ON runs (user, started);
CREATE TABLE IF NOT EXISTS vals (
    run TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    num REAL,
    text TEXT,
    PRIMARY KEY (run, source, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vals_name ON vals (name, kind, num);
"""

_RUN_COLUMNS = (
    "id, key, name, label, status, exit_code, started_at, started, duration, manifest, params, image_id, "
    "git_commit, reproduces, error, user, uid"
)


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


@dataclass(frozen=True)
class Condition:
    """``name op value`` on a run's parameters or metrics (``size=4``, ``ipc>1.5``)."""

    name: str
    op: Literal["=", "!=", ">", "<"]
    value: Value


def _kind(value: Value) -> tuple[str, float | None, str | None]:
    if isinstance(value, bool):
        return "bool", float(value), None
    if isinstance(value, (int, float)):
        return ("num", float(value), None) if math.isfinite(value) else ("text", None, str(value))
    return "text", None, str(value)


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
                return sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None)
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
            connection.executescript(_SCHEMA)
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

    def put_many(self, entries: Iterable[tuple[RunRecord, Mapping[str, Value] | None]]) -> None:
        """Insert or update the rows of many records (with their parsed metrics) at once."""
        with self._cursor() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                for record, metrics in entries:
                    _insert(db, record, metrics)
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
                connection.execute("SELECT count(*) FROM runs").fetchone()
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
    def build(path: Path, entries: Iterable[tuple[RunRecord, Mapping[str, Value] | None]]) -> None:
        """Write a complete index of ``entries`` (records with their parsed metrics) as a new file
        at ``path`` (nothing else is touched)."""
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                connection.executescript(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {INDEX_VERSION}")
                connection.execute("BEGIN")
                for record, metrics in entries:
                    _insert(connection, record, metrics, fresh=True)
                connection.execute("COMMIT")
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot build an index at {path} ({exc})") from exc

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
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
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
        them (``users``: login names, or uids as digits) and conditions on parameters or metrics."""
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
        if ids is not None:
            if not ids:
                return []
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            args += list(ids)
        for condition in where:
            clause, values = _condition(condition)
            clauses.append(clause)
            args += values
        query = f"SELECT {_RUN_COLUMNS} FROM runs"  # noqa: S608 - only fixed text and placeholders
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._cursor() as db:
            return [_row(values) for values in db.execute(query, args)]

    def values(self, run_ids: Sequence[str], source: Literal["param", "metric"]) -> dict[str, dict[str, Value]]:
        """The parameters or metrics of each run in ``run_ids``, by name."""
        found: dict[str, dict[str, Value]] = {run: {} for run in run_ids}
        with self._cursor() as db:
            for start in range(0, len(run_ids), 500):
                chunk = list(run_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for run, name, kind, num, text in db.execute(
                    f"SELECT run, name, kind, num, text FROM vals WHERE source = ? AND run IN ({marks})",  # noqa: S608 - placeholders only
                    [source, *chunk],
                ):
                    found[run][name] = _value(kind, num, text)
        return found

    def rows_for_key(self, key: str, limit: int | None = None) -> list[IndexRow]:
        """The runs of the point ``key``, newest first."""
        query = f"SELECT {_RUN_COLUMNS} FROM runs WHERE key = ? ORDER BY started DESC, id DESC"  # noqa: S608
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
        with self._cursor() as db:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return [
                row[0] for row in db.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 3", [escaped + "%"])
            ]


def _condition(condition: Condition) -> tuple[str, list[object]]:
    """SQL for one condition: the run has a parameter or metric of that name that satisfies it."""
    kind, num, text = _kind(condition.value)
    values: list[object]
    if condition.op in (">", "<"):
        test, values = f"v.kind = 'num' AND v.num {condition.op} ?", [num]
    else:
        equal = "v.kind = ? AND v.num = ?" if kind != "text" else "v.kind = ? AND v.text = ?"
        test = equal if condition.op == "=" else f"NOT ({equal})"
        values = [kind, num if kind != "text" else text]
    # Only fixed SQL text is interpolated (the operator is one of four); every value is a placeholder.
    clause = f"EXISTS (SELECT 1 FROM vals v WHERE v.run = runs.id AND v.name = ? AND {test})"  # noqa: S608
    return clause, [condition.name, *values]


def _insert(
    db: sqlite3.Connection, record: RunRecord, metrics: Mapping[str, Value] | None, *, fresh: bool = False
) -> None:
    db.execute(f"INSERT OR REPLACE INTO runs ({_RUN_COLUMNS}) VALUES ({','.join('?' * 17)})", _row_values(record))  # noqa: S608
    if not fresh:
        db.execute("DELETE FROM vals WHERE run = ? AND source = 'param'", [record.id])
        if metrics is not None:
            db.execute("DELETE FROM vals WHERE run = ? AND source = 'metric'", [record.id])
    rows = [(record.id, "param", name, *_kind(value)) for name, value in record.point.params.items()]
    rows += [(record.id, "metric", name, *_kind(value)) for name, value in (metrics or {}).items()]
    db.executemany("INSERT OR REPLACE INTO vals VALUES (?,?,?,?,?,?)", rows)


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


def _value(kind: str, num: float | None, text: str | None) -> Value:
    if kind == "bool":
        return bool(num)
    if kind == "num" and num is not None:
        return int(num) if num.is_integer() and abs(num) < 2**53 else num
    return text or ""


def _row(values: tuple[object, ...]) -> IndexRow:
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
        id=str(id_),
        key=str(key),
        name=str(name),
        label=str(label),
        status=Status(str(status)),
        exit_code=exit_code if isinstance(exit_code, int) else None,
        started_at=str(started),
        duration=float(duration) if isinstance(duration, (int, float)) else None,
        manifest=str(manifest),
        params=json.loads(str(params)),
        image_id=str(image),
        git_commit=str(commit) if commit is not None else None,
        reproduces=str(rep) if rep is not None else None,
        error=str(error) if error is not None else None,
        user=str(user) if user is not None else None,
    )
