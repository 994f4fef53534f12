"""``repro view``: one self-contained HTML file to browse runs — filter, sort, plot, compare two,
read one — offline, from ``file://`` or from an archive (see :mod:`repro.artifact.view`).

The same gathering serves ``repro ui`` (:mod:`repro.ops.ui`), which reads a store without
writing it; this command reads it as ``repro log`` does (folding the journal in first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.artifact.view.model import LogTail, ViewRun, columns, details
from repro.artifact.view.page import pack_details, render_page
from repro.errors import StoreError, UsageError
from repro.ops.claims import judged_claims
from repro.ops.selection import filters
from repro.store.index import IndexRow, Value
from repro.store.status import Status
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.results.expectations import ClaimResult
    from repro.store.record import RunRecord

__all__ = ["TAIL_BYTES", "TAIL_LINES", "ViewResult", "late_metrics", "run_details", "view", "view_runs"]

TAIL_LINES = 40
"""The lines of each log a run's page shows (the whole log: ``repro logs RUN``)."""
TAIL_BYTES = 8192
"""At most this much of each log's end, whatever its lines' length."""

DEFAULT_OUTPUT = "repro-view.html"


@dataclass(frozen=True)
class ViewResult:
    path: Path
    runs: int
    bytes: int


def view(
    refs: Sequence[str] = (),
    *,
    manifests: Sequence[Path | str] = (),
    where: Sequence[str] = (),
    output: Path | str = DEFAULT_OUTPUT,
    claims_file: Path | str | None = None,
    store: Path | str | None = None,
) -> ViewResult:
    """Write the view page of the chosen runs to ``output``: the runs named (``refs``), else every
    run (of the ``manifests``' experiments, if named) whose parameters or metrics satisfy every
    ``where`` (``size=4``, ``ipc>1.5``). Each run's page shows the verdicts of the paper's claims
    it is behind (``claims_file``, else ``claims.yaml`` here or at the repository's root, if any)."""
    chosen = Store.locate(store)
    chosen.require()
    wanted = filters(manifests=manifests, where=where)
    if refs:
        ids = [chosen.resolve(ref) for ref in refs]
        rows = chosen.runs(ids=ids, where=wanted.where)
    else:
        rows = chosen.runs(**wanted.query())
    if not rows:
        raise UsageError(f"no runs to view in {chosen.root}" + (" match" if refs or manifests or where else ""))
    metrics = chosen.index.values([row.id for row in rows], "metric")
    records = {row.id: chosen.load(row.id) for row in rows}
    everything = rows if not (refs or manifests or where) else chosen.runs()
    reruns = _reruns(everything, records)
    runs = view_runs(rows, metrics, records)
    claims = claims_by_run(judged_claims(chosen, claims_file))
    packed = pack_details(
        [run_details(chosen, records[row.id], metrics.get(row.id), reruns, claims=claims) for row in rows]
    )
    title = "repro view: " + ", ".join(sorted({row.name for row in rows}))
    text = render_page(runs, columns(runs, late_metrics=late_metrics(records.values())), title=title, details=packed)
    path = Path(output)
    data = text.encode()
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}; give another -o FILE") from exc
    return ViewResult(path=path, runs=len(rows), bytes=len(data))


def view_runs(
    rows: Sequence[IndexRow], metrics: Mapping[str, Mapping[str, Value]], records: Mapping[str, RunRecord]
) -> list[ViewRun]:
    """The rows as the page's table sees them; a running row whose record names a dead driver
    (in ``records``, which must hold every running row's) is shown orphaned."""
    from repro.execute.orphans import driver_state

    runs = []
    for row in rows:
        record = records.get(row.id) if row.status is Status.RUNNING else None
        orphaned = record is not None and record.status is Status.RUNNING and driver_state(record) == "dead"
        runs.append(
            ViewRun(
                id=row.id,
                manifest=row.name,
                status=row.status.value,
                started=_epoch(row.started_at),
                duration=row.duration,
                user=row.user,
                params=row.params,
                metrics=metrics.get(row.id, {}),
                error=row.error or _ended_badly(row),
                orphaned=orphaned,
                reproduces=row.reproduces,
            )
        )
    return runs


def late_metrics(records: Iterable[RunRecord]) -> list[str]:
    """The metrics the records' manifests call nondeterministic (gem5's ``host*`` timings): the
    page offers them last."""
    found: dict[str, None] = {}
    for record in records:
        for entry in record.manifest.resolved.get("nondeterministic") or []:
            if isinstance(entry, dict):
                found.update(dict.fromkeys(str(name) for name in entry.get("metrics", [])))
    return list(found)


def _ended_badly(row: IndexRow) -> str | None:
    """What the table says of a run that failed on its own (no error recorded): its exit code."""
    if row.status in (Status.FAILED, Status.TIMEOUT) and row.exit_code is not None:
        return f"{row.status.value}: exit code {row.exit_code}"
    return None


def _epoch(started_at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(started_at).timestamp()


def _reruns(every: Iterable[IndexRow], originals: Mapping[str, RunRecord]) -> dict[str, list[str]]:
    """For each original in ``originals``: the ids of the runs that reran it, oldest first."""
    found: dict[str, list[str]] = {}
    for row in every:
        if row.reproduces is not None and row.reproduces in originals:
            found.setdefault(row.reproduces, []).append(row.id)
    for ids in found.values():
        ids.sort()
    return found


def run_details(
    store: Store,
    record: RunRecord,
    metrics: Mapping[str, Value] | None,
    reruns: Mapping[str, Sequence[str]],
    load: Callable[[str], RunRecord] | None = None,
    claims: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
) -> dict[str, Any]:
    """One run's page: its record in words, log tails, outputs, metrics, provenance, and how each
    rerun of it compared (as ``repro verify`` judges)."""
    from repro.ops.logs import tail
    from repro.ops.verify import verdict_of

    folder = store.run_folder(record.id)
    logs = {}
    for stream, path in (("stdout", folder.stdout), ("stderr", folder.stderr)):
        data, size = tail(path, TAIL_LINES, TAIL_BYTES)
        logs[stream] = LogTail(data.decode("utf-8", errors="replace"), size)
    verdicts = []
    for rerun_id in reruns.get(record.id, ()):
        try:
            rerun = (load or store.load)(rerun_id)
        except (UsageError, StoreError):
            continue
        if rerun.status is Status.RUNNING:
            verdicts.append({"rerun": rerun_id, "state": "running", "differs": []})
            continue
        verdict = verdict_of(store, record, rerun)
        differs = [c.path for c in verdict.files if c.state not in ("identical", "not judged")]
        verdicts.append({"rerun": rerun_id, "state": verdict.state, "differs": differs})
    if metrics is None:
        metrics = store.metrics_of(record)
    shown = None if claims is None else claims.get(record.id, [])
    return details(record, metrics=metrics, logs=logs, verdicts=verdicts, claims=shown)


def claims_by_run(results: Sequence[ClaimResult]) -> dict[str, list[dict[str, object]]] | None:
    """For each run, the claims' expectations it stood behind and how they came out (None when
    there are no claims: the page leaves their place empty)."""
    if not results:
        return None
    by_run: dict[str, list[dict[str, object]]] = {}
    for result in results:
        for outcome in result.outcomes:
            shown: dict[str, object] = {
                "id": result.id,
                "name": f"{result.id}: {result.claim.title} — {outcome.expectation}",
                "verdict": outcome.verdict,
                "detail": " ".join(part for part in (outcome.at, outcome.detail) if part),
            }
            for run_id in dict.fromkeys(result.runs):  # every run the claim was judged on
                by_run.setdefault(run_id, []).append(shown)
    return by_run
