"""The store: a folder of run records, logs and outputs, with an SQLite index over them.

A :class:`Store` is found (:meth:`Store.locate`), made (:meth:`Store.create`), and is the one
handle commands receive. What it is made of lives beside it: the paths
(:mod:`repro.store.layout`, which draws the whole tree), runs and their records on disk
(:mod:`repro.store.runs`, all a job needs), the index (:mod:`repro.store.index`, a cache) and the
journal folded into it (:mod:`repro.store.fold`), content-addressed blobs, relocations
(:mod:`repro.store.relocations`) and the digest cache (:mod:`repro.provenance.statcache`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.errors import StoreError, UsageError
from repro.store.files import atomic_create, atomic_write, open_stored, read_stored
from repro.store.fold import fold_journal
from repro.store.index import Index, IndexEntry, IndexRow, Value
from repro.store.layout import RunFolder, StoreLayout, find_git_root
from repro.store.leases import PointLease
from repro.store.names import is_run_id
from repro.store.relocations import read_relocations, write_relocations
from repro.store.runs import RunFiles
from repro.store.status import Status
from repro.text import load_json

if TYPE_CHECKING:
    from repro.provenance.statcache import StatCache
    from repro.store.record import RunRecord
    from repro.store.staging import Staging

__all__ = ["STORE_ENV", "STORE_FORMAT", "Store"]

_log = logging.getLogger(__name__)

STORE_ENV = "REPRO_STORE"
STORE_FORMAT = 3
"""1: repro 0.1.0 (every job wrote the index). 2: jobs write files only and commands fold the
journal into the index; a store may be shared by a group. 3 (repro 0.3.0): runs another store
pushes wait whole in ``staging/`` until a command takes them in, and every final record enters
the store's log (``records.log``) — a repro of format 2 would leave pushed runs unseen and
records unlogged. A repro refuses a store of a format newer than its own (an older repro would
misread it); an older format is upgraded in place (by the next command here, or by a push)."""


class Store(RunFiles):
    """A store folder: create runs, write records, look them up.

    A store opened for a job (``job=True``: a Snakemake job, wherever it runs) writes run
    folders, records, journal entries and point markers, and never opens the index."""

    def __init__(self, root: Path, *, job: bool = False) -> None:
        super().__init__(StoreLayout(root.absolute()))
        self._job = job
        self._index = Index(self.layout.index)
        self._index_checked = False
        self._index_lock = threading.Lock()
        self._fold_lock = threading.Lock()
        self.facts = self._read_facts()
        if self.shared_group is not None:
            # Colleagues write here too: what this process creates stays group-writable (the
            # folders are setgid, so it also stays the group's).
            os.umask(os.umask(0) & 0o707)

    def _read_facts(self) -> dict[str, Any]:
        """``store.json``: its format (refused if newer than this repro's) and sharing."""
        try:
            data = load_json(read_stored(self.layout.marker))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except (OSError, ValueError, StoreError) as exc:
            raise StoreError(f"{self.layout.marker} is unreadable ({exc}); it marks {self.root} as a store") from exc
        if not isinstance(data, dict):
            raise StoreError(f"{self.layout.marker} is not a store's marker; it marks {self.root} as a store")
        found = data.get("repro_store")
        if not isinstance(found, int) or found > STORE_FORMAT:
            from repro import __version__

            raise StoreError(
                f"{self.root} is a store of format {found}, written by a newer repro; this repro "
                f"({__version__}) reads formats up to {STORE_FORMAT}: upgrade repro to use it"
            )
        return data

    @property
    def format(self) -> int:
        return int(self.facts.get("repro_store", STORE_FORMAT))

    @property
    def log_origin(self) -> str | None:
        """The origin of the store's log of records, as ``store.json`` names it (None: a store
        made before stores kept one; its next run starts it)."""
        log = self.facts.get("log")
        origin = log.get("origin") if isinstance(log, dict) else None
        return origin if isinstance(origin, str) and origin else None

    def _start_log(self) -> str:
        """Start the store's log with its final records, oldest first (a store made before logs
        existed has some); return the log's origin — the existing log's, if another process
        started it first."""
        from repro.store.tlog import new_origin, record_digest

        entries = []
        for record in self.records():
            digest = record_digest(self.run_folder(record.id).record)
            if record.status.final and digest is not None:
                entries.append((record.id, digest))
        with contextlib.suppress(FileExistsError):  # another process started it: its origin stands
            self.log.start(new_origin(), entries)
        return self.log.read().origin

    @property
    def shared_group(self) -> str | None:
        """The group a shared store belongs to (``repro init --shared GROUP``), or None."""
        shared = self.facts.get("shared")
        return str(shared["group"]) if isinstance(shared, dict) and shared.get("group") else None

    # -- finding and making a store -----------------------------------------------------------------

    @classmethod
    def locate(cls, explicit: Path | str | None = None, near: Path | None = None) -> Store:
        """The store to use: ``explicit``, else ``$REPRO_STORE``, else ``.repro`` at the git root
        of ``near`` (a manifest's folder) or of the current folder, else in the current folder."""
        chosen = explicit or os.environ.get(STORE_ENV)
        if chosen:
            store = cls(Path(chosen).expanduser())
            store._refuse_foreign_folder("--store" if explicit else f"${STORE_ENV}")
            return store
        start = (near or Path.cwd()).absolute()
        root = find_git_root(start) or find_git_root(Path.cwd().absolute()) or Path.cwd()
        return cls(root / ".repro")

    def _refuse_foreign_folder(self, given: str) -> None:
        """A path given as the store must be a store, an empty folder, or nothing yet: never
        another folder (its files would be taken for a store's, or buried in one)."""
        root = self.root
        try:
            if root.exists() and not root.is_dir():
                raise UsageError(f"{given} {root}: not a folder; give a store's folder, or a new path for one")
            if root.is_dir() and not self.exists and any(root.iterdir()):
                raise UsageError(
                    f"{given} {root}: a folder that is neither empty nor a repro store (no store.json); "
                    "give a store's folder, an empty one, or a new path"
                )
        except OSError as exc:
            raise UsageError(f"{given} {root}: cannot be read ({exc.strerror})") from exc

    @property
    def exists(self) -> bool:
        return self.layout.marker.is_file()

    def create(self, facts: Mapping[str, Any] | None = None) -> None:
        """Make the folder a store (idempotent; also completes a store unpacked from an artifact,
        and upgrades an older format in place). ``facts`` go into a new store's ``store.json``."""
        folders = (
            self.layout.runs,
            self.layout.points,
            self.layout.plans,
            self.layout.blobs,
            self.layout.journal,
            self.layout.staging.root,
        )
        try:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            if self.exists and self.format == STORE_FORMAT and self.log_origin is not None:
                return
            # A store inside a git tree must not make the tree dirty.
            gitignore = self.layout.gitignore
            if not gitignore.exists():
                gitignore.write_text("# repro's store: runs, logs and outputs are not source\n*\n")
            self.keep_reserve()
            self._index.create()  # so that a missing index later means a lost one
            data = {**self.facts, **(facts or {}), "repro_store": STORE_FORMAT}
            if self.log_origin is None:
                data["log"] = {"origin": self._start_log()}
            if self.exists:
                atomic_write(self.layout.marker, json.dumps(data).encode() + b"\n")
            else:
                with contextlib.suppress(FileExistsError):  # two jobs making one store: the first's stays
                    atomic_create(self.layout.marker, json.dumps(data).encode() + b"\n")
            self.facts = self._read_facts()
        except OSError as exc:
            raise StoreError(f"cannot create the store at {self.root}: {exc.strerror}") from exc

    def require(self) -> None:
        if not self.exists:
            raise UsageError(f"no repro store at {self.root}; run an experiment first, or pass --store DIR")

    def new_run(self, outputs_mode: int = 0o755) -> RunFolder:
        """Create the folder of a new run (and the store, if it is not there yet)."""
        self.create()
        return self.new_run_folder(outputs_mode)

    # -- the index ----------------------------------------------------------------------------------

    @property
    def index(self) -> Index:
        """The store's index, rebuilt from the records first if it is missing or unreadable (it is
        a cache; the records are the truth), with the journal folded in."""
        if self._job:
            raise StoreError(f"a job may not open the index of {self.root}: jobs write records and journal entries")
        if not self._index_checked:
            with self._index_lock:
                if not self._index_checked and self.exists:
                    problem = self._index.readable()
                    if problem is not None:
                        count = self.rebuild_index()
                        if problem != "missing" or count:
                            _log.warning(
                                "the index of %s was %s; rebuilt it from %d records", self.root, problem, count
                            )
                self._index_checked = self._index_checked or self.exists
        self.fold()
        return self._index

    def fold(self) -> int:
        """Take in what another store pushed here, complete and checked (see
        :mod:`repro.store.staging`), then fold the journal into the index (see
        :mod:`repro.store.fold`); return how many runs it indexed. One fold at a time per
        process; a job never folds."""
        if self._job or not self.exists or not self._fold_lock.acquire(blocking=False):
            return 0
        try:
            self._take_staged()
            return fold_journal(self, self._index)
        finally:
            self._fold_lock.release()

    @property
    def staging(self) -> Staging:
        """Where another store's files wait until they are complete and checked."""
        from repro.store.staging import Staging

        return Staging(self)

    def _take_staged(self) -> None:
        if not self.layout.staging.marks_waiting():
            return  # nothing arrived (every command asks): the staging machinery is not loaded
        arrival = self.staging.promote()
        if arrival is None:
            return
        for line in arrival.refused:
            _log.warning("%s", line)
        if arrival.runs:
            _log.info("took in %d run(s) another store sent here", len(arrival.runs))

    def rebuild_index(
        self,
        metrics: Callable[[RunRecord], Mapping[str, Value] | None] | None = None,
        skipped: Callable[[str], None] | None = None,
    ) -> int:
        """Rebuild the index from the valid records on disk (each invalid one is skipped with a
        line for ``skipped``), beside the old one, and swap it in; return how many runs it holds.
        Each run's metrics come from ``metrics`` (default: its ``metrics.json``, when bound to
        its outputs). Records are read one at a time (a store may hold a million), and only what
        the index keeps of each is held. If the rebuild fails (a full disk), the old index is
        untouched."""
        self.require()
        metrics_of = metrics or self.metrics_of
        count = 0

        def entries() -> Iterator[IndexEntry]:
            nonlocal count
            for record in self.records(skipped):  # one at a time: a record may be tens of MB
                count += 1
                yield IndexEntry.of(record, metrics_of(record))

        built = self.layout.index.with_name(f".{self.layout.index.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        try:
            Index.build(built, entries())
        except BaseException as exc:
            built.unlink(missing_ok=True)
            if isinstance(exc, StoreError):
                raise StoreError(f"{exc}; the old index is untouched") from exc
            raise
        self._index.swap_in(built)
        self._index_checked = True
        return count  # the journal stays: the next fold marks its succeeded points

    def resolve(self, ref: str) -> str:
        """A run id from a unique prefix of it."""
        if is_run_id(ref) and self.run_folder(ref).record.is_file():
            return ref
        matches = self.index.ids_starting_with(ref) if self.exists else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(f"no run {ref!r} in {self.root} (see: repro log)")
        raise UsageError(f"{ref!r} names several runs ({', '.join(matches[:2])}, …); give more of the id")

    def runs(self, limit: int | None = None, name: str | None = None, **filters: Any) -> list[IndexRow]:
        """Runs as the index knows them, newest first (filters: see :meth:`Index.rows`)."""
        return self.index.rows(limit=limit, name=name, **filters) if self.exists else []

    def latest_succeeded(self) -> list[str]:
        """The newest succeeded run of every point key in the store, oldest first (what
        ``verify --all`` and ``pack --all`` take)."""
        seen: dict[str, str] = {}
        for row in self.runs():  # newest first
            if row.status is Status.SUCCEEDED and row.key not in seen:
                seen[row.key] = row.id
        return sorted(seen.values())

    # -- what runs share ------------------------------------------------------------------------------

    def relocations(self) -> dict[str, dict[str, str]]:
        """Where recorded repositories and inputs are now (see :mod:`repro.store.relocations`)."""
        return read_relocations(self.layout.relocations)

    def write_relocations(self, repositories: dict[str, str], inputs: dict[str, str]) -> None:
        write_relocations(self.layout.relocations, repositories, inputs)

    def digest_cache(self, *, readonly: bool = False) -> StatCache | None:
        """The stat-keyed digest cache of this store (None while the store does not exist);
        ``readonly``: look digests up, write none."""
        from repro.provenance.statcache import StatCache

        return StatCache(self.layout.digest_cache, readonly=readonly) if self.exists else None

    def lease(self, key: str) -> PointLease:
        """The lease whose holder alone may run the point ``key`` (see :mod:`repro.store.leases`)."""
        return PointLease(self.layout.lease(key))

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` once by its sha256 and return that digest (hex)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.layout.blob(digest)
        if not self._blob_is(path, digest):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, data)
                path.chmod(0o444)
            except OSError as exc:
                raise StoreError(f"cannot write to the store: {exc.strerror} in {self.root}") from exc
        return digest

    @staticmethod
    def _blob_is(path: Path, digest: str) -> bool:
        try:
            fd = open_stored(path)
        except (OSError, StoreError):
            return False
        with os.fdopen(fd, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == digest

    def place_blob(self, digest: str, destination: Path) -> None:
        """Place the blob ``digest`` at ``destination``: its content checked against its name
        first (in a group's store anyone in the group may replace a blob; a link is never
        followed), then hard-linked when possible, else copied. Raises :class:`StoreError`
        when the blob is missing or is not what its name says."""
        path = self.layout.blob(digest)
        try:
            fd = open_stored(path)
        except OSError as exc:
            raise StoreError(f"the blob {digest[:12]} is missing from {self.root} ({exc.strerror})") from exc
        with os.fdopen(fd, "rb") as handle:
            if hashlib.file_digest(handle, "sha256").hexdigest() != digest:
                raise StoreError(f"the blob {path} is not what its name says (it was replaced?); it is not used")
            try:  # the checked file itself, by its descriptor: a swap since then changes nothing
                os.link(f"/proc/self/fd/{handle.fileno()}", destination, follow_symlinks=True)
            except OSError:
                handle.seek(0)
                with destination.open("xb") as copy:
                    shutil.copyfileobj(handle, copy, 1 << 20)
