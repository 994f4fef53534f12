"""How a run ends: its outputs hashed, its status decided, its final record written.

Shared by a driver that saw its container through (:mod:`repro.execute.point`) and by a later
command that finishes an orphan's run (:mod:`repro.execute.orphans`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from repro.errors import ReproError, StoreError
from repro.manifest.model import FailOn
from repro.provenance.hashing import hash_file, hash_tree
from repro.results.metrics import MetricsError, metrics_file, summarize_metrics
from repro.runner.container import ContainerOutcome
from repro.store.files import atomic_write, open_stored, read_stored
from repro.store.index import Value
from repro.store.layout import RunFolder
from repro.store.record import LogsRecord, OutputEntry, OutputsRecord, RunRecord, Status
from repro.store.seal import chmod_here, folder_mode, seal_file, seal_outputs
from repro.store.store import Store
from repro.text import display_path

__all__ = [
    "decide_status",
    "failure_pattern",
    "finish_run",
    "outcome_error",
    "parse_metrics",
    "write_parsed_metrics",
]


def outcome_error(outcome: ContainerOutcome | None, record: RunRecord) -> str | None:
    """What went wrong with the container or the writing of its output, in words (None when
    nothing did). A container the engine would not remove is not among these: it does not
    change what the run did (see :func:`finish_run`)."""
    if outcome is None:
        return None
    if outcome.log_error:
        return outcome.log_error
    if outcome.oom_killed:
        limit = (record.manifest.resolved.get("resources") or {}).get("memory")
        shown = f" (resources.memory: {limit})" if limit else ""
        return f"out of memory: the engine killed the container at its memory limit{shown}"
    return None


def decide_status(outcome: ContainerOutcome | None, failure: str | None, *, interrupted: bool) -> Status:
    """A run's status, decided in one order that every way a run ends shares: an interruption,
    then the container's own result (timeout, exit code), then any failure found after it
    (``fail_on``, a write that failed). Nothing else — a container that could not be removed, the
    free space left on the disk — changes it."""
    if interrupted or (outcome is not None and outcome.state == "interrupted"):
        return Status.INTERRUPTED
    if outcome is not None and outcome.state == "timeout":
        return Status.TIMEOUT
    if outcome is None or outcome.exit_code != 0 or failure is not None:
        return Status.FAILED
    return Status.SUCCEEDED


def finish_run(
    store: Store,
    record: RunRecord,
    folder: RunFolder,
    outcome: ContainerOutcome | None,
    error: str | None,
    duration: float,
    *,
    interrupted: bool,
    fail_on: Sequence[FailOn] = (),
    adopted: bool = False,
) -> RunRecord:
    """Write ``record``'s final version: seal and hash the outputs, decide the status, mark the
    point.

    ``outcome`` is None when the container never ran (``error`` says why). A container that
    exited 0 still fails on a ``fail_on`` match or on a write of its output that failed (a match
    also explains a non-zero exit); one that could not be removed keeps its result (the record's
    ``notes`` say so).
    """
    failure = error or outcome_error(outcome, record)
    if failure is None and outcome is not None and outcome.state == "exited":
        # With exit code 0, a match fails the run; with another, it says why the run failed
        # (a simulator that aborts on a guest's panic exits non-zero, and its log says more).
        failure = failure_pattern(fail_on, folder)
    folders = folder_mode(store.layout.runs)
    _release_folder(folder, folders)
    sealed = seal_outputs(folder.outputs, folders)
    outputs, output_error = _hash_outputs(folder, sealed)
    failure = failure or output_error
    status = decide_status(outcome, failure, interrupted=interrupted)
    if status is Status.FAILED and failure is None:
        failure = _disk_full(store)  # the program's own failure, perhaps explained by a full disk
    notes = [outcome.removal_error] if outcome is not None and outcome.removal_error else []
    final = record.model_copy(
        update={
            "status": status,
            "exit_code": outcome.exit_code if outcome else None,
            "error": failure,
            "notes": [*record.notes, *notes],
            "oom_killed": outcome.oom_killed if outcome else False,
            "adopted": adopted or record.adopted,
            "ended_at": datetime.now(UTC),
            "duration_seconds": round(duration, 6),
            "outputs": outputs,
            "logs": _logs(folder, record),
        }
    )
    for log in (folder.stdout, folder.stderr):
        seal_file(log, folders)
    write_parsed_metrics(folder, final)  # first: the index takes the metrics from beside the record
    seal_file(folder.metrics, folders)
    final = store.write_record(final)
    if status is Status.SUCCEEDED:
        store.mark_point(final.point.key, final.id)
    return final


def parse_metrics(folder: RunFolder, record: RunRecord) -> dict[str, object] | None:
    """The run's metrics as its manifest names them (the dump ``metrics.dump`` names: the last
    by default), for ``metrics.json``: ``{"file", "format", "dump", "sha256", "dumps",
    "values"}`` — ``sha256`` being the digest of the bytes parsed, which binds them to the file's
    recorded digest — or ``{"file", "format", "error"}``; None when the manifest names no metrics
    file. Read as a stream, in bounded memory."""
    spec = record.manifest.resolved.get("metrics")
    if not isinstance(spec, dict) or record.outputs is None:
        return None
    file, fmt, which = str(spec.get("file")), str(spec.get("format")), spec.get("dump", "last")
    try:
        summary = summarize_metrics(metrics_file(folder.outputs, file), fmt, which)
    except MetricsError as exc:
        return {"file": file, "format": fmt, "error": str(exc).replace(str(folder.outputs) + "/", "")}
    return {
        "file": file,
        "format": fmt,
        "dump": which,
        "sha256": summary.sha256,
        "dumps": summary.dumps,
        "values": summary.last,
    }


def write_parsed_metrics(folder: RunFolder, record: RunRecord) -> dict[str, Value] | None:
    """Parse the run's metrics (as it ends, or again for ``repro reindex``) and keep them beside
    the record (``metrics.json``, for the index); return them when they are bound to the file
    the record lists (parsed from bytes of its recorded digest), else None."""
    parsed = parse_metrics(folder, record)
    if parsed is None:
        return None
    data = json.dumps(parsed, sort_keys=True).encode() + b"\n"
    if _kept(folder) != data:  # reindex of a million runs rewrites none that hold these bytes
        with contextlib.suppress(OSError):  # derived data: a full disk loses it, not the record
            atomic_write(folder.metrics, data)
    values = parsed.get("values")
    spec = record.manifest.resolved.get("metrics")
    bound = (
        isinstance(spec, dict)
        and record.outputs is not None
        and parsed.get("sha256") == record.outputs.digest_of(str(spec.get("file")))
    )
    return values if isinstance(values, dict) and bound else None


def _kept(folder: RunFolder) -> bytes | None:
    """The bytes of the run's ``metrics.json`` now (None if there is none to read): compared,
    never parsed — it is input until it is rewritten."""
    try:
        return read_stored(folder.metrics, real_parent=True)
    except (OSError, StoreError):
        return None


def failure_pattern(rules: Sequence[FailOn], folder: RunFolder) -> str | None:
    """The first ``fail_on`` pattern found in the run's output, described; None when none is."""
    for rule in rules:
        if rule.file in ("stdout", "stderr"):
            path = folder.stdout if rule.file == "stdout" else folder.stderr
        else:
            try:
                path = metrics_file(folder.outputs, rule.file)
            except MetricsError:
                continue  # never read outside the run's own folder
        if not path.is_file():
            continue
        regex = re.compile(rule.pattern)
        try:  # never through a link: its line would go into the record
            handle = io.TextIOWrapper(os.fdopen(open_stored(path), "rb"), errors="replace")
        except (OSError, StoreError):
            continue
        with handle:
            for number, line in enumerate(handle, 1):
                if regex.search(line):
                    return f"{rule.file}:{number} matches fail_on {rule.pattern!r}: {line.strip()[:160]}"
    return None


def _hash_outputs(folder: RunFolder, removed: list[str]) -> tuple[OutputsRecord | None, str | None]:
    if not _is_folder(folder.outputs):
        return None, "the outputs folder is not a folder any more (replaced by a link?); nothing in it was hashed"
    try:
        tree = hash_tree(folder.outputs)
    except ReproError as exc:
        return None, f"outputs could not be hashed: {exc}"
    entries = [
        OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries
    ]
    record = OutputsRecord(digest=tree.digest, files=entries, total_bytes=tree.total_bytes, privileges_removed=removed)
    return record, None


def _release_folder(folder: RunFolder, folders: int) -> None:
    """While a point runs as another user, its outputs are writable by all and its folder closed
    to all but the driver (see :func:`repro.execute.point.execute_point`); give both the store's
    usual mode back before the outputs are sealed."""
    with contextlib.suppress(OSError):  # never through a link (chmod_here)
        if stat.S_IMODE(folder.outputs.lstat().st_mode) & 0o002:
            chmod_here(folder.outputs, folders)
        if stat.S_IMODE(folder.path.lstat().st_mode) != folders:
            chmod_here(folder.path, folders)


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def _logs(folder: RunFolder, record: RunRecord) -> LogsRecord:
    logs = record.logs
    digests: dict[str, object] = {}
    for stream, path in (("stdout", folder.stdout), ("stderr", folder.stderr)):
        try:
            digests[f"{stream}_sha256"], digests[f"{stream}_bytes"] = hash_file(path), path.stat().st_size
        except (OSError, ReproError):
            continue  # no log (the container never ran): nothing to check later
    return logs.model_copy(update=digests)


_FULL_BYTES = 64 * 1024


def _disk_full(store: Store) -> str | None:
    """Why a program may have failed: the store's disk is full (its outputs may be cut short).
    Only ever an explanation of a failure, never a reason for one."""
    try:
        status = os.statvfs(store.root)
    except OSError:
        return None
    if status.f_bavail * status.f_frsize >= _FULL_BYTES:
        return None
    return f"no space left on device in {display_path(store.root)}: the run's outputs or logs may be cut short"
