"""How a run ends: its outputs hashed, its status decided, its final record written.

Shared by a driver that saw its container through (:mod:`repro.execute.point`) and by a later
command that finishes an orphan's run (:mod:`repro.execute.orphans`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from repro.errors import ReproError
from repro.manifest.model import FailOn
from repro.provenance.hashing import hash_file, hash_tree
from repro.results.metrics import MetricsError, metrics_file, read_metrics
from repro.runner.container import ContainerOutcome
from repro.store.files import atomic_write
from repro.store.index import Value
from repro.store.layout import RunFolder
from repro.store.record import LogsRecord, OutputEntry, OutputsRecord, RunRecord, Status
from repro.store.store import Store
from repro.text import display_path

__all__ = [
    "failure_pattern",
    "finish_run",
    "outcome_error",
    "parse_metrics",
    "remove_privileges",
    "write_parsed_metrics",
]


def outcome_error(outcome: ContainerOutcome | None, record: RunRecord) -> str | None:
    """What went wrong around the container, in words (None when nothing did)."""
    if outcome is None:
        return None
    if outcome.removal_error:
        return outcome.removal_error
    if outcome.log_error:
        return outcome.log_error
    if outcome.oom_killed:
        limit = (record.manifest.resolved.get("resources") or {}).get("memory")
        shown = f" (resources.memory: {limit})" if limit else ""
        return f"out of memory: the engine killed the container at its memory limit{shown}"
    return None


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
    """Write ``record``'s final version: hash the outputs, decide the status, mark the point.

    ``outcome`` is None when the container never ran (``error`` says why). A container that
    exited 0 still fails on a ``fail_on`` match; one that could not be removed keeps its result.
    """
    error = error or outcome_error(outcome, record) or _disk_full(store)
    if error is None and outcome is not None and outcome.state == "exited" and outcome.exit_code == 0:
        error = failure_pattern(fail_on, folder)
    _release_folder(folder)
    removed = remove_privileges(folder.outputs)
    outputs, output_error = _hash_outputs(folder, removed)
    error = error or output_error
    if interrupted or (outcome is not None and outcome.state == "interrupted"):
        status = Status.INTERRUPTED
    elif outcome is not None and outcome.state == "timeout":
        status = Status.TIMEOUT
    elif outcome is None or outcome.exit_code != 0 or (error is not None and outcome.removal_error is None):
        status = Status.FAILED
    else:
        status = Status.SUCCEEDED
    final = record.model_copy(
        update={
            "status": status,
            "exit_code": outcome.exit_code if outcome else None,
            "error": error,
            "oom_killed": outcome.oom_killed if outcome else False,
            "adopted": adopted or record.adopted,
            "ended_at": datetime.now(UTC),
            "duration_seconds": round(duration, 6),
            "outputs": outputs,
            "logs": _logs(folder, record),
        }
    )
    write_parsed_metrics(folder, final)  # first: the index takes the metrics from beside the record
    final = store.write_record(final)
    if status is Status.SUCCEEDED:
        store.mark_point(final.point.key, final.id)
    return final


def parse_metrics(folder: RunFolder, record: RunRecord) -> dict[str, object] | None:
    """The run's metrics as its manifest names them (the last dump), for ``metrics.json``:
    ``{"file", "format", "dumps", "values"}``, or ``{"file", "format", "error"}``; None when the
    manifest names no metrics file."""
    spec = record.manifest.resolved.get("metrics")
    if not isinstance(spec, dict) or record.outputs is None:
        return None
    file, fmt = str(spec.get("file")), str(spec.get("format"))
    try:
        dumps = read_metrics(metrics_file(folder.outputs, file), fmt)
    except MetricsError as exc:
        return {"file": file, "format": fmt, "error": str(exc).replace(str(folder.outputs) + "/", "")}
    return {"file": file, "format": fmt, "dumps": len(dumps), "values": dumps[-1]}


def write_parsed_metrics(folder: RunFolder, record: RunRecord) -> dict[str, Value] | None:
    """Parse the run's metrics once, as it ends: kept beside the record and in the index."""
    parsed = parse_metrics(folder, record)
    if parsed is None:
        return None
    with contextlib.suppress(OSError):  # derived data: a full disk loses it, not the record
        atomic_write(folder.metrics, json.dumps(parsed, sort_keys=True).encode() + b"\n")
    values = parsed.get("values")
    return values if isinstance(values, dict) else None


def failure_pattern(rules: Sequence[FailOn], folder: RunFolder) -> str | None:
    """The first ``fail_on`` pattern found in the run's output, described; None when none is."""
    for rule in rules:
        if rule.file in ("stdout", "stderr"):
            path = folder.stdout if rule.file == "stdout" else folder.stderr
        else:
            path = (folder.outputs / rule.file).resolve()
            if not path.is_relative_to(folder.outputs.resolve()):
                continue  # never read outside the run's own folder
        if not path.is_file():
            continue
        regex = re.compile(rule.pattern)
        with path.open(errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if regex.search(line):
                    return f"{rule.file}:{number} matches fail_on {rule.pattern!r}: {line.strip()[:160]}"
    return None


def _hash_outputs(folder: RunFolder, removed: list[str]) -> tuple[OutputsRecord | None, str | None]:
    try:
        tree = hash_tree(folder.outputs)
    except ReproError as exc:
        return None, f"outputs could not be hashed: {exc}"
    entries = [
        OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries
    ]
    record = OutputsRecord(digest=tree.digest, files=entries, total_bytes=tree.total_bytes, privileges_removed=removed)
    return record, None


_PRIVILEGES = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
_BIT_NAMES = (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID), ("sticky", stat.S_ISVTX))


def remove_privileges(outputs: Path) -> list[str]:
    """Clear setuid, setgid and sticky bits from the regular files under ``outputs`` (a file this
    process may not chmod — a container's root made it — is removed instead); say what was done.

    Docker's bind mounts cannot be ``nosuid``: without this, a point running as root could leave
    a setuid-root program for anyone on the host to run."""
    done = []
    for root, _folders, files in os.walk(outputs):
        for name in files:
            path = Path(root) / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if not stat.S_ISREG(mode) or not mode & _PRIVILEGES:
                continue
            bits = "+".join(
                n for n, b in (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID), ("sticky", stat.S_ISVTX)) if mode & b
            )
            relative = path.relative_to(outputs).as_posix()
            try:
                path.chmod(stat.S_IMODE(mode) & ~_PRIVILEGES)
                done.append(f"{relative}: {bits} cleared")
            except OSError:
                path.unlink(missing_ok=True)
                done.append(f"{relative}: removed ({bits}, and not this user's to change)")
    return done


def _release_folder(folder: RunFolder) -> None:
    """While a point runs as another user, its outputs are writable by all and its folder closed
    to all but the driver (see :func:`repro.execute.point.execute_point`); open it as usual —
    as its parent, ``runs/``, is (in a group's store: group-writable and setgid)."""
    with contextlib.suppress(OSError):
        usual = stat.S_IMODE(folder.path.parent.stat().st_mode) & 0o2777
        if stat.S_IMODE(folder.outputs.stat().st_mode) & 0o002:
            folder.outputs.chmod(usual)
        if stat.S_IMODE(folder.path.stat().st_mode) != usual:
            folder.path.chmod(usual)


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
    """Say so when the store's disk is full: the run's outputs or logs may be cut short."""
    try:
        status = os.statvfs(store.root)
    except OSError:
        return None
    if status.f_bavail * status.f_frsize >= _FULL_BYTES:
        return None
    return f"no space left on device in {display_path(store.root)}: the run's outputs or logs may be cut short"
