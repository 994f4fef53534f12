"""``repro push REMOTE``: this store's ended runs that another store lacks, with what a rerun
there needs (see :mod:`repro.ops.transfer` for what travels, and in which order)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from repro.ops.carry import archive_images, bundle_commits, find_inputs, with_upstream
from repro.ops.pack import DEFAULT_INPUT_LIMIT
from repro.ops.remote import Remote, Rsync
from repro.ops.transfer import (
    REMOTE,
    TransferResult,
    check_remote,
    chosen_runs,
    copy_missing,
    names_of,
    remote_runs,
    statements_lacking,
)
from repro.store.files import MAX_JSON_BYTES, read_stored
from repro.store.images import REF_NAME, ArchivedImage, ImageArchive
from repro.store.journal import Journal
from repro.store.layout import StoreLayout
from repro.store.record import RunRecord
from repro.store.status import Status
from repro.store.store import Store

__all__ = ["push"]


def push(
    remote: str,
    *,
    refs: Sequence[str] = (),
    manifests: Sequence[str] = (),
    store: Path | str | None = None,
    max_input_bytes: int = DEFAULT_INPUT_LIMIT,
    progress: Callable[[str], None] | None = None,
) -> TransferResult:
    """Copy this store's ended runs (those ``refs`` name, those of ``manifests``, else all) that
    ``remote`` lacks, with their images, commits and inputs."""
    chosen = Store.locate(store)
    chosen.require()
    where = Remote.parse(remote)
    rsync = Rsync(where)
    result = TransferResult(remote=str(where), direction="push")
    rows = chosen.runs()
    wanted = chosen_runs((row.id for row in rows), refs) if refs else None
    names = names_of(manifests) if manifests else None
    selected = [row for row in rows if (wanted is None or row.id in wanted) and (names is None or row.name in names)]
    result.running = [row.id for row in selected if row.status is Status.RUNNING]
    with tempfile.TemporaryDirectory(prefix="repro-push-") as scratch_name:
        scratch = Path(scratch_name)
        exists = check_remote(rsync, scratch, create=True)
        there, statements = remote_runs(rsync) if exists else (set(), {})
        records = [chosen.load(row.id) for row in selected if row.status.final and row.id not in there]
        records = [record for record in records if record.status.final]  # as on disk, not as indexed
        # The upstream runs whose outputs they mounted (from:) go too: a rerun there needs them.
        records = [record for record in with_upstream(chosen, records) if record.id not in there]
        if records:
            _send(chosen, rsync, records, scratch, exists, max_input_bytes, progress, result)
        late = statements_lacking(chosen, (row.id for row in selected if row.id in there), statements)
        if late:  # signed after the run was first sent
            copy_missing(rsync, late, f"{chosen.root}/", rsync.remote.url())
            result.statements = late
    result.bytes_sent, result.bytes_received = rsync.sent, rsync.received
    return result


def _send(
    store: Store,
    rsync: Rsync,
    records: list[RunRecord],
    scratch: Path,
    exists: bool,
    max_input_bytes: int,
    progress: Callable[[str], None] | None,
    result: TransferResult,
) -> None:
    url = rsync.remote.url()
    if not exists:  # a new store: its marker and folders (the other side needs no repro to use it)
        skeleton = Store(scratch / "skeleton")
        skeleton.create()  # its marker, folders and empty index; its disk reserve is its own to make
        rsync.run(["-rt", "--mkpath", "--ignore-existing", "--exclude=/reserve", f"{skeleton.root}/", url])
    archive = ImageArchive(store.layout)
    archive_images(archive, records, progress)
    images = _images_to_send(archive, rsync, records, scratch, exists)
    files = [str(REMOTE.run(record.id)) for record in records]
    files += sorted({str(REMOTE.image_blob(digest)) for entry in images for digest in entry.blobs()})
    staged = StoreLayout(scratch / "staged")  # bundles made here, then sent as they lie
    result.bundles = _bundles_to_send(store, rsync, records, staged, scratch, exists, files, result)
    inputs = _inputs_to_send(store, rsync, records, max_input_bytes, exists, progress)
    if staged.bundles.is_dir():
        rsync.run(["-rt", "--ignore-existing", f"{staged.root}/", url])
    for digest, source in inputs:
        target = rsync.remote.url(str(REMOTE.input(digest)))
        rsync.run(["-rlt", "--ignore-existing", "--mkpath", f"{source}/" if source.is_dir() else str(source), target])
    result.inputs = [digest for digest, _ in inputs]
    # The runs' folders, then their records, then what tells the other side they are there.
    copy_missing(rsync, files, f"{store.root}/", url, f"--exclude=/{REMOTE.runs}/*/record.json")
    copy_missing(rsync, (str(REMOTE.run_folder(record.id).record) for record in records), f"{store.root}/", url)
    last = StoreLayout(scratch / "last")  # what the other side takes in, sent after the rest
    for entry in images:
        path = last.image_incoming(entry.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry.model_dump_json())
    journal = Journal(last.journal)
    for record in records:
        journal.note(record.id)
    rsync.run(["-rt", f"{last.root}/", url])
    result.runs = [record.id for record in records]
    result.images = [entry.id for entry in images]


def _images_to_send(
    archive: ImageArchive, rsync: Rsync, records: list[RunRecord], scratch: Path, exists: bool
) -> list[ArchivedImage]:
    """The archived images of ``records`` the other side's archive does not hold yet."""
    indexed: set[str] = set()
    if exists and rsync.listing(str(REMOTE.images)) is not None:
        copy = scratch / "remote-index.json"
        fetch = [f"--max-size={MAX_JSON_BYTES}", rsync.remote.url(str(REMOTE.images_index)), str(copy)]
        if rsync.run(fetch, missing_ok=True) is not None and copy.exists():
            manifests = json.loads(read_stored(copy)).get("manifests") or []
            indexed = {str((d.get("annotations") or {}).get(REF_NAME)) for d in manifests}
    entries = []
    for image_id in sorted({record.image.id for record in records}):
        entry = archive.get(image_id)
        if entry is not None and entry.hex not in indexed:
            entries.append(entry)
    return entries


def _bundles_to_send(
    store: Store,
    rsync: Rsync,
    records: list[RunRecord],
    staged: StoreLayout,
    scratch: Path,
    exists: bool,
    files: list[str],
    result: TransferResult,
) -> list[str]:
    """Bundle each recorded commit the other side lacks (from the repository, or a bundle this
    store was sent); returns the commits."""
    commits: dict[str, str] = {}
    for record in records:
        if record.git is not None and record.git.commit is not None:
            commits.setdefault(record.git.commit, record.git.root)
    there = set(rsync.listing(str(REMOTE.bundles)) or []) if exists else set()
    sent = []
    for number, (commit, root) in enumerate(sorted(commits.items())):
        if f"{commit}.bundle" in there:
            continue
        if store.layout.bundle(commit).is_file():
            files.append(str(REMOTE.bundle(commit)))
        elif Path(root).is_dir():
            staged.bundles.mkdir(parents=True, exist_ok=True)
            bundle_commits(root, [commit], staged.bundle(commit), scratch / f"mirror-{number}")
        else:
            result.notes.append(f"commit {commit[:12]}: {root} is gone here; its runs go without their code")
            continue
        sent.append(commit)
    return sent


def _inputs_to_send(
    store: Store,
    rsync: Rsync,
    records: list[RunRecord],
    limit: int,
    exists: bool,
    progress: Callable[[str], None] | None,
) -> list[tuple[str, Path]]:
    there = set(rsync.listing(str(REMOTE.inputs)) or []) if exists else set()
    wanted = []
    for digest, (_, copy) in sorted(find_inputs(records, limit, store, progress).items()):
        if copy is not None and digest.removeprefix("sha256:") not in there:
            wanted.append((digest, copy))
    return wanted
