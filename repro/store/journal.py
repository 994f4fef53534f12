"""The journal: how a run reaches the index without its writer ever opening the index.

Whoever writes a record — a job on a cluster node, a thread of ``repro run``, ``repro push``
on the other side of an SSH link — then drops an empty file in ``journal/`` named after the
run. A command that reads the index first *folds* the journal into it: it lists the entries,
reads the records they name (the records are the truth), writes them into the index in one
transaction, and removes exactly the entries it listed. An entry made while a fold runs is
left for the next one, so no update is lost, and folding twice is harmless (a row is replaced
by the same row).

Why this is safe where a store lives (local disks, NFSv3/v4, Lustre, GPFS/Spectrum Scale,
CephFS, BeeGFS): a job only creates files with ``O_CREAT|O_EXCL`` under a name no one else
uses, or replaces a whole file by ``rename`` within one folder — both atomic on all of them,
and a reader that opens a file after the rename sees all of it (NFS's close-to-open
consistency). No job opens an SQLite database for writing, so neither SQLite's byte-range
locks (unreliable on some NFS setups, per-node on Lustre mounted without ``flock``) nor WAL's
shared-memory file (which assumes one host) matter to jobs. The index and the digest cache are
written only by commands a person runs (the submit side), in SQLite's rollback-journal mode —
never WAL — so two people on two login nodes of one NFS store are serialised by the
filesystem's lock manager. Where a filesystem has no working locks, two folds at the same
instant could damage the index; it is a cache, and the next command that finds it unreadable
rebuilds it from the records, which no fold ever writes. Point leases (:mod:`repro.store.leases`)
use ``flock``, which Linux's NFS client maps to NFS locks; Lustre needs ``-o flock``.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from repro.store.names import is_run_id

__all__ = ["Entry", "Journal"]


@dataclass(frozen=True, slots=True)
class Entry:
    run_id: str | None
    """The run whose record was written; None when the entry's name does not begin with a run id."""
    folder: str
    name: str

    @property
    def path(self) -> Path:
        return Path(self.folder, self.name)


class Journal:
    """The ``journal/`` folder of one store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def note(self, run_id: str) -> None:
        """Say that the record of ``run_id`` was written (raises OSError if it cannot)."""
        if not is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        name = f"{run_id}.{time.time_ns():x}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True)  # a store made before the journal existed
            fd = os.open(self.folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        os.close(fd)

    def pending(self) -> list[Entry]:
        """The entries waiting to be folded (none when the folder is missing). An entry's name is
        input like any file's (a push writes entries, so may a colleague): one that does not
        begin with a run id is an entry too, whose ``run_id`` is None — never folded, only
        cleared."""
        try:
            with os.scandir(self.folder) as listing:
                names = [item.name for item in listing if not item.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError):
            return []
        folder = str(self.folder)
        entries = []
        for name in names:
            run_id = name.split(".", 1)[0]
            entries.append(Entry(run_id if is_run_id(run_id) else None, folder, name))
        return entries

    @staticmethod
    def clear(entries: Iterable[Entry]) -> None:
        """Remove folded entries (one already gone was folded by someone else); thousands of
        them by two threads (an unlink waits on the disk's journal, not on the interpreter)."""
        by_folder: dict[str, list[str]] = {}
        for entry in entries:
            by_folder.setdefault(entry.folder, []).append(entry.name)
        for folder, names in by_folder.items():
            try:
                opened = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                continue  # gone with its entries
            try:
                if len(names) < _THREADED_FROM:
                    _unlink(opened, names)
                    continue
                helper = threading.Thread(target=_unlink, args=(opened, names[1::2]), name="repro-journal-clear")
                helper.start()
                try:
                    _unlink(opened, names[0::2])
                finally:
                    helper.join()
            finally:
                os.close(opened)


_THREADED_FROM = 1000


def _unlink(folder: int, names: Iterable[str]) -> None:
    for name in names:
        try:
            os.unlink(name, dir_fd=folder)
        except OSError:  # gone: folded by another; not ours to remove: folded again
            continue
