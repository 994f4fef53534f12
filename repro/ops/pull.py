"""``repro pull REMOTE``: another store's ended runs that this one lacks, with their images and
the bundles and inputs the other store holds for them (see :mod:`repro.ops.transfer`)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from repro.ops.remote import Remote, Rsync
from repro.ops.transfer import REMOTE, TransferResult, check_remote, chosen_runs, copy_missing, names_of, recorded_runs
from repro.store.images import REF_NAME, ArchivedImage, ImageArchive
from repro.store.layout import StoreLayout
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["pull"]


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
        recorded = recorded_runs(rsync)
        there = set(recorded)
        if refs:
            there &= chosen_runs(there, refs)
        here = {path.parent.name for path in chosen.layout.runs.glob("*/record.json")}
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
    copy_missing(rsync, wanted, rsync.remote.url(), f"{staging.root}/")
    records = []
    for run_id in run_ids:
        try:
            records.append(RunRecord.model_validate_json(staging.run_folder(run_id).record.read_bytes()))
        except (OSError, ValueError):
            continue  # unreadable there: `repro fsck` on that side says why
    return records


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
    copy_missing(rsync, files, url, f"{store.root}/", f"--exclude=/{REMOTE.runs}/*/record.json")
    copy_missing(rsync, (str(REMOTE.run_folder(record.id).record) for record in records), url, f"{store.root}/")
    for entry in images:
        archive.take_in(entry)
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
    if not missing or rsync.run([rsync.remote.url(str(REMOTE.images_index)), str(copy)], missing_ok=True) is None:
        return []
    descriptors: list[dict[str, Any]] = [
        d
        for d in json.loads(copy.read_text()).get("manifests") or []
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
