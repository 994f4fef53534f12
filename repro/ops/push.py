"""``repro push REMOTE`` / ``repro pull REMOTE``: runs from one store to another, with what a
rerun there needs; only what the other side lacks travels.

What travels is immutable: final records (never a ``running`` one), their logs and outputs,
archived images' blobs (content-addressed), the recorded commits as git bundles
(``bundles/<commit>.bundle``) and the inputs (``inputs/<digest>``, up to a size limit, as
``pack`` does). A file the other side has is never sent again (``rsync --ignore-existing``:
an immutable file with the same name is the same file), so two stores pushing to a third,
or a push cut short and started again, cannot conflict.

What is mutable is never sent but recomputed by the receiving store: point markers, the index
and the image archive's ``index.json`` (from journal entries and ``images/incoming/``, which the
receiver's next command folds in — it needs no repro running during the transfer), leases,
plans, and relocations (a rerun finds a pushed bundle or input by its name). A run's folder
arrives before its ``record.json``, and its journal entry after both: a reader never takes a
half-sent run for a run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.errors import StoreError, UsageError
from repro.manifest.load import load_manifest
from repro.ops.carry import archive_images, bundle_commits, find_inputs
from repro.ops.pack import DEFAULT_INPUT_LIMIT
from repro.ops.remote import Remote, Rsync
from repro.store.images import REF_NAME, ArchivedImage, ImageArchive
from repro.store.journal import Journal
from repro.store.record import RunRecord
from repro.store.status import Status
from repro.store.store import STORE_FORMAT, Store

__all__ = ["TransferResult", "pull", "push"]


@dataclass
class TransferResult:
    remote: str
    direction: str
    """``push`` or ``pull``."""
    runs: list[str] = field(default_factory=list)
    """The runs copied (the other side had none of them)."""
    images: list[str] = field(default_factory=list)
    bundles: list[str] = field(default_factory=list)
    """Commits sent as git bundles."""
    inputs: list[str] = field(default_factory=list)
    """Digests of inputs sent."""
    running: list[str] = field(default_factory=list)
    """Selected runs left behind because they had not ended."""
    notes: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    bytes_received: int = 0


def _names(manifests: Sequence[str]) -> set[str]:
    return {load_manifest(path, require_sources=False).model.name for path in manifests}


def _chosen(ids: Iterable[str], refs: Sequence[str]) -> set[str]:
    """The ids ``refs`` name (whole ids or unique prefixes) among ``ids``."""
    known = sorted(set(ids))
    chosen = set()
    for ref in refs:
        matches = [run_id for run_id in known if run_id.startswith(ref)]
        if ref in known:
            matches = [ref]
        if not matches:
            raise UsageError(f"no run {ref!r} to copy (see: repro log)")
        if len(matches) > 1:
            raise UsageError(f"{ref!r} names several runs ({', '.join(matches[:2])}, …); give more of the id")
        chosen.add(matches[0])
    return chosen


def _check_remote(rsync: Rsync, scratch: Path, *, create: bool) -> bool:
    """Whether the remote store exists (refusing a folder that is not a store, or a store of a
    newer format); without ``create``, a missing store is an error."""
    top = rsync.listing("")
    if top is None or not top:
        if not create:
            raise UsageError(f"{rsync.remote}: no repro store there")
        return False
    if "store.json" not in top:
        raise UsageError(
            f"{rsync.remote}: a folder that is not a repro store; give a store, an empty folder or a new path"
        )
    rsync.run([rsync.remote.url("store.json"), str(scratch / "remote-store.json")])
    try:
        found = json.loads((scratch / "remote-store.json").read_text()).get("repro_store")
    except (OSError, ValueError, AttributeError):
        raise StoreError(f"{rsync.remote}: its store.json is unreadable") from None
    if not isinstance(found, int) or found > STORE_FORMAT:
        raise StoreError(
            f"{rsync.remote} is a store of format {found}, newer than this repro's ({STORE_FORMAT}): upgrade repro"
        )
    return True


def _recorded_runs(rsync: Rsync) -> set[str]:
    """The runs of the remote store that have a record (a folder without one is half-sent)."""
    listed = rsync.listing("runs", "-r", "--include=/*/", "--include=/*/record.json", "--exclude=*") or []
    return {name.split("/")[0] for name in listed if name.endswith("/record.json") and name.count("/") == 1}


def _blob(digest: str) -> str:
    """Where an archived image's blob is under a store."""
    return f"images/blobs/sha256/{digest.removeprefix('sha256:')}"


def _copy(rsync: Rsync, paths: Iterable[str], source: str, destination: str, *options: str) -> None:
    """Copy ``paths`` (relative to both roots; folders whole) that ``destination`` lacks."""
    with tempfile.NamedTemporaryFile("w", prefix="repro-files-", suffix=".txt") as listing:
        listing.write("".join(f"{path}\n" for path in paths))
        listing.flush()
        rsync.run(["-rlt", "--ignore-existing", f"--files-from={listing.name}", *options, source, destination])


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
    wanted = _chosen((row.id for row in rows), refs) if refs else None
    names = _names(manifests) if manifests else None
    selected = [row for row in rows if (wanted is None or row.id in wanted) and (names is None or row.name in names)]
    result.running = [row.id for row in selected if row.status is Status.RUNNING]
    with tempfile.TemporaryDirectory(prefix="repro-push-") as scratch_name:
        scratch = Path(scratch_name)
        exists = _check_remote(rsync, scratch, create=True)
        there = _recorded_runs(rsync) if exists else set()
        records = [chosen.load(row.id) for row in selected if row.status.final and row.id not in there]
        records = [record for record in records if record.status.final]  # as on disk, not as indexed
        if records:
            _send(chosen, rsync, records, scratch, exists, max_input_bytes, progress, result)
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
    files = [f"runs/{record.id}" for record in records]
    files += sorted({_blob(digest) for entry in images for digest in entry.blobs()})
    staged = scratch / "staged"
    result.bundles = _bundles_to_send(store, rsync, records, staged, scratch, exists, files, result)
    inputs = _inputs_to_send(store, rsync, records, max_input_bytes, exists, progress)
    if (staged / "bundles").is_dir():
        rsync.run(["-rt", "--ignore-existing", f"{staged}/", url])
    for digest, source in inputs:
        target = rsync.remote.url(f"inputs/{digest.removeprefix('sha256:')}")
        rsync.run(["-rlt", "--ignore-existing", "--mkpath", f"{source}/" if source.is_dir() else str(source), target])
    result.inputs = [digest for digest, _ in inputs]
    # The runs' folders, then their records, then what tells the other side they are there.
    _copy(rsync, files, f"{store.root}/", url, "--exclude=/runs/*/record.json")
    _copy(rsync, (f"runs/{record.id}/record.json" for record in records), f"{store.root}/", url)
    last = scratch / "last"
    for entry in images:
        path = last / "images" / "incoming" / f"{entry.hex}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(entry.model_dump_json())
    journal = Journal(last / "journal")
    for record in records:
        journal.note(record.id)
    rsync.run(["-rt", f"{last}/", url])
    result.runs = [record.id for record in records]
    result.images = [entry.id for entry in images]


def _images_to_send(
    archive: ImageArchive, rsync: Rsync, records: list[RunRecord], scratch: Path, exists: bool
) -> list[ArchivedImage]:
    """The archived images of ``records`` the other side's archive does not hold yet."""
    indexed: set[str] = set()
    if exists and rsync.listing("images") is not None:
        copy = scratch / "remote-index.json"
        if rsync.run([rsync.remote.url("images/index.json"), str(copy)], missing_ok=True) is not None:
            manifests = json.loads(copy.read_text()).get("manifests") or []
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
    staged: Path,
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
    there = set(rsync.listing("bundles") or []) if exists else set()
    sent = []
    for number, (commit, root) in enumerate(sorted(commits.items())):
        if f"{commit}.bundle" in there:
            continue
        if store.layout.bundle(commit).is_file():
            files.append(f"bundles/{commit}.bundle")
        elif Path(root).is_dir():
            (staged / "bundles").mkdir(parents=True, exist_ok=True)
            bundle_commits(root, [commit], staged / "bundles" / f"{commit}.bundle", scratch / f"mirror-{number}")
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
    there = set(rsync.listing("inputs") or []) if exists else set()
    wanted = []
    for digest, (_, copy) in sorted(find_inputs(records, limit, store, progress).items()):
        if copy is not None and digest.removeprefix("sha256:") not in there:
            wanted.append((digest, copy))
    return wanted


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
        _check_remote(rsync, scratch, create=False)
        there = _recorded_runs(rsync)
        if refs:
            there &= _chosen(there, refs)
        here = {path.parent.name for path in chosen.layout.runs.glob("*/record.json")}
        candidates = sorted(there - here)
        records = _remote_records(rsync, scratch, candidates)
        names = _names(manifests) if manifests else None
        records = [record for record in records if names is None or record.manifest.name in names]
        result.running = [record.id for record in records if not record.status.final]
        records = [record for record in records if record.status.final]
        if records:
            chosen.create()
            _receive(chosen, rsync, records, scratch, result)
    result.bytes_sent, result.bytes_received = rsync.sent, rsync.received
    return result


def _remote_records(rsync: Rsync, scratch: Path, run_ids: list[str]) -> list[RunRecord]:
    if not run_ids:
        return []
    staging = scratch / "records"
    _copy(rsync, (f"runs/{run_id}/record.json" for run_id in run_ids), rsync.remote.url(), f"{staging}/")
    records = []
    for run_id in run_ids:
        try:
            records.append(RunRecord.model_validate_json((staging / "runs" / run_id / "record.json").read_bytes()))
        except (OSError, ValueError):
            continue  # unreadable there: `repro fsck` on that side says why
    return records


def _receive(store: Store, rsync: Rsync, records: list[RunRecord], scratch: Path, result: TransferResult) -> None:
    archive = ImageArchive(store.layout)
    images = _remote_images(rsync, archive, records, scratch)
    files = [f"runs/{record.id}" for record in records]
    bundles = set(rsync.listing("bundles") or [])
    commits = sorted({r.git.commit for r in records if r.git and r.git.commit and f"{r.git.commit}.bundle" in bundles})
    files += [f"bundles/{commit}.bundle" for commit in commits]
    inputs = set(rsync.listing("inputs") or [])
    digests = sorted({i.digest for r in records for i in r.inputs if i.digest.removeprefix("sha256:") in inputs})
    files += [f"inputs/{digest.removeprefix('sha256:')}" for digest in digests]
    url = rsync.remote.url()
    _copy(rsync, files, url, f"{store.root}/", "--exclude=/runs/*/record.json")
    _copy(rsync, (f"runs/{record.id}/record.json" for record in records), url, f"{store.root}/")
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
    if not missing or rsync.run([rsync.remote.url("images/index.json"), str(copy)], missing_ok=True) is None:
        return []
    descriptors: list[dict[str, Any]] = [
        d
        for d in json.loads(copy.read_text()).get("manifests") or []
        if (d.get("annotations") or {}).get(REF_NAME) in missing
    ]
    if not descriptors:
        return []
    here = f"{archive.layout.root}/"
    _copy(rsync, (_blob(str(descriptor["digest"])) for descriptor in descriptors), rsync.remote.url(), here)
    entries = [archive.entry_of(descriptor) for descriptor in descriptors]  # their manifests are here now
    _copy(rsync, sorted({_blob(digest) for entry in entries for digest in entry.blobs()}), rsync.remote.url(), here)
    return entries
