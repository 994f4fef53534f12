"""What ``repro push`` and ``repro pull`` share: runs move from one store to another, with what a
rerun there needs; only what the other side lacks travels.

What travels is immutable: final records (never a ``running`` one), their logs and outputs,
archived images' blobs (content-addressed), the recorded commits as git bundles
(``bundles/<commit>.bundle``) and the inputs (``inputs/<digest>``, up to a size limit, as
``pack`` does). A file the other side has is never sent again (``rsync --ignore-existing``:
an immutable file with the same name is the same file), so two stores pushing to a third,
or a push cut short and started again, cannot conflict.

Signed statements (``runs/<id>/provenance/<key>.intoto.json``) are additive files: one signed
after its run was first sent travels with the next transfer into the run already there, beside
its record (nothing else is ever written into a run the other side has).

What is mutable is never sent but recomputed by the receiving store: point markers, the index
and the image archive's ``index.json`` (from journal entries and ``images/incoming/``, which the
receiver's next command folds in — it needs no repro running during the transfer), leases,
plans, and relocations (a rerun finds a pushed bundle or input by its name). A run's folder
arrives before its ``record.json``, and its journal entry after both: a reader never takes a
half-sent run for a run.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import StoreError, UsageError
from repro.manifest.load import load_manifest
from repro.ops.remote import Rsync
from repro.store.files import MAX_JSON_BYTES, read_stored
from repro.store.layout import StoreLayout, shown_name
from repro.store.names import is_run_id
from repro.store.store import STORE_FORMAT, Store

__all__ = [
    "REMOTE",
    "TransferResult",
    "check_remote",
    "chosen_runs",
    "copy_missing",
    "names_of",
    "recorded_runs",
    "remote_runs",
    "statements_lacking",
]

_log = logging.getLogger(__name__)

REMOTE = StoreLayout(Path())
"""The other store's paths, relative to its root (what rsync is given)."""


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
    rsync.run(
        [f"--max-size={MAX_JSON_BYTES}", rsync.remote.url(str(REMOTE.marker)), str(scratch / "remote-store.json")]
    )
    try:
        found = json.loads(read_stored(scratch / "remote-store.json")).get("repro_store")
    except (OSError, ValueError, AttributeError, StoreError):
        raise StoreError(f"{rsync.remote}: its store.json is unreadable") from None
    if not isinstance(found, int) or found > STORE_FORMAT:
        raise StoreError(
            f"{rsync.remote} is a store of format {found}, newer than this repro's ({STORE_FORMAT}): upgrade repro"
        )
    return True


def recorded_runs(rsync: Rsync) -> set[str]:
    """The runs of the remote store that have a record (a folder without one is half-sent); a
    folder whose name is not a run id is not a run: skipped, with a line."""
    return remote_runs(rsync)[0]


_STATEMENT = re.compile(r"^provenance/[0-9a-f]{16}\.intoto\.json$")
"""A signed statement's name in a run folder (what may be carried into a run already there)."""


def remote_runs(rsync: Rsync) -> tuple[set[str], dict[str, set[str]]]:
    """The remote store's runs that have a record, and the signed statements each holds
    (``provenance/<key>.intoto.json``), in one listing."""
    listed = (
        rsync.listing(
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
    runs = {name.split("/")[0] for name in listed if name.endswith("/record.json") and name.count("/") == 1}
    for name in sorted(runs):  # another store's name is input: a folder not named by a run id is no run
        if not is_run_id(name):
            shown = shown_name(name)
            _log.warning("skipping %s in %s: not a run's folder (its name is not a run id)", shown, rsync.remote)
    runs = {name for name in runs if is_run_id(name)}
    statements: dict[str, set[str]] = {}
    for name in listed:
        run_id, _, rest = name.partition("/")
        if run_id in runs and _STATEMENT.match(rest):
            statements.setdefault(run_id, set()).add(rest)
    return runs, statements


def statements_lacking(store: Store, run_ids: Iterable[str], there: dict[str, set[str]]) -> list[str]:
    """The signed statements of ``run_ids`` in ``store`` that the other side's listing ``there``
    lacks (statements are additive: one signed after a run was first sent travels later), as
    paths relative to the store's root."""
    missing = []
    for run_id in sorted(run_ids):
        folder = store.run_folder(run_id)
        for path in folder.statements():
            name = path.relative_to(folder.path).as_posix()
            if _STATEMENT.match(name) and name not in there.get(run_id, set()):
                missing.append(f"{REMOTE.runs.name}/{run_id}/{name}")
    return missing


def copy_missing(rsync: Rsync, paths: Iterable[str], source: str, destination: str, *options: str) -> None:
    """Copy ``paths`` (relative to both roots; folders whole) that ``destination`` lacks."""
    with tempfile.NamedTemporaryFile("w", prefix="repro-files-", suffix=".txt") as listing:
        listing.write("".join(f"{path}\n" for path in paths))
        listing.flush()
        rsync.run(["-rlt", "--ignore-existing", f"--files-from={listing.name}", *options, source, destination])
