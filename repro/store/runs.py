"""Runs on disk: run folders, their records (written atomically; final ones never again), their
parsed metrics, and the point markers that name each point's newest succeeded run.

This is all a job needs of a store (a job never opens the index): :class:`RunFiles` is the part
of a :class:`repro.store.store.Store` that writes and reads files under ``runs/`` and
``points/``. A store's disk may fill while a point runs: :data:`RESERVE_BYTES` held back in the
store's ``reserve`` file are given up to write a final record all the same.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from repro.errors import StoreError, UsageError
from repro.store.files import atomic_write, open_folder, read_in, read_stored
from repro.store.index import IndexEntry, Value
from repro.store.journal import Journal
from repro.store.layout import RunFolder, StoreLayout, shown_name
from repro.store.names import is_hex64, is_run_id
from repro.store.seal import folder_mode, seal_file
from repro.store.status import Status
from repro.store.tlog import RecordLog, record_digest
from repro.text import load_json

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["RESERVE_BYTES", "RunFiles"]

_log = logging.getLogger(__name__)


class Logged(Protocol):
    """What the store's log needs of a run: a record, or the index's entry of one."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> Status: ...


RESERVE_BYTES = 1 << 20
"""Disk space the store holds back so that a run that fills the disk still gets its final record."""


class RunFiles:
    """The run folders, records and point markers of the store at ``layout``."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.root = layout.root
        self.journal = Journal(layout.journal)
        self.log = RecordLog(layout.records_log, layout.records_log_state)

    # -- run folders ------------------------------------------------------------------------------

    def new_run_folder(self, outputs_mode: int = 0o755) -> RunFolder:
        """Create the folder of a new run, with an id that sorts by start time."""
        self.keep_reserve()  # given up to a full disk before: take it back when there is room
        try:
            return self._new_run_folder(outputs_mode)
        except OSError as exc:
            raise StoreError(f"cannot start a run in the store: {exc.strerror} in {self.root}") from exc

    def _new_run_folder(self, outputs_mode: int) -> RunFolder:
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
        return self.layout.run_folder(run_id)

    def real_run_folder(self, run_id: str) -> RunFolder:
        """The folder of ``run_id``, checked to be what a run's folder is before anything walks
        it: a folder, not a link (nor its outputs), so that no file outside the store is read as a
        run's (a pulled store, or a member of a shared one, may leave a link in its place)."""
        folder = self.run_folder(run_id)
        for path in (folder.path, folder.outputs):
            try:
                facts = os.lstat(path)
            except FileNotFoundError:
                if path == folder.path:
                    raise UsageError(f"no run {run_id} in {self.root}") from None
                continue  # a run that never got its outputs (older stores, a failed start)
            if not stat.S_ISDIR(facts.st_mode):
                where = path.relative_to(self.root)
                raise StoreError(f"run {run_id}: {where} is not a folder (a link?); it is not read")
        return folder

    # -- records ----------------------------------------------------------------------------------

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
            record = self._write_with_reserve(folder.record, record)
        except OSError as exc:
            raise StoreError(f"cannot write {folder.record}: {exc.strerror}") from exc
        if record.status.final:
            seal_file(folder.record, folder_mode(self.layout.runs))  # final: never edited again
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

    def log_records(self, records: Iterable[Logged]) -> int | None:
        """Append the final ones of ``records`` (records, or the index's entries of them) to the
        store's log (see :mod:`repro.store.tlog`), each by the digest of its file as it is now;
        return how many were new to the log, or None when the log could not be written (a full
        disk). Never fails its caller: their journal entries stay until a fold logs them."""
        entries = []
        for record in records:
            if not record.status.final:
                continue
            digest = record_digest(self.run_folder(record.id).record)
            if digest is not None:
                entries.append((record.id, digest))
        return self.log_digests(entries)

    def log_digests(self, entries: Sequence[tuple[str, str]]) -> int | None:
        """:meth:`log_records` for final records whose file's digest the caller has (run id,
        sha256 hex): read once, by a fold of thousands. Each is checked for its shape first (a
        line of the log is made of them)."""
        entries = [(run_id, digest) for run_id, digest in entries if is_run_id(run_id) and is_hex64(digest)]
        if not entries:
            return 0
        try:
            return self.log.append(entries)
        except FileNotFoundError:
            return 0  # no log (lost, or a store from before logs): `repro fsck` says which
        except OSError as exc:
            _log.warning("cannot append to %s (%s); the next command does", self.log.path, exc.strerror)
            return None

    def _write_with_reserve(self, path: Path, record: RunRecord) -> RunRecord:
        """Write the record; on a full disk, give up the store's reserve to write it all the same
        (a final record must say what happened, even when the run filled the disk). Returns the
        record as written."""
        data = record.model_dump_json(indent=2).encode() + b"\n"
        try:
            atomic_write(path, data)
            return record
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
        self.layout.reserve.unlink(missing_ok=True)
        try:
            atomic_write(path, data)
            return record
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or record.outputs is None:
                raise
            # Still no room: the file list goes (its tree digest stays), and the record says so.
            reason = f"the list of output files was left out of this record: {exc.strerror} in {self.root}"
            outputs = record.outputs.model_copy(update={"files": [], "files_omitted": True})
            short = record.model_copy(update={"outputs": outputs, "error": record.error or reason})
            atomic_write(path, short.model_dump_json().encode() + b"\n")
            return short

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

    def status_on_disk(self, run_id: str) -> str | None:
        """The status the run's record file says, without reading the whole record (None: no
        readable record)."""
        return self._read_status(self.run_folder(run_id).record)

    @staticmethod
    def _read_status(path: Path) -> str | None:
        try:
            status = load_json(read_stored(path, real_parent=True)).get("status")
        except (OSError, ValueError, AttributeError, StoreError):
            return None
        return str(status) if status is not None else None

    def load(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` as stored on disk, checked as untrusted input: a regular file
        of at most :data:`~repro.store.files.MAX_JSON_BYTES` in the run's own folder (not a
        link), valid (:mod:`repro.store.record`), and the record of that run (its id is the
        folder's name). Raises :class:`UsageError` when there is no such run, :class:`StoreError`
        naming the problem when the file is not such a record."""
        return self.load_digested(run_id)[0]

    def load_digested(self, run_id: str) -> tuple[RunRecord, str]:
        """:meth:`load`, and the sha256 (hex) of the bytes the record was read from (what the
        store's log holds of it)."""
        record, digest, _ = self._read(run_id, with_metrics=False)
        return record, digest

    def entry(self, run_id: str) -> tuple[IndexEntry, str, bool]:
        """What the index keeps of ``run_id`` (its record and its metrics, read through one
        opening of its folder, checked as :meth:`load` and :meth:`metrics_of` check them), the
        sha256 (hex) of its record's bytes, and whether that record is final: all a fold needs,
        with no more made per run than it needs (a fold reads thousands). Raises as :meth:`load`."""
        record, digest, metrics = self._read(run_id, with_metrics=True)
        return IndexEntry.of(record, metrics), digest, record.status.final

    def _read(self, run_id: str, *, with_metrics: bool) -> tuple[RunRecord, str, dict[str, Value] | None]:
        """The record of ``run_id`` and its digest (and its metrics), through one opening of its folder."""
        path = self.layout.run_text(run_id)
        try:
            opened = open_folder(path)
            try:
                record, digest = self._load_in(opened, path, run_id)
                metrics = (
                    self._metrics_in(record, lambda: read_in(opened, "metrics.json", path)) if with_metrics else None
                )
            finally:
                os.close(opened)
        except FileNotFoundError:
            raise UsageError(f"no run {run_id} in {self.root}") from None
        except OSError as exc:
            raise StoreError(f"record {path}/record.json cannot be read ({exc.strerror})") from exc
        return record, digest, metrics

    @staticmethod
    def _load_in(opened: int, folder: Path | str, run_id: str) -> tuple[RunRecord, str]:
        from pydantic import ValidationError

        from repro.store.record import RunRecord, invalid_fields

        data = read_in(opened, "record.json", folder)
        try:
            record = RunRecord.model_validate_json(data)
        except ValidationError as exc:
            raise StoreError(
                f"record {folder}/record.json is corrupt or not repro's ({invalid_fields(exc)}); it is not used"
            ) from exc
        if record.id != run_id:
            raise StoreError(f"record {folder}/record.json says it is run {shown_name(record.id)}; it is not used")
        return record, hashlib.sha256(data).hexdigest()

    def records(self, skipped: Callable[[str], None] | None = None) -> Iterator[RunRecord]:
        """Every valid record on disk, in id order. A folder that is not a run's (its name is not
        a run id) or whose record is invalid is skipped, with one line for ``skipped`` (default:
        a warning in the log) naming it; a folder without a record (a run being sent) silently."""
        runs = self.layout.runs
        try:
            names = sorted(entry.name for entry in os.scandir(runs))
        except (FileNotFoundError, NotADirectoryError):
            return
        say = skipped or (lambda line: _log.warning("%s", line))
        for name in names:
            if not is_run_id(name):
                if not name.startswith("."):
                    say(f"skipping {shown_name(name)} in {runs}: not a run's folder (its name is not a run id)")
                continue
            try:
                yield self.load(name)
            except UsageError:
                continue  # no record: being written, or sent
            except StoreError as exc:
                say(f"skipping run {name}: {exc}")

    def metrics_of(self, run: RunRecord | str) -> dict[str, Value] | None:
        """The metrics parsed when the run ended (``metrics.json``), if they are bound to its
        outputs: parsed from the file its manifest names, whose bytes had the digest the record
        gives that file. None when none were parsed, or when ``metrics.json`` is not bound so —
        derived data that is not what the record's outputs say is not trusted (``repro fsck``
        parses the file again and names the mismatch; ``repro reindex`` replaces it). A
        ``metrics.json`` of an older repro (no digest) is taken when it names the manifest's file.
        ``run``: the record, or the run's id (its record is read, and checked, first)."""
        if isinstance(run, str):
            try:
                record = self.load(run)
            except (UsageError, StoreError):
                return None
        else:
            record = run
        return self._metrics_in(record, lambda: read_stored(self.run_folder(record.id).metrics, real_parent=True))

    @staticmethod
    def _metrics_in(record: RunRecord, read: Callable[[], bytes]) -> dict[str, Value] | None:
        """:meth:`metrics_of` ``record``, whose ``metrics.json`` ``read`` reads (only if its
        manifest names a metrics file)."""
        spec = record.manifest.resolved.get("metrics")
        if not isinstance(spec, dict) or record.outputs is None:
            return None
        try:
            data = load_json(read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, StoreError) as exc:
            _log.warning("run %s: its metrics.json cannot be read (%s); its metrics are not used", record.id, exc)
            return None
        if not isinstance(data, dict) or "values" not in data:
            return None  # an error was recorded instead, or it is not a metrics file
        file = str(spec.get("file"))
        # One from an older repro, which wrote no digest, is taken as it is (fsck parses it again, as
        # any other): a digest only tells a stale or misplaced file, never a forged one.
        recorded = record.outputs.digest_of(file) if "sha256" in data else None
        if data.get("file") != file or data.get("format") != spec.get("format") or data.get("sha256") != recorded:
            _log.warning(
                "run %s: its metrics.json was not parsed from its recorded %s; its metrics are not used "
                "(repro fsck names the difference; repro reindex parses them again)",
                record.id,
                shown_name(file),
            )
            return None
        values = data.get("values")
        if not isinstance(values, dict):
            return None
        return {str(name): value for name, value in values.items() if isinstance(value, (str, int, float, bool))}

    # -- point markers ----------------------------------------------------------------------------

    def point_marker(self, key: str) -> Path:
        """The file that says which run last succeeded for ``key`` (a Snakemake job's output)."""
        return self.layout.point_marker(key)

    def marked_name(self, key: str) -> str | None:
        """The run id the point's marker names, unchecked but for its shape (see
        :meth:`marked_run` for the run it names, checked)."""
        try:
            named = load_json(read_stored(self.layout.point_marker_text(key), 1 << 16)).get("run")
        except (OSError, ValueError, AttributeError, StoreError):
            return None
        return named if is_run_id(named) else None

    def marked_run(self, key: str, of: Callable[[RunRecord], bool] | None = None) -> str | None:
        """The run the point's marker names, if it names a run of that point: a marker is
        input (a pulled store's, a colleague's), so what it names is checked — a run id, whose
        record is there and is a run of ``key`` (or, for the marker of a point's lineage key,
        whose record ``of`` accepts: a run keyed in its job, after its upstream ran)."""
        named = self.marked_name(key)
        if named is None:
            return None
        try:
            record = self.load(named)
        except (UsageError, StoreError):
            return None
        return named if record.point.key == key or (of is not None and of(record)) else None

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
