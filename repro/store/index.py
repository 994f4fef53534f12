"""The SQLite index over a store's records: fast listing and lookup by point key.

Records on disk are the truth; this index is a cache of a few of their fields and can be
rebuilt from them at any time (:meth:`Index.rebuild`). Each thread gets its own connection;
WAL mode and a generous busy timeout let parallel jobs (threads or processes) write at once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from repro.errors import StoreError
from repro.store.record import RunRecord, Status

__all__ = ["Index", "IndexRow"]

_OPEN_ATTEMPTS = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    started_at TEXT NOT NULL,
    duration REAL,
    manifest TEXT NOT NULL,
    params TEXT NOT NULL,
    image_id TEXT NOT NULL,
    git_commit TEXT,
    reproduces TEXT
);
CREATE INDEX IF NOT EXISTS runs_key ON runs (key, status);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
"""


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


class Index:
    """The ``index.sqlite`` of one store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open()
            self._local.connection = connection
        return connection

    def _open(self) -> sqlite3.Connection:
        # Switching to WAL, and creating the schema, need a moment of exclusive access; parallel
        # jobs opening the index at once may find it busy, which the busy timeout does not cover.
        last: sqlite3.Error | None = None
        for attempt in range(_OPEN_ATTEMPTS):
            connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    connection.execute("PRAGMA journal_mode=WAL")
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
            # A full disk: SQLite cannot make the WAL's shared-memory file, but the index can
            # still be read as it is (writes then fail, and records stay the truth).
            return sqlite3.connect(f"{self.path.as_uri()}?immutable=1", uri=True, isolation_level=None)
        raise StoreError(f"cannot open the store index {self.path} ({last}); rebuild it: repro reindex")

    @staticmethod
    def _schema(connection: sqlite3.Connection) -> None:
        """Create the table and its indexes; an index that cannot be added now (a full disk, a
        read-only store) is not needed to read the table."""
        exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone()
        try:
            connection.executescript(_SCHEMA)
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

    def put(self, record: RunRecord) -> None:
        """Insert or update the row of ``record``."""
        with self._cursor() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                _row_values(record),
            )

    def put_many(self, records: Iterable[RunRecord]) -> None:
        with self._cursor() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (_row_values(r) for r in records),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def readable(self) -> str | None:
        """None when the index can be read; otherwise why not (``missing``, ``unreadable (…)``).
        Only damage counts: an index a full disk keeps from growing is still readable."""
        if not self.path.is_file():
            return "missing"
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
                connection.execute("SELECT count(*) FROM runs").fetchone()
            finally:
                connection.close()
        except sqlite3.DatabaseError as exc:
            damaged = ("malformed", "not a database", "no such table", "corrupt")
            if any(word in str(exc) for word in damaged):
                return f"unreadable ({exc})"
        return None

    @staticmethod
    def build(path: Path, records: Iterable[RunRecord]) -> None:
        """Write a complete index of ``records`` as a new file at ``path`` (nothing else is touched)."""
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                connection.executescript(_SCHEMA)
                connection.execute("BEGIN")
                connection.executemany(
                    "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (_row_values(r) for r in records)
                )
                connection.execute("COMMIT")
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot build an index at {path} ({exc})") from exc

    def swap_in(self, built: Path) -> None:
        """Make the index file ``built`` (see :meth:`build`) this index, in one rename: readers see
        the old index or the new one, never neither."""
        self.close()
        with contextlib.suppress(sqlite3.Error, OSError):  # fold the old WAL in, so none is left over
            old = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            try:
                old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                old.close()
        built.replace(self.path)
        for suffix in ("-wal", "-shm"):  # an old WAL must never be replayed into the new file
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

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
                    "ORDER BY started_at, id",
                    chunk,
                )
                found.update(dict(rows))
        return found

    def rows(self, limit: int | None = None, name: str | None = None) -> list[IndexRow]:
        """Runs, newest first."""
        query = "SELECT * FROM runs"
        args: list[object] = []
        if name is not None:
            query += " WHERE name = ?"
            args.append(name)
        query += " ORDER BY started_at DESC, id DESC"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._cursor() as db:
            return [_row(values) for values in db.execute(query, args)]

    def rows_for_key(self, key: str, limit: int | None = None) -> list[IndexRow]:
        """The runs of the point ``key``, newest first."""
        query = "SELECT * FROM runs WHERE key = ? ORDER BY started_at DESC, id DESC"
        args: list[object] = [key]
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._cursor() as db:
            return [_row(values) for values in db.execute(query, args)]

    def running(self, key: str | None = None) -> list[IndexRow]:
        """Runs whose record says ``running`` (of the point ``key``, if given), oldest first."""
        query = "SELECT * FROM runs WHERE status = 'running'"
        args: list[object] = []
        if key is not None:
            query += " AND key = ?"
            args.append(key)
        with self._cursor() as db:
            return [_row(values) for values in db.execute(query + " ORDER BY started_at, id", args)]

    def ids_starting_with(self, prefix: str) -> list[str]:
        with self._cursor() as db:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return [
                row[0] for row in db.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 3", [escaped + "%"])
            ]


def _row_values(record: RunRecord) -> tuple[object, ...]:
    return (
        record.id,
        record.point.key,
        record.manifest.name,
        record.point.label,
        record.status.value,
        record.exit_code,
        record.started_at.isoformat(),
        record.duration_seconds,
        record.manifest.path,
        json.dumps(record.point.params),
        record.image.id,
        record.git.commit if record.git else None,
        record.reproduces,
    )


def _row(values: tuple[object, ...]) -> IndexRow:
    (id_, key, name, label, status, exit_code, started, duration, manifest, params, image, commit, rep) = values
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
    )
