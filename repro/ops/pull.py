"""``repro pull REMOTE``: another store's ended runs that this one lacks, with their images and
the bundles and inputs the other store holds for them (see :mod:`repro.ops.transfer`).

Everything is fetched into this store's staging area — the records first, to read which runs to
take, then what they need and their folders — and taken in only once it is complete and checked
(:mod:`repro.store.staging`), under the staging area's lock: a pull killed at any point leaves
nothing visible, and the next pull fetches only what is still missing."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from repro.errors import ReproError
from repro.execute.finish import write_parsed_metrics
from repro.ops.remote import Remote, Rsync
from repro.ops.transfer import (
    REMOTE,
    TransferResult,
    check_remote,
    chosen_runs,
    copy_missing,
    differing_records,
    fetch_records,
    names_of,
    remote_images,
    remote_runs,
)
from repro.store.images import ArchivedImage, ArchiveError, manifest_digest
from repro.store.names import is_digest, is_hex64
from repro.store.record import RunRecord
from repro.store.seal import folder_mode, seal_file
from repro.store.staging import Staging, is_commit
from repro.store.store import Store
from repro.text import printable

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
        listing = remote_runs(rsync)
        result.refused += listing.refused
        there = set(listing.records)
        if refs:
            there &= chosen_runs(there, refs)
        if not there and not chosen.exists:
            return result
        chosen.create()
        staging = chosen.staging
        with staging.locked(wait=True):
            result.refused += staging.promote_locked().refused  # what a pull cut after its last fetch left
            here = {path.name for path in chosen.layout.runs.iterdir()}
            differing = differing_records(rsync, scratch, chosen, listing.records, sorted(there & here))
            result.refused += differing.values()
            _late_statements(chosen, rsync, sorted(there & here - differing.keys()), listing.statements, result)
            records, refused = fetch_records(rsync, staging.layout, sorted(there - here))
            result.refused += refused
            names = names_of(manifests) if manifests else None
            chosen_ones = [record for record in records if names is None or record.manifest.name in names]
            upstream, refused = _upstream_of(rsync, staging, chosen_ones, here, set(listing.records))
            chosen_ones += upstream
            result.refused += refused
            result.running = [record.id for record in chosen_ones if not record.status.final]
            taken = {record.id for record in chosen_ones if record.status.final}
            for record in [*records, *upstream]:
                if record.id not in taken:
                    staging.drop(record.id)  # not taken now: nothing of it waits here
            records = [record for record in chosen_ones if record.status.final]
            if records:
                _receive(staging, rsync, records, scratch, result)
    result.bytes_sent, result.bytes_received = rsync.sent, rsync.received
    chosen.fold()
    return result


def _late_statements(
    store: Store, rsync: Rsync, run_ids: list[str], statements: dict[str, set[str]], result: TransferResult
) -> None:
    """The remote's signed statements of runs this store has (with the same record) that it lacks
    (signed there after the run was first pulled): added beside their records, read-only — the
    one thing ever added to a run this store has (:data:`repro.store.staging.ADDITIVE`)."""
    wanted = [
        f"{REMOTE.runs.name}/{run_id}/{name}"
        for run_id in run_ids
        for name in sorted(statements.get(run_id, set()))
        if not os.path.lexists(store.run_folder(run_id).path / name)
    ]
    if not wanted:
        return
    copy_missing(rsync, wanted, rsync.remote.url(), f"{store.root}/")
    for relative in wanted:
        seal_file(store.root / relative, folder_mode(store.layout.runs))
    result.statements = wanted


def _upstream_of(
    rsync: Rsync, staging: Staging, records: list[RunRecord], here: set[str], recorded: set[str]
) -> tuple[list[RunRecord], list[str]]:
    """The remote's runs (of ``recorded``) whose outputs ``records`` mounted (``from:``), and
    theirs, that this store lacks — a downstream run reruns against them — their records fetched
    into ``staging`` and read as input; and a line for each refused."""
    found: dict[str, RunRecord] = {}
    refused: list[str] = []
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
        pending, lines = fetch_records(rsync, staging.layout, missing)
        refused += lines
        found.update((record.id, record) for record in pending)
    return list(found.values()), refused


def _receive(staging: Staging, rsync: Rsync, records: list[RunRecord], scratch: Path, result: TransferResult) -> None:
    """Fetch the runs and what they need into ``staging``, mark them, and take them in."""
    into = f"{staging.layout.root}/"
    images, failed = _fetch_images(staging, rsync, records, scratch)
    for image_id, why in failed.items():
        held = [record.id for record in records if record.image.id == image_id]
        result.refused.append(
            f"image {image_id[:19]}…: {why}; {len(held)} run(s) wait for it: {', '.join(held[:3])}"
            + (", …" if len(held) > 3 else "")
        )
    records = [record for record in records if record.image.id not in failed]
    store_layout = staging.store.layout
    files = [str(REMOTE.run(record.id)) for record in records]
    offered = set(rsync.listing(str(REMOTE.bundles)) or [])
    commits = sorted({r.git.commit for r in records if r.git and r.git.commit and is_commit(r.git.commit)})
    commits = [c for c in commits if f"{c}.bundle" in offered and not store_layout.bundle(c).is_file()]
    files += [str(REMOTE.bundle(commit)) for commit in commits]
    inputs = {name for name in rsync.listing(str(REMOTE.inputs)) or [] if is_hex64(name)}
    digests = sorted(
        {
            item.digest
            for record in records
            for item in record.inputs
            if is_digest(item.digest) and item.digest.removeprefix("sha256:") in inputs
        }
    )
    digests = [digest for digest in digests if not os.path.lexists(store_layout.input(digest))]
    files += [str(REMOTE.input(digest)) for digest in digests]
    # The runs' folders (their records are here already), then the marks that say they arrived whole.
    # metrics.json is derived: never taken from the other store, parsed here from the outputs.
    excluded = (f"--exclude=/{REMOTE.runs}/*/record.json", f"--exclude=/{REMOTE.runs}/*/metrics.json")
    copy_missing(rsync, files, rsync.remote.url(), into, *excluded)
    staging.mark([record.id for record in records], images)
    arrival = staging.promote_locked()
    for record in records:
        if record.id in arrival.runs:
            with contextlib.suppress(ReproError):  # a run folder that is not one: fsck names it
                write_parsed_metrics(staging.store.real_run_folder(record.id), record)
    result.runs = arrival.runs
    result.images = arrival.images
    result.bundles = arrival.bundles
    result.inputs = arrival.inputs
    result.refused += arrival.refused


def _fetch_images(
    staging: Staging, rsync: Rsync, records: list[RunRecord], scratch: Path
) -> tuple[list[ArchivedImage], dict[str, str]]:
    """Fetch into ``staging`` the blobs of the remote archive's images of ``records`` that this
    store's archive lacks; return those images, and why each image whose manifest failed its
    check was refused (its runs wait). A malformed remote index is one line (:class:`ArchiveError`)."""
    archive = staging.archive
    missing = {record.image.id for record in records if archive.get(record.image.id) is None}
    if not missing:
        return [], {}
    offered = remote_images(rsync, scratch)
    wanted = {f"sha256:{hex_id}": d for hex_id, d in offered.items() if f"sha256:{hex_id}" in missing}
    if not wanted:
        return [], {}
    manifests = {image_id: manifest_digest(d, f"image {image_id[7:19]}") for image_id, d in sorted(wanted.items())}
    into = f"{staging.layout.root}/"
    copy_missing(
        rsync,
        sorted(str(REMOTE.image_blob(digest)) for digest in manifests.values() if not archive.has_blob(digest)),
        rsync.remote.url(),
        into,
    )
    entries, failed = [], {}
    for image_id, descriptor in sorted(wanted.items()):
        try:
            entry = staging.image_entry(descriptor)
        except ArchiveError as exc:
            failed[image_id] = printable(str(exc))
            continue
        if entry.id != image_id:
            failed[image_id] = f"{rsync.remote}'s index names it by another image's manifest"
            continue
        entries.append(entry)
    blobs = {digest for entry in entries for digest in entry.blobs() if not archive.has_blob(digest)}
    copy_missing(rsync, sorted(str(REMOTE.image_blob(digest)) for digest in blobs), rsync.remote.url(), into)
    return entries, failed
