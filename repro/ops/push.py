"""``repro push REMOTE``: this store's ended runs that another store lacks, with what a rerun
there needs (see :mod:`repro.ops.transfer` for what travels, and in which order).

Everything goes into the other store's staging area (``staging/``), and the marks that say a
run and an image arrived whole go last; the other store's next command checks them and takes
them in (:mod:`repro.store.staging`). Runs that wait there, whole, count as there: they are not
sent again."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from repro.ops.carry import archive_images, bundle_commits, find_inputs, with_upstream
from repro.ops.pack import DEFAULT_INPUT_LIMIT
from repro.ops.remote import Remote, Rsync
from repro.ops.transfer import (
    REMOTE,
    RemoteRuns,
    TransferResult,
    check_remote,
    chosen_runs,
    copy_missing,
    differing_records,
    names_of,
    remote_images,
    remote_runs,
    statements_lacking,
)
from repro.store.images import ArchivedImage, ImageArchive, manifest_digest
from repro.store.layout import StoreLayout
from repro.store.names import is_digest, is_hex64
from repro.store.record import RunRecord
from repro.store.staging import is_commit
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
        listing = remote_runs(rsync, staged=True) if exists else RemoteRuns()
        ended = [row.id for row in selected if row.status.final]
        differing = differing_records(
            rsync, scratch, chosen, listing.records, [run_id for run_id in ended if run_id in listing.records]
        )
        result.refused += differing.values()
        there = set(listing.records) | listing.staged
        records = [chosen.load(run_id) for run_id in ended if run_id not in there]
        records = [record for record in records if record.status.final]  # as on disk, not as indexed
        # The upstream runs whose outputs they mounted (from:) go too: a rerun there needs them.
        records = [record for record in with_upstream(chosen, records) if record.id not in there]
        if records:
            _send(chosen, rsync, records, scratch, exists, max_input_bytes, progress, result)
        same = (run_id for run_id in ended if run_id in listing.records and run_id not in differing)
        late = statements_lacking(chosen, same, listing.statements)
        if late:  # signed after the run was first sent: the one thing added to a run there
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
    staging = rsync.remote.url(f"{REMOTE.staging.root}/")
    if not exists:  # a new store: its marker and folders (the other side needs no repro to use it)
        skeleton = Store(scratch / "skeleton")
        skeleton.create()  # its marker, folders and empty index; its disk reserve is its own to make
        rsync.run(["-rt", "--mkpath", "--ignore-existing", "--exclude=/reserve", f"{skeleton.root}/", url])
    archive = ImageArchive(store.layout)
    archive_images(archive, records, progress)
    images = _images_to_send(archive, rsync, records, scratch, exists)
    blobs_there = _names_there(rsync, str(REMOTE.image_blobs), exists)
    files = [str(REMOTE.run(record.id)) for record in records]
    files += sorted(
        {
            str(REMOTE.image_blob(digest))
            for entry in images
            for digest in entry.blobs()
            if digest.removeprefix("sha256:") not in blobs_there
        }
    )
    made = StoreLayout(scratch / "made")  # bundles made here, then sent as they lie
    result.bundles = _bundles_to_send(store, rsync, records, made, scratch, exists, files, result)
    inputs = _inputs_to_send(store, rsync, records, max_input_bytes, exists, progress)
    if made.bundles.is_dir():
        rsync.run(["-rt", "--ignore-existing", f"{made.root}/", staging])
    for digest, source in inputs:
        target = rsync.remote.url(str(REMOTE.staging.input(digest)))
        rsync.run(["-rlt", "--ignore-existing", "--mkpath", f"{source}/" if source.is_dir() else str(source), target])
    result.inputs = [digest for digest, _ in inputs]
    # The runs' folders, then their records, then what says they arrived whole.
    copy_missing(rsync, files, f"{store.root}/", staging, f"--exclude=/{REMOTE.runs}/*/record.json")
    copy_missing(rsync, (str(REMOTE.run_folder(record.id).record) for record in records), f"{store.root}/", staging)
    last = StoreLayout(scratch / "last")  # laid out as the other side's staging area
    for entry in images:
        path = last.image_incoming(entry.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry.model_dump_json())
    last.journal.mkdir(parents=True)
    for record in records:
        (last.journal / record.id).touch()
    rsync.run(["-rt", f"{last.root}/", staging])
    result.runs = [record.id for record in records]
    result.images = [entry.id for entry in images]


def _names_there(rsync: Rsync, folder: str, exists: bool) -> set[str]:
    """The names in a folder of the other store (none when it is new or has no such folder)."""
    return set(rsync.listing(folder) or []) if exists else set()


def _images_to_send(
    archive: ImageArchive, rsync: Rsync, records: list[RunRecord], scratch: Path, exists: bool
) -> list[ArchivedImage]:
    """The archived images of ``records`` the other side's archive does not hold yet (indexed,
    or whole in its staging area)."""
    offered = remote_images(rsync, scratch) if exists and rsync.listing(str(REMOTE.images)) is not None else {}
    waiting = {name.removesuffix(".json") for name in _names_there(rsync, str(REMOTE.staging.images_incoming), exists)}
    entries = []
    for image_id in sorted({record.image.id for record in records}):
        entry = archive.get(image_id)
        if entry is None or entry.hex in waiting:
            continue
        if entry.hex in offered:  # indexed there; a malformed entry is one line
            manifest_digest(offered[entry.hex], f"{rsync.remote}: image {entry.hex[:12]}")
            continue
        entries.append(entry)
    return entries


def _bundles_to_send(
    store: Store,
    rsync: Rsync,
    records: list[RunRecord],
    made: StoreLayout,
    scratch: Path,
    exists: bool,
    files: list[str],
    result: TransferResult,
) -> list[str]:
    """Bundle each recorded commit the other side lacks (from the repository, or a bundle this
    store was sent); returns the commits."""
    commits: dict[str, str] = {}
    for record in records:
        if record.git is not None and record.git.commit is not None and is_commit(record.git.commit):
            commits.setdefault(record.git.commit, record.git.root)
    there = _names_there(rsync, str(REMOTE.bundles), exists)
    there |= _names_there(rsync, str(REMOTE.staging.bundles), exists)  # whole: a bundle is one file
    sent = []
    for number, (commit, root) in enumerate(sorted(commits.items())):
        if f"{commit}.bundle" in there:
            continue
        if store.layout.bundle(commit).is_file():
            files.append(str(REMOTE.bundle(commit)))
        elif Path(root).is_dir():
            made.bundles.mkdir(parents=True, exist_ok=True)
            bundle_commits(root, [commit], made.bundle(commit), scratch / f"mirror-{number}")
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
    there = {name for name in _names_there(rsync, str(REMOTE.inputs), exists) if is_hex64(name)}
    wanted = []
    for digest, (_, copy) in sorted(find_inputs(records, limit, store, progress).items()):
        if copy is not None and is_digest(digest) and digest.removeprefix("sha256:") not in there:
            wanted.append((digest, copy))
    return wanted
