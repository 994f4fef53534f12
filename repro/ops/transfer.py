"""What ``repro push`` and ``repro pull`` share: runs move from one store to another, with what a
rerun there needs; only what the other side lacks travels, and what arrives is input.

What travels is immutable: final records (never a ``running`` one), their logs and outputs,
archived images' blobs (content-addressed), the recorded commits as git bundles
(``bundles/<commit>.bundle``) and the inputs (``inputs/<digest>``, up to a size limit, as
``pack`` does). It lands in the receiving store's staging area (``staging/``, laid out as a
store; see :mod:`repro.store.staging`), each file under the name a rerun of the transfer finds
(``rsync --ignore-existing``), and becomes part of the store only once it is complete and
checked: the marks that say a run and its image arrived whole come last (a push sends a run's
folder, then its record, then its mark; a pull reads the records first, to choose what to fetch);
the receiving store then checks each run against its record, each blob against its digest, and
moves them in. A pull does that itself; a push leaves it to the other
store's next command, which needs no repro running during the transfer. A transfer cut
anywhere shows nothing half-sent, and running it again completes it.

Names read from the other store — its run folders, its records' ids, commits, digests — are
checked before they name a file here or there; one that is not a name skips its run, in one
line, and the rest travel. A run this store has is never written into: the same record is
nothing to do, a different one is refused, naming it. A malformed ``store.json`` or image index
there is one line, exit 3, before anything moves.

Signed statements (``runs/<id>/provenance/<key>.intoto.json``) are additive files: one signed
after its run was first sent travels with the next transfer into the run already there, beside
its record (nothing else is ever written into a run the other side has).

What is mutable is never sent but recomputed by the receiving store: point markers, the index
and the image archive's ``index.json``, leases, plans, and relocations (a rerun finds a pushed
bundle or input by its name).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.errors import StoreError, UsageError
from repro.manifest.load import load_manifest
from repro.ops.remote import Listed, Rsync
from repro.store.images import image_descriptors
from repro.store.layout import StoreLayout
from repro.store.names import is_run_id
from repro.store.record import RunRecord
from repro.store.runs import RunFiles
from repro.store.staging import RECORD_LIMIT, Refused, is_additive, read_record, read_regular
from repro.store.store import STORE_FORMAT
from repro.text import printable

__all__ = [
    "JSON_LIMIT",
    "REMOTE",
    "RemoteRuns",
    "TransferResult",
    "check_remote",
    "chosen_runs",
    "copy_missing",
    "differing_records",
    "fetch_records",
    "names_of",
    "remote_images",
    "remote_runs",
    "statements_lacking",
]

REMOTE = StoreLayout(Path())
"""The other store's paths, relative to its root (what rsync is given)."""

JSON_LIMIT = RECORD_LIMIT
"""The largest JSON file (a record, an image index) taken from another store; larger is not fetched."""


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
    refused: list[str] = field(default_factory=list)
    """What the other store offered and was not taken, or would not take: one line each."""
    notes: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    """Signed statements carried into runs the other side had already."""
    bytes_sent: int = 0
    bytes_received: int = 0


def names_of(manifests: Sequence[str]) -> set[str]:
    return {load_manifest(path, require_sources=False).model.name for path in manifests}


def chosen_runs(ids: Iterable[str], refs: Sequence[str]) -> set[str]:
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


def check_remote(rsync: Rsync, scratch: Path, *, create: bool) -> bool:
    """Whether the remote store exists (refusing a folder that is not a store, or a store of a
    newer format); without ``create``, a missing store is an error."""
    top = rsync.listing("")
    if top is None or not top:
        if not create:
            raise UsageError(f"{rsync.remote}: no repro store there")
        return False
    if REMOTE.marker.name not in top:
        raise UsageError(
            f"{rsync.remote}: a folder that is not a repro store; give a store, an empty folder or a new path"
        )
    copy = scratch / "remote-store.json"
    rsync.run([f"--max-size={JSON_LIMIT}", rsync.remote.url(str(REMOTE.marker)), str(copy)])
    try:
        found = json.loads(read_regular(copy, JSON_LIMIT)).get("repro_store")
    except (OSError, ValueError, AttributeError):
        raise StoreError(f"{rsync.remote}: its store.json is unreadable or not a store's; repair it there") from None
    if not isinstance(found, int) or found > STORE_FORMAT:
        raise StoreError(
            f"{rsync.remote} is a store of format {found}, newer than this repro's ({STORE_FORMAT}): upgrade repro"
        )
    if create and found < STORE_FORMAT:
        _upgrade_remote(rsync, copy)
    return True


def _upgrade_remote(rsync: Rsync, marker: Path) -> None:
    """Mark an older store as this repro's format before anything is pushed into it: what a push
    leaves (runs in ``staging/``, records for its log) is taken in only by a repro that knows the
    format, and an older one must refuse the store rather than not see the pushed runs. The other
    side needs no repro for this: its ``store.json`` is replaced whole, as rsync replaces files."""
    facts = json.loads(read_regular(marker, JSON_LIMIT))
    facts["repro_store"] = STORE_FORMAT
    marker.write_text(json.dumps(facts) + "\n")
    rsync.run([str(marker), rsync.remote.url(str(REMOTE.marker))])


@dataclass
class RemoteRuns:
    """The other store's runs, as its folder names say."""

    records: dict[str, Listed] = field(default_factory=dict)
    """Run id → its ``record.json`` there (a folder without one is half-written: not listed)."""
    statements: dict[str, set[str]] = field(default_factory=dict)
    """Run id → the signed statements its folder holds there (``provenance/<key>.intoto.json``)."""
    staged: set[str] = field(default_factory=set)
    """Runs pushed there that wait, whole, for its next command to take them in."""
    refused: list[str] = field(default_factory=list)
    """A line for each folder with a record whose name is no run id."""


def remote_runs(rsync: Rsync, *, staged: bool = False) -> RemoteRuns:
    """The remote store's runs that have a record, and the signed statements each holds, in one
    listing (and, with ``staged``, the runs pushed there that wait to be taken in); a folder whose
    name is no run id is a line, never a name to use."""
    found = RemoteRuns()
    listed = (
        rsync.entries(
            str(REMOTE.runs),
            "-r",
            "--include=/*/",
            "--include=/*/record.json",
            "--include=/*/provenance/",
            "--include=/*/provenance/*.intoto.json",
            "--exclude=*",
        )
        or []
    )
    for entry in listed:
        folder, _, rest = entry.name.partition("/")
        if rest != "record.json":
            continue
        if not is_run_id(folder):
            found.refused.append(f"{rsync.remote}: a run folder named '{printable(folder)}' is not a run id; skipped")
        elif entry.kind != "-":
            found.refused.append(f"{rsync.remote}: run {folder}: its record.json is not a file (a link?); skipped")
        else:
            found.records[folder] = entry
    for entry in listed:
        folder, _, rest = entry.name.partition("/")
        if folder in found.records and entry.kind == "-" and is_additive(rest):
            found.statements.setdefault(folder, set()).add(rest)
    if staged:
        found.staged = {name for name in rsync.listing(str(REMOTE.staging.journal)) or [] if is_run_id(name)}
    return found


def statements_lacking(store: RunFiles, run_ids: Iterable[str], there: dict[str, set[str]]) -> list[str]:
    """The signed statements of ``run_ids`` in ``store`` that the other side's listing ``there``
    lacks (statements are additive: one signed after a run was first sent travels later, into the
    run already there — the one thing ever written into a run the other side has), as paths
    relative to the store's root."""
    missing = []
    for run_id in sorted(run_ids):
        folder = store.run_folder(run_id)
        for path in folder.statements():
            name = path.relative_to(folder.path).as_posix()
            if is_additive(name) and not path.is_symlink() and name not in there.get(run_id, set()):
                missing.append(f"{REMOTE.runs.name}/{run_id}/{name}")
    return missing


def _stamp(path: Path) -> tuple[int, str] | None:
    """A local file's size and modification time as ``rsync --list-only`` shows them."""
    try:
        facts = os.lstat(path)
    except OSError:
        return None
    return facts.st_size, time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(facts.st_mtime))


def differing_records(
    rsync: Rsync, scratch: Path, store: RunFiles, there: dict[str, Listed], run_ids: Iterable[str]
) -> dict[str, str]:
    """Each of ``run_ids`` (runs both stores have) whose record differs between them, with a line
    that says so: neither is changed, and nothing is added to either.
    Records are compared by size and time first (rsync keeps both), by their bytes when those
    differ: a run copied by repro costs nothing to compare."""
    unsure = []
    for run_id in run_ids:
        listed = there[run_id]
        if _stamp(store.run_folder(run_id).record) != (listed.size, listed.modified):
            unsure.append(run_id)
    if not unsure:
        return {}
    folder = scratch / "compared"
    copy_missing(
        rsync,
        (str(REMOTE.run_folder(run_id).record) for run_id in unsure),
        rsync.remote.url(),
        f"{folder}/",
        f"--max-size={JSON_LIMIT}",
    )
    lines = {}
    for run_id in unsure:
        try:
            theirs = read_regular(folder / str(REMOTE.run_folder(run_id).record), JSON_LIMIT)
            ours = read_regular(store.run_folder(run_id).record, JSON_LIMIT)
        except (OSError, ValueError):
            theirs, ours = b"", None
        if theirs != ours:
            lines[run_id] = (
                f"run {run_id}: {rsync.remote} holds a record of it that differs from this store's; "
                f"neither is changed (compare them: repro show {run_id}, on each side)"
            )
    return lines


def fetch_records(rsync: Rsync, into: StoreLayout, run_ids: Sequence[str]) -> tuple[list[RunRecord], list[str]]:
    """Fetch the remote records of ``run_ids`` into the run folders of ``into`` (a staging area:
    fetched again if they changed there, as a running record does) and read each as input
    (:func:`repro.store.staging.read_record`); a line for each that is refused, whose folder
    there is removed."""
    if not run_ids:
        return [], []
    wanted = (str(REMOTE.run_folder(run_id).record) for run_id in run_ids)
    copy_missing(rsync, wanted, rsync.remote.url(), f"{into.root}/", f"--max-size={JSON_LIMIT}", only_missing=False)
    records, refused = [], []
    for run_id in run_ids:
        try:
            record, _ = read_record(into.run(run_id), run_id)
        except Refused as refusal:
            refused.append(str(refusal))
            shutil.rmtree(into.run(run_id), ignore_errors=True)
            continue
        records.append(record)
    return records, refused


def remote_images(rsync: Rsync, scratch: Path) -> dict[str, dict[str, Any]]:
    """The image descriptors of the remote archive's ``index.json``, by image ID hex (none when it
    has no archive); a malformed index is one line (:class:`repro.store.images.ArchiveError`)."""
    copy = scratch / "remote-index.json"
    fetched = rsync.run(
        [f"--max-size={JSON_LIMIT}", rsync.remote.url(str(REMOTE.images_index)), str(copy)], missing_ok=True
    )
    if fetched is None:
        return {}
    where = f"{rsync.remote}: {REMOTE.images_index}"
    try:
        data = read_regular(copy, JSON_LIMIT)
    except (OSError, ValueError):
        raise StoreError(f"{where} is unreadable, or larger than {JSON_LIMIT} bytes; repair it there") from None
    return image_descriptors(data, where)


def copy_missing(
    rsync: Rsync, paths: Iterable[str], source: str, destination: str, *options: str, only_missing: bool = True
) -> None:
    """Copy ``paths`` (relative to both roots; folders whole) that ``destination`` lacks (or,
    without ``only_missing``, that differ there by size or time)."""
    with tempfile.NamedTemporaryFile("w", prefix="repro-files-", suffix=".txt") as listing:
        listing.write("".join(f"{path}\n" for path in paths))
        listing.flush()
        missing = ["--ignore-existing"] if only_missing else []
        rsync.run(["-rlt", *missing, f"--files-from={listing.name}", *options, source, destination])
