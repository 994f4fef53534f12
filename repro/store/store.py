"""The store: a folder of run records, logs and outputs, with an SQLite index.

This module owns the store's layout: every path under the store is built by
:class:`StoreLayout`, and nowhere else. The embedded store is ``.repro/`` at the manifest's
git root by default::

    .repro/
      store.json                 marks the folder as a store; format version; group, if shared
      .gitignore                 keeps the store out of the repository it sits in
      index.sqlite               the index (a cache: rebuilt from records by `repro reindex`)
      journal/<run id>.<…>       records written since the index last saw them (see journal.py)
      runs/<run id>/             one folder per run
        record.json              the run record (written atomically; final records never change)
        metrics.json             its metrics as parsed when it ended (derived; indexed)
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
        incoming/<image id>.json images `repro push` sent here, until a command indexes them
        builds/<image id>.json   what went into an image `repro build` made
      shells/<id>.json           `repro shell` sessions (never runs)
      shells/<id>/outputs/       a shell session's scratch output folder
      relocations.json           where an unpacked artifact's repositories and inputs are now
      bundles/<commit>.bundle    pushed here: the commit runs were made from, for reruns elsewhere
      inputs/<digest hex>        pushed here: an input's content (a file or a folder), by digest
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.errors import StoreError, UsageError
from repro.store.index import Index, IndexRow, Value
from repro.store.journal import Journal
from repro.store.leases import PointLease
from repro.store.status import Status

if TYPE_CHECKING:
    from repro.provenance.statcache import StatCache
    from repro.store.record import RunRecord

__all__ = ["STORE_ENV", "RunFolder", "Store", "StoreLayout", "atomic_create", "atomic_write", "find_git_root"]

_log = logging.getLogger(__name__)

STORE_ENV = "REPRO_STORE"
STORE_FORMAT = 2
"""1: repro 0.1.0 (every job wrote the index). 2: jobs write files only and commands fold the
journal into the index; a store may be shared by a group. A repro refuses a store of a format
newer than its own (an older repro would misread it); an older format is upgraded in place."""
RESERVE_BYTES = 1 << 20
"""Disk space the store holds back so that a run that fills the disk still gets its final record."""


def atomic_write(path: Path, data: bytes, mode: int | None = None, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix; with
    ``durable`` (the default), also on disk before this returns (not for derived files that a
    later command recomputes)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            temporary.chmod(mode & 0o7777)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def atomic_create(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, whole or not at all, unless it exists (FileExistsError): of
    several processes writing the same file at once, the first one's stays."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # fails if the file exists: never replaces another's
    finally:
        temporary.unlink(missing_ok=True)


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
    def journal(self) -> Path:
        return self.root / "journal"

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

    @property
    def images_incoming(self) -> Path:
        """Images another store pushed (their blobs are in place), for the index to take in."""
        return self.images / "incoming"

    def image_incoming(self, image_id: str) -> Path:
        return self.images_incoming / f"{image_id.removeprefix('sha256:')}.json"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    def bundle(self, commit: str) -> Path:
        """A git bundle holding ``commit`` and its history (pushed with the runs made from it)."""
        return self.bundles / f"{commit}.bundle"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    def input(self, digest: str) -> Path:
        """A copy of an input mount's content (a file or a folder), by its recorded digest."""
        return self.inputs / digest.removeprefix("sha256:")

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

    @property
    def metrics(self) -> Path:
        """The run's metrics as parsed when it ended (derived from its outputs; for the index)."""
        return self.path / "metrics.json"


class Store:
    """A store folder: create runs, write records, look them up.

    A store opened for a job (``job=True``: a Snakemake job, wherever it runs) writes run
    folders, records, journal entries and point markers, and never opens the index."""

    def __init__(self, root: Path, *, job: bool = False) -> None:
        self.root = root.absolute()
        self.layout = StoreLayout(self.root)
        self.journal = Journal(self.layout.journal)
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
            data = json.loads(self.layout.marker.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except (OSError, ValueError) as exc:
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
    def shared_group(self) -> str | None:
        """The group a shared store belongs to (``repro init --shared GROUP``), or None."""
        shared = self.facts.get("shared")
        return str(shared["group"]) if isinstance(shared, dict) and shared.get("group") else None

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
        """Fold the journal into the index (see :mod:`repro.store.journal`): the records written
        since the index last saw them, by jobs anywhere or by ``repro push``. Returns how many
        runs it indexed. Succeeded runs also get their point's marker, if it names an older run
        (a pushed or pulled run arrives without one). Never fails a command: an index that cannot
        be written now keeps the entries for the next one."""
        if self._job or not self.exists:
            return 0
        entries = self.journal.pending()
        if not entries or not self._fold_lock.acquire(blocking=False):
            return 0
        try:
            rows = []
            for run_id in sorted({entry.run_id for entry in entries}):
                try:
                    record = self.load(run_id)
                except (UsageError, StoreError) as exc:  # gone, or corrupt (`repro fsck` says which)
                    _log.debug("not indexing %s: %s", run_id, exc)
                    continue
                rows.append((record, self.metrics_of(run_id)))
            try:
                self._index.put_many(rows)
            except StoreError as exc:
                _log.warning("%s; %d run(s) wait in the journal for the next command", exc, len(rows))
                return 0
            for record, _ in rows:
                self._mark_if_newest(record)
            self.journal.clear(entries)
            return len(rows)
        finally:
            self._fold_lock.release()

    def _mark_if_newest(self, record: RunRecord) -> None:
        if record.status is not Status.SUCCEEDED:
            return
        try:
            named = json.loads(self.point_marker(record.point.key).read_bytes()).get("run")
        except (OSError, ValueError, AttributeError):
            named = None
        if isinstance(named, str) and named >= record.id:  # run ids sort by start time
            return
        try:
            self.mark_point(record.point.key, record.id, durable=False)  # derived: the next fold redoes it
        except StoreError as exc:
            _log.warning("%s", exc)

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
        )
        try:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            if self.exists and self.format == STORE_FORMAT:
                return
            # A store inside a git tree must not make the tree dirty.
            gitignore = self.layout.gitignore
            if not gitignore.exists():
                gitignore.write_text("# repro's store: runs, logs and outputs are not source\n*\n")
            self.keep_reserve()
            self._index.create()  # so that a missing index later means a lost one
            data = {**self.facts, **(facts or {}), "repro_store": STORE_FORMAT}
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
        """Write ``record`` atomically and note it in the journal, for the index (its parsed
        metrics, if any, are in ``metrics.json`` already); return it as written. A final record
        is never overwritten."""
        from repro.store.record import SCHEMA_VERSION

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
            self.journal.note(record.id)
        except OSError as exc:
            # The record on disk is the truth and is safe; the index is a cache that
            # `repro reindex` rebuilds. Losing an index row must not lose the run.
            _log.warning(
                "cannot note run %s in %s (%s); `repro reindex` indexes it",
                record.id,
                self.layout.journal,
                exc.strerror,
            )
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
        from pydantic import ValidationError

        from repro.store.record import RunRecord

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
        from pydantic import ValidationError

        from repro.store.record import RunRecord

        runs = self.layout.runs
        if not runs.is_dir():
            return
        for folder in sorted(runs.iterdir()):
            try:
                yield RunRecord.model_validate_json(self.run_folder(folder.name).record.read_bytes())
            except (OSError, ValidationError):
                continue

    def runs(self, limit: int | None = None, name: str | None = None, **filters: Any) -> list[IndexRow]:
        """Runs as the index knows them, newest first (filters: see :meth:`Index.rows`)."""
        return self.index.rows(limit=limit, name=name, **filters) if self.exists else []

    def metrics_of(self, run_id: str) -> dict[str, Value] | None:
        """The metrics parsed when the run ended (``metrics.json``), or None if none were."""
        try:
            data = json.loads(self.run_folder(run_id).metrics.read_bytes())
        except (OSError, ValueError):
            return None
        values = data.get("values") if isinstance(data, dict) else None
        return values if isinstance(values, dict) else None

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
            Index.build(built, ((record, self.metrics_of(record.id)) for record in records))
        except StoreError as exc:
            built.unlink(missing_ok=True)
            raise StoreError(f"{exc}; the old index is untouched") from exc
        self._index.swap_in(built)
        self._index_checked = True
        return len(records)  # the journal stays: the next fold marks its succeeded points

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

    def digest_cache(self, *, readonly: bool = False) -> StatCache | None:
        """The stat-keyed digest cache of this store (None while the store does not exist);
        ``readonly``: look digests up, write none."""
        from repro.provenance.statcache import StatCache

        return StatCache(self.layout.digest_cache, readonly=readonly) if self.exists else None

    # -- points and blobs -------------------------------------------------------------------------

    def point_marker(self, key: str) -> Path:
        """The file that says which run last succeeded for ``key`` (a Snakemake job's output)."""
        return self.layout.point_marker(key)

    def lease(self, key: str) -> PointLease:
        """The lease whose holder alone may run the point ``key`` (see :mod:`repro.store.leases`)."""
        return PointLease(self.layout.lease(key))

    def mark_point(self, key: str, run_id: str, *, durable: bool = True) -> None:
        folder = self.run_folder(run_id)
        marker = {
            "run": run_id,
            "record": folder.record.relative_to(self.root).as_posix(),
            "outputs": folder.outputs.relative_to(self.root).as_posix(),
        }
        try:
            atomic_write(self.point_marker(key), json.dumps(marker).encode() + b"\n", durable=durable)
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
