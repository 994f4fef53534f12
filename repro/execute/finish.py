"""How a run ends: its outputs hashed, its status decided, its final record written.

Shared by a driver that saw its container through (:mod:`repro.execute.point`) and by a later
command that finishes an orphan's run (:mod:`repro.execute.orphans`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from repro.errors import ReproError
from repro.manifest.model import FailOn
from repro.provenance.hashing import hash_tree
from repro.runner.container import ContainerOutcome
from repro.store.record import OutputEntry, OutputsRecord, RunRecord, Status
from repro.store.store import RunFolder, Store

__all__ = ["failure_pattern", "finish_run", "outcome_error"]


def outcome_error(outcome: ContainerOutcome | None, record: RunRecord) -> str | None:
    """What went wrong around the container, in words (None when nothing did)."""
    if outcome is None:
        return None
    if outcome.removal_error:
        return outcome.removal_error
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
    error = error or outcome_error(outcome, record)
    if error is None and outcome is not None and outcome.state == "exited" and outcome.exit_code == 0:
        error = failure_pattern(fail_on, folder)
    outputs, output_error = _hash_outputs(folder)
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
        }
    )
    final = store.write_record(final)
    if status is Status.SUCCEEDED:
        store.mark_point(final.point.key, final.id)
    return final


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


def _hash_outputs(folder: RunFolder) -> tuple[OutputsRecord | None, str | None]:
    try:
        tree = hash_tree(folder.outputs)
    except ReproError as exc:
        return None, f"outputs could not be hashed: {exc}"
    entries = [
        OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries
    ]
    return OutputsRecord(digest=tree.digest, files=entries, total_bytes=tree.total_bytes), None
