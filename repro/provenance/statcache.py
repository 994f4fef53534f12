"""A cache of file digests keyed by what ``lstat`` says, so unchanged inputs are not re-read.

The key is (device, inode, size, mtime_ns, ctime_ns). Writing a file changes its ctime, and so
does restoring its mtime with ``touch``/``os.utime``. The kernel stamps times from a coarse
clock, so two writes within one tick can share a ctime: files changed in the last two seconds
are therefore never cached (git's "racy clean" problem, solved the same way). A multi-GB disk
image mounted by every point of a sweep is read once, then re-checked by one ``lstat``.

Only commands write it; a Snakefile read (in a job process too) opens it read-only, and a cache
that cannot be opened (locked, on a filesystem without locks) is no cache: everything is hashed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

from repro.provenance.hashing import hash_file

__all__ = ["StatCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)
"""


_SETTLED_NS = 2_000_000_000


def _key(status: os.stat_result) -> tuple[int, int, int, int, int]:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


class StatCache:
    """``hash_tree``'s file hasher, remembering digests in an SQLite file."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        """Look digests up, never write one (reading a Snakefile, a job on a cluster node)."""
        self.hits = 0
        self.misses = 0
        # One connection shared by the hashing threads: lookups take microseconds, reads take long.
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._unusable = False

    def _db(self) -> sqlite3.Connection | None:
        if self._connection is None and not self._unusable:
            try:
                if self.readonly:
                    uri = f"{self.path.as_uri()}?mode=ro"
                    db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
                    db.execute("SELECT 1 FROM digests LIMIT 1")
                    self._connection = db
                    return db
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                # Rollback journal, not WAL: WAL's shared-memory file assumes one host, and a store
                # may sit on NFS with commands on several login nodes (see repro.store.journal).
                db.execute("PRAGMA journal_mode=DELETE")
                db.execute(_SCHEMA)
            except (OSError, sqlite3.Error):
                self._unusable = True  # a cache that cannot open is no cache: hash everything
                return None
            self._connection = db
        return self._connection

    def _lookup(self, absolute: str) -> tuple[object, ...] | None:
        with self._lock:
            db = self._db()
            if db is None:
                return None
            try:
                row = db.execute(
                    "SELECT device, inode, size, mtime_ns, ctime_ns, sha256 FROM digests WHERE path = ?",
                    (absolute,),
                ).fetchone()
            except sqlite3.Error:
                return None
            return tuple(row) if row is not None else None

    def _remember(self, absolute: str, status: os.stat_result, digest: str) -> None:
        with self._lock:
            self.misses += 1
            if self.readonly:
                return
            # "Racy" files (as git calls them): changed within the timestamp clock's coarse tick of
            # now, a further write could keep the same ctime. Only settled files are remembered.
            if time.time_ns() - max(status.st_ctime_ns, status.st_mtime_ns) < _SETTLED_NS:
                return
            db = self._db()
            if db is None:
                return
            with contextlib.suppress(sqlite3.Error):  # the digest is right either way
                db.execute("INSERT OR REPLACE INTO digests VALUES (?,?,?,?,?,?,?)", (absolute, *_key(status), digest))

    def __call__(self, path: Path, status: os.stat_result) -> str:
        """The sha256 of ``path`` whose ``lstat`` was ``status``."""
        absolute = str(path.absolute())
        row = self._lookup(absolute)
        if row is not None and row[:5] == _key(status):
            with self._lock:
                self.hits += 1
            return str(row[5])
        digest = hash_file(path, status)
        self._remember(absolute, status, digest)
        return digest

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
