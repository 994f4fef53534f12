"""Runs on disk: run folders, their records (written atomically; final ones never again), their
parsed metrics, and the point markers that name each point's newest succeeded run.

This is all a job needs of a store (a job never opens the index): :class:`RunFiles` is the part
of a :class:`repro.store.store.Store` that writes and reads files under ``runs/`` and
``points/``. A store's disk may fill while a point runs: :data:`RESERVE_BYTES` held back in the
store's ``reserve`` file are given up to write a final record all the same.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import StoreError, UsageError
from repro.store.files import atomic_write
from repro.store.index import Value
from repro.store.journal import Journal
from repro.store.layout import RunFolder, StoreLayout
from repro.store.seal import folder_mode, seal_file

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["RESERVE_BYTES", "RunFiles"]

_log = logging.getLogger(__name__)

RESERVE_BYTES = 1 << 20
"""Disk space the store holds back so that a run that fills the disk still gets its final record."""


class RunFiles:
    """The run folders, records and point markers of the store at ``layout``."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.root = layout.root
        self.journal = Journal(layout.journal)

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

    def records(self) -> Iterator[RunRecord]:
        """Every readable record on disk, in id order (corrupt ones are skipped), one at a time."""
        from pydantic import ValidationError

        from repro.store.record import RunRecord

        try:  # names, not paths: a million paths would take gigabytes
            names = sorted(entry.name for entry in os.scandir(self.layout.runs))
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            try:
                yield RunRecord.model_validate_json(self.run_folder(name).record.read_bytes())
            except (OSError, ValidationError):
                continue

    def metrics_of(self, run_id: str) -> dict[str, Value] | None:
        """The metrics parsed when the run ended (``metrics.json``), or None if none were."""
        try:
            data = json.loads(self.run_folder(run_id).metrics.read_bytes())
        except (OSError, ValueError):
            return None
        values = data.get("values") if isinstance(data, dict) else None
        return values if isinstance(values, dict) else None

    # -- point markers ----------------------------------------------------------------------------

    def point_marker(self, key: str) -> Path:
        """The file that says which run last succeeded for ``key`` (a Snakemake job's output)."""
        return self.layout.point_marker(key)

    def marked_run(self, key: str) -> str | None:
        """The run the point's marker names, if it names one."""
        try:
            named = json.loads(self.point_marker(key).read_bytes()).get("run")
        except (OSError, ValueError, AttributeError):
            return None
        return named if isinstance(named, str) else None

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
