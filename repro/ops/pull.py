"""``repro pull REMOTE``: another store's ended runs that this one lacks, with their images and
the bundles and inputs the other store holds for them (see :mod:`repro.ops.transfer`)."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from repro.errors import ReproError, StoreError
from repro.execute.finish import write_parsed_metrics
from repro.ops.remote import Remote, Rsync
from repro.ops.transfer import REMOTE, TransferResult, check_remote, chosen_runs, copy_missing, names_of, remote_runs
from repro.store.files import MAX_JSON_BYTES, read_stored
from repro.store.images import REF_NAME, ArchivedImage, ImageArchive
from repro.store.layout import StoreLayout, shown_name
from repro.store.record import RunRecord, invalid_fields
from repro.store.seal import folder_mode, seal_file
from repro.store.store import Store
from repro.text import format_bytes

__all__ = ["pull"]

_log = logging.getLogger(__name__)


def pull(
    remote: str,
    *,
    refs: Sequence[str] = (),
    manifests: Sequence[str] = (),
    store: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TransferResult:
    """Copy ``remote``'s ended runs (those ``refs`` name, those of ``manifests``, else all) that
    this store lacks, with their images, and the bundles and inputs the remote holds for them."""
    chosen = Store.locate(store)
    where = Remote.parse(remote)
    rsync = Rsync(where)
    result = TransferResult(remote=str(where), direction="pull")
    with tempfile.TemporaryDirectory(prefix="repro-pull-") as scratch_name:
        scratch = Path(scratch_name)
        check_remote(rsync, scratch, create=False)
        recorded, statements = remote_runs(rsync)
        there = set(recorded)
        if refs:
            there &= chosen_runs(there, refs)
        here = {path.parent.name for path in chosen.layout.runs.glob("*/record.json")}
        _late_statements(chosen, rsync, sorted(there & here), statements, result)
        candidates = sorted(there - here)
        records = _remote_records(rsync, scratch, candidates)
        names = names_of(manifests) if manifests else None
        records = [record for record in records if names is None or record.manifest.name in names]
        records += _upstream_of(rsync, scratch, records, here, recorded)
        result.running = [record.id for record in records if not record.status.final]
        records = [record for record in records if record.status.final]
        if records:
            chosen.create()
            _receive(chosen, rsync, records, scratch, result)
    result.bytes_sent, result.bytes_received = rsync.sent, rsync.received
    return result


def _late_statements(
    store: Store, rsync: Rsync, run_ids: list[str], statements: dict[str, set[str]], result: TransferResult
) -> None:
    """The remote's signed statements of runs this store has that it lacks (signed there after
    the run was first pulled): added beside their records, read-only."""
    wanted = [
        f"{REMOTE.runs.name}/{run_id}/{name}"
        for run_id in run_ids
        for name in sorted(statements.get(run_id, set()))
        if not (store.run_folder(run_id).path / name).exists()
    ]
    if not wanted:
        return
    copy_missing(rsync, wanted, rsync.remote.url(), f"{store.root}/")
    for relative in wanted:
        seal_file(store.root / relative, folder_mode(store.layout.runs))
    result.statements = wanted


def _upstream_of(
    rsync: Rsync, scratch: Path, records: list[RunRecord], here: set[str], recorded: set[str]
) -> list[RunRecord]:
    """The remote's runs (of ``recorded``) whose outputs ``records`` mounted (``from:``), and
    theirs, that this store lacks: a downstream run reruns against them."""
    found: dict[str, RunRecord] = {}
    wanted = {record.id for record in records}
    pending = records
    while pending:
        missing = sorted(
            {
                entry.upstream_run
                for record in pending
                for entry in record.inputs
                if entry.upstream_run in recorded and entry.upstream_run not in here | wanted | found.keys()
            }
        )
        pending = _remote_records(rsync, scratch, missing)
        found.update((record.id, record) for record in pending)
    return list(found.values())


def _remote_records(rsync: Rsync, scratch: Path, run_ids: list[str]) -> list[RunRecord]:
    if not run_ids:
        return []
    staging = StoreLayout(scratch / "records")
    wanted = (str(REMOTE.run_folder(run_id).record) for run_id in run_ids)
    # A record over the limit is not even copied (refused before it is read).
    copy_missing(rsync, wanted, rsync.remote.url(), f"{staging.root}/", f"--max-size={MAX_JSON_BYTES}")
    records = []
    for run_id in run_ids:
        try:  # another store's file: bounded, validated, and the record of the run it is said to be
            record = RunRecord.model_validate_json(read_stored(staging.run_folder(run_id).record))
        except FileNotFoundError:
            _log.warning(
                "not pulling run %s: its record there is larger than %s, or not a file",
                run_id,
                format_bytes(MAX_JSON_BYTES),
            )
            continue
        except ValidationError as exc:
            _log.warning("not pulling run %s: its record there is not a valid record (%s)", run_id, invalid_fields(exc))
            continue
        except (OSError, ValueError, StoreError) as exc:
            _log.warning("not pulling run %s: its record there is not a valid record (%s)", run_id, _first_line(exc))
            continue
        if record.id != run_id:
            _log.warning("not pulling run %s: its record there says it is run %s", run_id, shown_name(record.id))
            continue
        records.append(record)
    return records


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _receive(store: Store, rsync: Rsync, records: list[RunRecord], scratch: Path, result: TransferResult) -> None:
    archive = ImageArchive(store.layout)
    images = _remote_images(rsync, archive, records, scratch)
    files = [str(REMOTE.run(record.id)) for record in records]
    bundles = set(rsync.listing(str(REMOTE.bundles)) or [])
    commits = sorted({r.git.commit for r in records if r.git and r.git.commit and f"{r.git.commit}.bundle" in bundles})
    files += [str(REMOTE.bundle(commit)) for commit in commits]
    inputs = set(rsync.listing(str(REMOTE.inputs)) or [])
    digests = sorted({i.digest for r in records for i in r.inputs if i.digest.removeprefix("sha256:") in inputs})
    files += [str(REMOTE.input(digest)) for digest in digests]
    url = rsync.remote.url()
    # metrics.json is derived: parsed here again from the outputs (below), never taken on trust.
    excluded = (f"--exclude=/{REMOTE.runs}/*/record.json", f"--exclude=/{REMOTE.runs}/*/metrics.json")
    copy_missing(rsync, files, url, f"{store.root}/", *excluded)
    copy_missing(rsync, (str(REMOTE.run_folder(record.id).record) for record in records), url, f"{store.root}/")
    for entry in images:
        archive.take_in(entry)
    for record in records:
        with contextlib.suppress(ReproError):  # a run folder that is not one: fsck names it
            write_parsed_metrics(store.real_run_folder(record.id), record)
    for record in records:
        store.journal.note(record.id)
    store.fold()
    result.runs = [record.id for record in records]
    result.images = [entry.id for entry in images]
    result.bundles = commits
    result.inputs = digests


def _remote_images(rsync: Rsync, archive: ImageArchive, records: list[RunRecord], scratch: Path) -> list[ArchivedImage]:
    """The remote archive's images of ``records`` that this one lacks, their blobs fetched."""
    missing = {record.image.id.removeprefix("sha256:") for record in records if archive.get(record.image.id) is None}
    copy = scratch / "remote-index.json"
    fetch = [f"--max-size={MAX_JSON_BYTES}", rsync.remote.url(str(REMOTE.images_index)), str(copy)]
    if not missing or rsync.run(fetch, missing_ok=True) is None or not copy.exists():
        return []
    descriptors: list[dict[str, Any]] = [
        d
        for d in json.loads(read_stored(copy)).get("manifests") or []
        if (d.get("annotations") or {}).get(REF_NAME) in missing
    ]
    if not descriptors:
        return []
    here = f"{archive.layout.root}/"
    copy_missing(
        rsync,
        (str(REMOTE.image_blob(str(descriptor["digest"]))) for descriptor in descriptors),
        rsync.remote.url(),
        here,
    )
    entries = [archive.entry_of(descriptor) for descriptor in descriptors]  # their manifests are here now
    copy_missing(
        rsync,
        sorted({str(REMOTE.image_blob(digest)) for entry in entries for digest in entry.blobs()}),
        rsync.remote.url(),
        here,
    )
    return entries
