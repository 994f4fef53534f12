"""``repro verify``: rerun runs and compare their outputs with the recorded ones, file by file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from repro.errors import UsageError
from repro.ops.rerun import rerun_records
from repro.results.outputs import FileComparison, MetricsRule, compare_outputs, judged_identical
from repro.store.integrity import NO_FILE_LIST, Damage, check_outputs
from repro.store.record import RunRecord, Status
from repro.store.store import Store
from repro.workflow.session import Event

__all__ = ["Verdict", "VerdictState", "verify"]

VerdictState = Literal["reproduced", "differs", "failed", "error", "corrupt", "unchecked"]


@dataclass
class Verdict:
    """How one run's rerun compares with it."""

    original: RunRecord
    rerun: RunRecord | None = None
    files: list[FileComparison] = field(default_factory=list)
    error: str | None = None
    stored: list[Damage] = field(default_factory=list)
    """Where the run's stored outputs differ from its record (then it is not rerun)."""

    @property
    def state(self) -> VerdictState:
        if any(d.what == NO_FILE_LIST for d in self.stored):
            return "unchecked"
        if self.stored:
            return "corrupt"
        if self.error is not None:
            return "error"
        if self.rerun is None or self.rerun.status is not Status.SUCCEEDED:
            return "failed"
        return "reproduced" if judged_identical(self.files) else "differs"


def _compare(store: Store, original: RunRecord, rerun: RunRecord | None) -> list[FileComparison]:
    """The original's outputs against the rerun's, as the original's manifest says to judge them."""
    resolved = original.manifest.resolved
    entries = resolved.get("nondeterministic") or []
    files = [entry for entry in entries if isinstance(entry, str)]
    ignored = tuple(name for entry in entries if isinstance(entry, dict) for name in entry.get("metrics", []))
    metrics = resolved.get("metrics")
    rule = None
    if isinstance(metrics, dict) and rerun is not None:
        rule = MetricsRule(
            file=str(metrics["file"]),
            format=str(metrics["format"]),
            ignored=ignored,
            expected_root=store.run_folder(original.id).outputs,  # metrics_file refuses a link
            found_root=store.run_folder(rerun.id).outputs,
        )
    return compare_outputs(original.outputs, rerun.outputs if rerun else None, files, rule)


def verify(
    refs: Sequence[str] = (),
    *,
    every: bool = False,
    jobs: int = 1,
    store: Path | str | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> list[Verdict]:
    """Rerun each run (``every``: the newest succeeded run of each point) and compare outputs.

    Runs of one sweep are rerun together, ``jobs`` at a time.
    """
    chosen = Store.locate(store)
    chosen.require()
    if every == bool(refs):
        raise UsageError("give run ids, or --all (not both)")
    run_ids = chosen.latest_succeeded() if every else [chosen.resolve(ref) for ref in refs]
    originals = [chosen.load(run_id) for run_id in run_ids]
    corrupt = {}
    for original in originals:
        # A rerun is compared with the record: first, the stored outputs must still be what the
        # record says, or "reproduced" would vouch for files that are no longer there.
        folder = chosen.real_run_folder(original.id)
        stored = check_outputs(folder.outputs, original.outputs) if original.outputs else []
        if stored and stored[0].what == NO_FILE_LIST:
            corrupt[original.id] = Verdict(original, error=f"{NO_FILE_LIST}; not rerun", stored=stored)
        elif stored:
            corrupt[original.id] = Verdict(
                original,
                error="stored outputs differ from the record: "
                + "; ".join(f"{d.path.name} {d.what}" for d in stored[:3])
                + (f" and {len(stored) - 3} more" if len(stored) > 3 else ""),
                stored=stored,
            )
    verdicts = dict(corrupt)
    sound = [o for o in originals if o.id not in corrupt]
    for result in rerun_records(chosen, sound, jobs=jobs, progress=progress, verbose=verbose):
        verdict = Verdict(result.original, rerun=result.record, error=result.error)
        if result.error is None:
            verdict.files = _compare(chosen, result.original, result.record)
        verdicts[result.original.id] = verdict
    return [verdicts[original.id] for original in originals]
