"""``repro verify``: rerun runs and compare their outputs with the recorded ones, file by file.

A metrics file is judged by its metrics: those the manifest calls nondeterministic are not
judged, and those that moved by no more than their tolerance (the original run's manifest's
``tolerance:``, and ``--tolerance GLOB=VALUE`` for any run) make the verdict ``within
tolerance`` rather than ``differs``. Claims (``--claims``, ``--quick``) are
:mod:`repro.ops.verify_claims`'s, on top of :func:`verify_records`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from repro.errors import ReproError, UsageError
from repro.ops.carry import upstream_records
from repro.ops.rerun import rerun_records
from repro.results.metrics import MetricChange
from repro.results.outputs import (
    FileComparison,
    MetricsRule,
    compare_outputs,
    judged_identical,
    judged_within_tolerance,
)
from repro.store.integrity import NO_FILE_LIST, Damage, check_outputs
from repro.store.record import RunRecord, Status
from repro.store.store import Store
from repro.text import Tolerance, parse_tolerance
from repro.workflow.session import Event

__all__ = ["Verdict", "VerdictState", "parse_tolerances", "verdict_of", "verify", "verify_records"]

VerdictState = Literal["reproduced", "within_tolerance", "differs", "failed", "error", "corrupt", "unchecked"]

Tolerances = Sequence[tuple[str, Tolerance]]


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
        if judged_identical(self.files):
            return "reproduced"
        return "within_tolerance" if judged_within_tolerance(self.files) else "differs"

    @property
    def moved(self) -> list[MetricChange]:
        """Every metric that moved in the rerun (within its tolerance or not)."""
        return [change for item in self.files for change in item.moved]


def parse_tolerances(given: Mapping[str, str]) -> list[tuple[str, Tolerance]]:
    """``--tolerance GLOB=VALUE`` options as (glob, tolerance); a bad value is a usage error."""
    parsed = []
    for glob, value in given.items():
        try:
            parsed.append((glob, parse_tolerance(value)))
        except ValueError as exc:
            raise UsageError(f"--tolerance {glob}={value}: {exc}") from None
    return parsed


def _tolerances(original: RunRecord, given: Tolerances) -> tuple[tuple[str, Tolerance], ...]:
    """The tolerances a run is judged by: those given first (they apply to any run), then its
    own manifest's (a record's manifest was validated when it ran)."""
    own = original.manifest.resolved.get("tolerance") or {}
    return (*given, *((glob, parse_tolerance(value)) for glob, value in own.items()))


def _compare(
    store: Store, original: RunRecord, rerun: RunRecord | None, tolerances: Tolerances = ()
) -> list[FileComparison]:
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
            tolerances=_tolerances(original, tolerances),
        )
    return compare_outputs(original.outputs, rerun.outputs if rerun else None, files, rule)


def verdict_of(store: Store, original: RunRecord, rerun: RunRecord) -> Verdict:
    """How a rerun recorded in the store compares with its original (``repro view`` shows it on the
    original's page), judged as ``verify`` judged it."""
    return Verdict(original, rerun=rerun, files=_compare(store, original, rerun))


def verify(
    refs: Sequence[str] = (),
    *,
    every: bool = False,
    jobs: int = 1,
    tolerances: Mapping[str, str] | None = None,
    store: Path | str | None = None,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
    upstream: bool = False,
) -> list[Verdict]:
    """Rerun each run (``every``: the newest succeeded run of each point) and compare outputs;
    ``tolerances``: metric glob → ``1%`` or ``0.001``, for any run (beside its manifest's own).

    Runs of one sweep are rerun together, ``jobs`` at a time. A run whose inputs were another
    run's outputs (``from:`` mounts) is rerun against that run's stored outputs; with
    ``upstream``, the chain is rerun: every upstream run first (each gets a verdict, listed
    before the runs that need it), and each run against its upstream's rerun outputs.
    """
    chosen = Store.locate(store)
    chosen.require()
    if every == bool(refs):
        raise UsageError("give run ids, or --all (not both)")
    given = parse_tolerances(tolerances or {})
    run_ids = chosen.latest_succeeded() if every else [chosen.resolve(ref) for ref in refs]
    originals = [chosen.load(run_id) for run_id in run_ids]
    if upstream:
        originals = [*upstream_records(chosen, originals), *originals]
    originals = list({original.id: original for original in originals}.values())
    return verify_records(
        chosen, originals, jobs=jobs, tolerances=given, upstream=upstream, progress=progress, verbose=verbose
    )


def verify_records(
    store: Store,
    originals: Sequence[RunRecord],
    *,
    jobs: int = 1,
    tolerances: Tolerances = (),
    upstream: bool = False,
    progress: Callable[[Event | str], None] | None = None,
    verbose: bool = False,
) -> list[Verdict]:
    """Rerun ``originals`` and judge each rerun against its original, in their order; with
    ``upstream``, in rounds, each run against its upstream's rerun outputs."""
    verdicts = {original.id: _stored_damage(store, original) for original in originals}
    sound = [o for o in originals if verdicts[o.id] is None]
    reruns: dict[str, str] = {}
    for level in _levels(sound) if upstream else [sound]:
        ready = []
        for original in level:
            blocked = _upstream_blocked(original, verdicts) if upstream else None
            if blocked is not None:
                verdicts[original.id] = Verdict(original, error=blocked)
            else:
                ready.append(original)
        results = rerun_records(
            store, ready, jobs=jobs, progress=progress, verbose=verbose, upstream_runs=reruns if upstream else None
        )
        for result in results:
            verdict = Verdict(result.original, rerun=result.record, error=result.error)
            if result.error is None:
                verdict.files = _compare(store, result.original, result.record, tolerances)
            if result.record is not None and result.record.status is Status.SUCCEEDED:
                reruns[result.original.id] = result.record.id
            verdicts[result.original.id] = verdict
    return [v for v in (verdicts[original.id] for original in originals) if v is not None]


def _stored_damage(store: Store, original: RunRecord) -> Verdict | None:
    """A verdict for a run whose stored outputs are no longer what its record says (then a rerun
    would be compared with files that are not there), or None when they are."""
    try:
        folder = store.real_run_folder(original.id)  # its outputs a folder, not a link to one
    except ReproError as exc:
        return Verdict(original, error=f"{exc}; not rerun")
    stored = check_outputs(folder.outputs, original.outputs) if original.outputs else []
    if stored and stored[0].what == NO_FILE_LIST:
        return Verdict(original, error=f"{NO_FILE_LIST}; not rerun", stored=stored)
    if stored:
        return Verdict(
            original,
            error="stored outputs differ from the record: "
            + "; ".join(f"{d.path.name} {d.what}" for d in stored[:3])
            + (f" and {len(stored) - 3} more" if len(stored) > 3 else ""),
            stored=stored,
        )
    return None


def _levels(records: list[RunRecord]) -> list[list[RunRecord]]:
    """``records`` in rounds: each run in a round after every round holding a run it needs."""
    ids = {record.id for record in records}
    level: dict[str, int] = {}

    def depth(record: RunRecord) -> int:
        if record.id not in level:
            level[record.id] = 0  # a record cannot name itself, but stay finite if one does
            needs = [by_id[e.upstream_run] for e in record.inputs if e.upstream_run in ids]
            level[record.id] = 1 + max((depth(up) for up in needs), default=-1)
        return level[record.id]

    by_id = {record.id: record for record in records}
    for record in records:
        depth(record)
    rounds: list[list[RunRecord]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for record in records:
        rounds[level[record.id]].append(record)
    return rounds


def _upstream_blocked(original: RunRecord, verdicts: dict[str, Verdict | None]) -> str | None:
    """Why ``original`` cannot be rerun on its upstream's rerun (it failed or could not run)."""
    for entry in original.inputs:
        verdict = verdicts.get(entry.upstream_run or "")
        if entry.upstream_run is None or verdict is None:
            continue
        if verdict.rerun is None or verdict.rerun.status is not Status.SUCCEEDED:
            return f"its upstream run {entry.upstream_run} was not rerun ({verdict.state}); the chain stops there"
    return None
