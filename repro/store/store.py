"""The store: a folder of run records, logs and outputs, with an SQLite index.

This module owns the store's layout: every path under the store is built by
:class:`StoreLayout`, and nowhere else. The embedded store is ``.repro/`` at the manifest's
git root by default::

    .repro/
      store.json                 marks the folder as a store; format version
      .gitignore                 keeps the store out of the repository it sits in
      index.sqlite               the index (a cache: rebuilt from records by `repro reindex`)
      runs/<run id>/             one folder per run
        record.json              the run record (written atomically; final records never change)
        stdout.log stderr.log    the container's output streams
        git.diff                 the uncommitted changes, when the tree was dirty
        outputs/                 the container's output folder (the only writable mount)
      points/<key>.json          the newest succeeded run of each point (Snakemake's job output)
      leases/<key>.lock          held (flock) by the driver running the point: one runner per point
      plans/<id>.json            the points handed to Snakemake for one `repro run`
      drivers/<plan id>.log      what a detached driver (`repro run --detach`) printed
      blobs/sha256/<hex>         content-addressed files shared by runs (diffs)
      cache/digests.sqlite       input digests by file status (a cache: may be deleted)
      images/                    images kept by `repro archive`: an OCI image layout (see repro.store.images)
        oci-layout               the OCI image layout's version marker
        index.json               one manifest per image, named by its image ID's hex (and its tags)
        index.json.lock          held (flock) while index.json is replaced
        blobs/sha256/<hex>       manifests, configs and layers, content-addressed, read-only
        loaded.json              images repro loaded into the engine (`repro gc` may remove them)
        builds/<image id>.json   what went into an image `repro build` made
      shells/<id>.json           `repro shell` sessions (never runs)
      shells/<id>/outputs/       a shell session's scratch output folder
      relocations.json           where an unpacked artifact's repositories and inputs are now
      reserve                    1 MiB held back so that a full disk still gets final records
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from repro.errors import StoreError, UsageError
from repro.provenance.statcache import StatCache
from repro.store.index import Index, IndexRow
from repro.store.leases import PointLease
from repro.store.record import SCHEMA_VERSION, RunRecord, Status

__all__ = ["STORE_ENV", "RunFolder", "Store", "StoreLayout", "atomic_write", "find_git_root"]

_log = logging.getLogger(__name__)

STORE_ENV = "REPRO_STORE"
STORE_FORMAT = 1
RESERVE_BYTES = 1 << 20
"""Disk space the store holds back so that a run that fills the disk still gets its final record."""


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            temporary.chmod(mode & 0o7777)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def find_git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git``."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


@dataclass(frozen=True)
class StoreLayout:
    """Every path under a store's root (see the module's docstring for the picture)."""

    root: Path

    @property
    def marker(self) -> Path:
        return self.root / "store.json"

    @property
    def gitignore(self) -> Path:
        return self.root / ".gitignore"

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def run(self, run_id: str) -> Path:
        return self.runs / run_id

    @property
    def points(self) -> Path:
        return self.root / "points"

    def point_marker(self, key: str) -> Path:
        return self.points / f"{key}.json"

    def lease(self, key: str) -> Path:
        return self.root / "leases" / f"{key}.lock"

    def driver_log(self, plan_id: str) -> Path:
        return self.root / "drivers" / f"{plan_id}.log"

    @property
    def plans(self) -> Path:
        return self.root / "plans"

    def plan(self, plan_id: str) -> Path:
        return self.plans / f"{plan_id}.json"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    def blob(self, hex_digest: str) -> Path:
        return self.blobs / hex_digest

    @property
    def digest_cache(self) -> Path:
        return self.root / "cache" / "digests.sqlite"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def image_blobs(self) -> Path:
        return self.images / "blobs" / "sha256"

    def image_blob(self, digest: str) -> Path:
        """A blob of the image archive, by its digest (``sha256:…`` or bare hex)."""
        return self.image_blobs / digest.removeprefix("sha256:")

    @property
    def images_oci_layout(self) -> Path:
        return self.images / "oci-layout"

    @property
    def images_index(self) -> Path:
        return self.images / "index.json"

    @property
    def images_index_lock(self) -> Path:
        return self.images / "index.json.lock"

    def legacy_image_entries(self) -> list[Path]:
        """``images/<image id hex>.json``: repro 0.1.0's own index of an archived image (upgraded
        to the OCI layout on first use)."""
        if not self.images.is_dir():
            return []
        hexes = (p for p in self.images.glob("*.json") if len(p.stem) == 64)
        return sorted(p for p in hexes if not p.stem.strip("0123456789abcdef"))

    @property
    def images_loaded(self) -> Path:
        return self.images / "loaded.json"

    def build_record(self, image_id: str) -> Path:
        return self.images / "builds" / f"{image_id.removeprefix('sha256:')}.json"

    @property
    def shells(self) -> Path:
        return self.root / "shells"

    def shell_session(self, session_id: str) -> Path:
        return self.shells / f"{session_id}.json"

    def shell_outputs(self, session_id: str) -> Path:
        return self.shells / session_id / "outputs"

    @property
    def relocations(self) -> Path:
        return self.root / "relocations.json"

    @property
    def reserve(self) -> Path:
        return self.root / "reserve"


@dataclass(frozen=True)
class RunFolder:
    """The folder of one run."""

    run_id: str
    path: Path

    @property
    def record(self) -> Path:
        return self.path / "record.json"

    @property
    def outputs(self) -> Path:
        return self.path / "outputs"

    @property
    def stdout(self) -> Path:
        return self.path / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.path / "stderr.log"


class Store:
    """A store folder: create runs, write records, look them up."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.layout = StoreLayout(self.root)
        self._index = Index(self.layout.index)
        self._index_checked = False
        self._index_lock = threading.Lock()

    @property
    def index(self) -> Index:
        """The store's index, rebuilt from the records first if it is missing or unreadable (it is
        a cache; the records are the truth)."""
        if not self._index_checked:
            with self._index_lock:
                if not self._index_checked and self.exists:
                    problem = self._index.readable()
                    if problem is not None:
                        count = self.rebuild_index()
                        _log.warning("the index of %s was %s; rebuilt it from %d records", self.root, problem, count)
                self._index_checked = self._index_checked or self.exists
        return self._index

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

    def create(self) -> None:
        """Make the folder a store (idempotent; also completes a store unpacked from an artifact)."""
        try:
            for folder in (self.layout.runs, self.layout.points, self.layout.plans, self.layout.blobs):
                folder.mkdir(parents=True, exist_ok=True)
            if self.exists:
                return
            # A store inside a git tree must not make the tree dirty.
            gitignore = self.layout.gitignore
            if not gitignore.exists():
                gitignore.write_text("# repro's store: runs, logs and outputs are not source\n*\n")
            self._index.put_many([])  # creates the index (WAL, schema) before any parallel writer
            self._index_checked = True
            self.keep_reserve()
            atomic_write(self.layout.marker, json.dumps({"repro_store": STORE_FORMAT}).encode() + b"\n")
        except OSError as exc:
            raise StoreError(f"cannot create the store at {self.root}: {exc.strerror}") from exc

    def require(self) -> None:
        if not self.exists:
            raise UsageError(f"no repro store at {self.root}; run an experiment first, or pass --store DIR")

    # -- runs ----------------------------------------------------------------------------------

    def new_run(self, outputs_mode: int = 0o755) -> RunFolder:
        """Create the folder of a new run, with an id that sorts by start time."""
        self.create()
        self.keep_reserve()  # given up to a full disk before: take it back when there is room
        try:
            return self._new_run(outputs_mode)
        except OSError as exc:
            raise StoreError(f"cannot start a run in the store: {exc.strerror} in {self.root}") from exc

    def _new_run(self, outputs_mode: int) -> RunFolder:
        for _ in range(100):
            run_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
            path = self.layout.run(run_id)
            try:
                path.mkdir()
            except FileExistsError:
                continue
            (path / "outputs").mkdir()
            # Only chmod when asked: the container may run as another uid (user: root/image).
            if outputs_mode != 0o755:
                # Writable by the container's user means by every user: the run's own folder is
                # closed to all but the driver meanwhile, so nobody else can reach the outputs and
                # plant files in them before they are hashed (the mount needs no path through it).
                path.chmod(0o700)
                (path / "outputs").chmod(outputs_mode)
            return RunFolder(run_id, path)
        raise StoreError(f"cannot allocate a run id under {self.layout.runs}")

    def run_folder(self, run_id: str) -> RunFolder:
        return RunFolder(run_id, self.layout.run(run_id))

    def write_record(self, record: RunRecord) -> RunRecord:
        """Write ``record`` atomically and index it; return it as written. A final record is
        never overwritten."""
        folder = self.run_folder(record.id)
        existing = self._read_status(folder.record)
        if existing is not None and existing != "running":
            raise StoreError(f"record {record.id} is final ({existing}); records are never edited")
        # Written by this repro: in this repro's schema, whatever version the record was read in.
        record = record.model_copy(update={"schema_version": SCHEMA_VERSION})
        try:
            self._write_with_reserve(folder.record, record)
        except OSError as exc:
            raise StoreError(f"cannot write {folder.record}: {exc.strerror}") from exc
        try:
            self.index.put(record)
        except StoreError as exc:
            # The record on disk is the truth and is safe; the index is a cache that
            # `repro reindex` rebuilds. Losing an index row must not lose the run.
            _log.warning("%s (record %s is written)", exc, record.id)
        return record

    def _write_with_reserve(self, path: Path, record: RunRecord) -> None:
        """Write the record; on a full disk, give up the store's reserve to write it all the same
        (a final record must say what happened, even when the run filled the disk)."""
        data = record.model_dump_json(indent=2).encode() + b"\n"
        try:
            atomic_write(path, data)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
        self.layout.reserve.unlink(missing_ok=True)
        try:
            atomic_write(path, data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or record.outputs is None:
                raise
            # Still no room: the file list goes (its tree digest stays), and the record says so.
            reason = f"the list of output files was left out of this record: {exc.strerror} in {self.root}"
            outputs = record.outputs.model_copy(update={"files": []})
            short = record.model_copy(update={"outputs": outputs, "error": record.error or reason})
            atomic_write(path, short.model_dump_json().encode() + b"\n")

    def keep_reserve(self) -> None:
        """Hold :data:`RESERVE_BYTES` of the store's disk for final records (see
        :meth:`write_record`); a no-op when it is held, or when the disk has no room for it."""
        path = self.layout.reserve
        if path.exists():
            return
        try:
            with path.open("xb") as handle:
                os.posix_fallocate(handle.fileno(), 0, RESERVE_BYTES)
        except FileExistsError:
            return
        except OSError:
            path.unlink(missing_ok=True)

    @staticmethod
    def _read_status(path: Path) -> str | None:
        try:
            status = json.loads(path.read_bytes()).get("status")
        except (OSError, ValueError, AttributeError):
            return None
        return str(status) if status is not None else None

    def load(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` as stored on disk."""
        path = self.run_folder(run_id).record
        try:
            return RunRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise UsageError(f"no run {run_id} in {self.root}") from None
        except ValidationError as exc:
            raise StoreError(f"record {path} is corrupt ({exc.error_count()} problems); it cannot be used") from exc

    def resolve(self, ref: str) -> str:
        """A run id from a unique prefix of it."""
        if self.run_folder(ref).record.is_file():
            return ref
        matches = self.index.ids_starting_with(ref) if self.exists else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(f"no run {ref!r} in {self.root} (see: repro log)")
        raise UsageError(f"{ref!r} names several runs ({', '.join(matches[:2])}, …); give more of the id")

    def records(self) -> Iterator[RunRecord]:
        """Every readable record on disk (corrupt ones are skipped)."""
        runs = self.layout.runs
        if not runs.is_dir():
            return
        for folder in sorted(runs.iterdir()):
            try:
                yield RunRecord.model_validate_json(self.run_folder(folder.name).record.read_bytes())
            except (OSError, ValidationError):
                continue

    def runs(self, limit: int | None = None, name: str | None = None) -> list[IndexRow]:
        return self.index.rows(limit=limit, name=name) if self.exists else []

    def latest_succeeded(self) -> list[str]:
        """The newest succeeded run of every point key in the store, oldest first (what
        ``verify --all`` and ``pack --all`` take)."""
        seen: dict[str, str] = {}
        for row in self.runs():  # newest first
            if row.status is Status.SUCCEEDED and row.key not in seen:
                seen[row.key] = row.id
        return sorted(seen.values())

    def rebuild_index(self) -> int:
        """Rebuild the index from the records on disk, beside the old one, and swap it in; return
        how many runs it holds. If the rebuild fails (a full disk), the old index is untouched."""
        self.require()
        records = list(self.records())
        built = self.layout.index.with_name(f".{self.layout.index.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        try:
            Index.build(built, records)
        except StoreError as exc:
            built.unlink(missing_ok=True)
            raise StoreError(f"{exc}; the old index is untouched") from exc
        self._index.swap_in(built)
        self._index_checked = True
        return len(records)

    def relocations(self) -> dict[str, dict[str, str]]:
        """Where recorded repositories and inputs are now (``relocations.json``, written by
        ``repro unpack``): ``{"repositories": {old root: path}, "inputs": {digest: path}}``."""
        try:
            data = json.loads(self.layout.relocations.read_text())
        except FileNotFoundError:
            return {"repositories": {}, "inputs": {}}
        except (OSError, ValueError) as exc:
            raise StoreError(f"{self.layout.relocations} is unreadable ({exc}); fix or delete it") from exc
        return {
            "repositories": dict(data.get("repositories") or {}),
            "inputs": dict(data.get("inputs") or {}),
        }

    def write_relocations(self, repositories: dict[str, str], inputs: dict[str, str]) -> None:
        """Say where recorded repositories (old root → path) and inputs (digest → path) are now."""
        data = {"repositories": repositories, "inputs": inputs}
        atomic_write(self.layout.relocations, json.dumps(data, indent=2).encode() + b"\n")

    def digest_cache(self) -> StatCache | None:
        """The stat-keyed digest cache of this store (None while the store does not exist)."""
        return StatCache(self.layout.digest_cache) if self.exists else None

    # -- points and blobs -------------------------------------------------------------------------

    def point_marker(self, key: str) -> Path:
        """The file that says which run last succeeded for ``key`` (a Snakemake job's output)."""
        return self.layout.point_marker(key)

    def lease(self, key: str) -> PointLease:
        """The lease whose holder alone may run the point ``key`` (see :mod:`repro.store.leases`)."""
        return PointLease(self.layout.lease(key))

    def mark_point(self, key: str, run_id: str) -> None:
        folder = self.run_folder(run_id)
        marker = {
            "run": run_id,
            "record": folder.record.relative_to(self.root).as_posix(),
            "outputs": folder.outputs.relative_to(self.root).as_posix(),
        }
        try:
            atomic_write(self.point_marker(key), json.dumps(marker).encode() + b"\n")
        except OSError as exc:
            raise StoreError(f"cannot mark point {key[:12]} done: {exc.strerror} in {self.root}") from exc

    def put_blob(self, data: bytes) -> Path:
        """Store ``data`` once by its sha256 and return its path."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.layout.blob(digest)
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, data)
                path.chmod(0o444)
            except OSError as exc:
                raise StoreError(f"cannot write to the store: {exc.strerror} in {self.root}") from exc
        return path

    def link_blob(self, blob: Path, destination: Path) -> None:
        """Place ``blob`` at ``destination`` (hard link when possible, else a copy)."""
        try:
            os.link(blob, destination)
        except OSError:
            destination.write_bytes(blob.read_bytes())
