"""What the view page carries: runs as columns, and each run's details.

The page holds one array per column (``"status": [0, 0, 1, …]`` indexing ``"statuses"``), not one
object per run: 10,000 runs of three parameters and three metrics take about 1 MB. A parameter
or metric that takes one value across the runs that have it is a *constant*, carried once (the
table shows it when asked for all columns, each run's page always); one that few runs have is
carried sparsely (row numbers and values), so a gem5 sweep's hundreds of statistics beside
another manifest's runs cost what they hold. Numbers stay numbers; a value that JSON cannot
hold (NaN, infinities) becomes the text Python writes for it.

A run's details — the record in words, the tails of its logs, its outputs with digests, every
metric, its provenance, the verdicts of its reruns, its claims — are what its page and a diff of
two runs show. ``repro view`` packs them all into the file, gzip-compressed; ``repro ui`` serves
one run's at a time.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from repro.artifact.view.words import record_words
from repro.store.index import Value

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["DATA_VERSION", "LogTail", "ViewRun", "columns", "details"]

DATA_VERSION = 1
"""Raised when the page's data changes shape (the page's script reads this version)."""

_SPARSE_BELOW = 0.5
"""A column that fewer than this share of the runs have is carried as rows and values."""


@dataclass(frozen=True)
class ViewRun:
    """One run as the table and the plots see it."""

    id: str
    manifest: str
    status: str
    started: float
    """Seconds since the epoch."""
    duration: float | None
    user: str | None
    params: Mapping[str, object]
    metrics: Mapping[str, Value]
    error: str | None = None
    orphaned: bool = False
    """Its record says running, but its driver died (``repro ps`` says orphaned)."""
    reproduces: str | None = None


@dataclass(frozen=True)
class LogTail:
    """The last lines of one log, and how big the whole is."""

    text: str
    size: int


def _json_value(value: object) -> object:
    """A value as JSON holds it: numbers and text as they are, NaN and infinities as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _key(value: object) -> tuple[str, object]:
    """Equal values, equal keys: 4 and 4.0 alike, True apart from 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("num", float(value)) if not (isinstance(value, float) and math.isnan(value)) else ("nan", 0)
    return (type(value).__name__, value)


@dataclass
class _Column:
    name: str
    rows: list[int] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    def encode(self, count: int, presence: dict[tuple[int, ...], int]) -> dict[str, Any]:
        distinct = {_key(value) for value in self.values}
        if len(distinct) == 1:
            # One value wherever it is present: carried once, with who has it (shared between
            # columns present in the same runs, as a gem5 sweep's statistics are).
            where = -1 if len(self.rows) == count else presence.setdefault(tuple(self.rows), len(presence))
            return {"name": self.name, "constant": _json_value(self.values[0]), "where": where}
        if len(self.rows) < count * _SPARSE_BELOW:
            return {"name": self.name, "rows": self.rows, "values": [_json_value(v) for v in self.values]}
        dense: list[object] = [None] * count
        for row, value in zip(self.rows, self.values, strict=True):
            dense[row] = _json_value(value)
        return {"name": self.name, "values": dense}


def _names(entries: Iterable[Mapping[str, object]]) -> dict[str, _Column]:
    found: dict[str, _Column] = {}
    for row, values in enumerate(entries):
        for name, value in values.items():
            column = found.get(name)
            if column is None:
                column = found[name] = _Column(name)
            column.rows.append(row)
            column.values.append(value)
    return found


def _indexed(values: Sequence[str | None]) -> tuple[list[str], list[int]]:
    """Distinct values in order of first appearance, and each value's position among them (-1: none)."""
    table: dict[str, int] = {}
    positions = []
    for value in values:
        positions.append(-1 if value is None else table.setdefault(value, len(table)))
    return list(table), positions


def _metric_order(late: Sequence[str]) -> Callable[[_Column], tuple[bool, int, str]]:
    """Metrics in the order the table and the plots offer them: the machine's timings (``late``:
    globs, the manifests' nondeterministic metrics) last, and the others by depth — gem5's
    ``simSeconds`` before ``board.cache_hierarchy.l1d-cache-0.…`` — then by name."""

    def key(column: _Column) -> tuple[bool, int, str]:
        timing = any(fnmatch.fnmatchcase(column.name, pattern) for pattern in late)
        return (timing, column.name.count("."), column.name.lower())

    return key


def columns(runs: Sequence[ViewRun], *, late_metrics: Sequence[str] = ()) -> dict[str, Any]:
    """The runs as the page's columns (see the module's docstring); metrics matching the globs
    ``late_metrics`` (timings of the host, not results) come last."""
    manifests, manifest_of = _indexed([run.manifest for run in runs])
    statuses, status_of = _indexed([run.status for run in runs])
    users, user_of = _indexed([run.user for run in runs])
    presence: dict[tuple[int, ...], int] = {}
    params = [column.encode(len(runs), presence) for column in _names(run.params for run in runs).values()]
    ordered = sorted(_names(run.metrics for run in runs).values(), key=_metric_order(late_metrics))
    metrics = [column.encode(len(runs), presence) for column in ordered]
    return {
        "count": len(runs),
        "id": [run.id for run in runs],
        "manifests": manifests,
        "manifest": manifest_of,
        "statuses": statuses,
        "status": status_of,
        "users": users,
        "user": user_of,
        "started": [round(run.started) for run in runs],
        "duration": [None if run.duration is None else round(run.duration, 2) for run in runs],
        "errors": {str(row): run.error for row, run in enumerate(runs) if run.error},
        "orphaned": [row for row, run in enumerate(runs) if run.orphaned],
        "reproduces": {str(row): run.reproduces for row, run in enumerate(runs) if run.reproduces},
        "params": params,
        "metrics": metrics,
        "presence": [list(rows) for rows in sorted(presence, key=presence.__getitem__)],
    }


def details(
    record: RunRecord,
    *,
    metrics: Mapping[str, Value] | None,
    logs: Mapping[str, LogTail],
    verdicts: Sequence[Mapping[str, object]] = (),
    claims: Sequence[Mapping[str, object]] | None = None,
) -> dict[str, Any]:
    """What a run's page and a diff show of one run: its record in words, its log tails, its
    outputs with digests, every metric, its provenance, its reruns' verdicts (``verdicts``:
    ``{rerun, state, differs}``) and, once claims exist, their verdicts (``claims``; None: this
    store has none, and the page leaves their place empty)."""
    outputs = record.outputs
    git = record.git
    return {
        "id": record.id,
        "words": [[label, text] for label, text in record_words(record) if label is not None],
        "label": record.point.label,
        "error": record.error,
        "notes": list(record.notes),
        "logs": {stream: {"tail": tail.text, "size": tail.size} for stream, tail in logs.items()},
        "outputs": None
        if outputs is None
        else {
            "digest": outputs.digest,
            "files": [[o.path, o.kind, o.size, o.sha256 or o.target] for o in outputs.files],
            "omitted": outputs.files_omitted,
        },
        "metrics": None if metrics is None else {name: _json_value(value) for name, value in metrics.items()},
        "params": {name: _json_value(value) for name, value in record.point.params.items()},
        "provenance": {
            "commit": git.commit if git else None,
            "branch": git.branch if git else None,
            "dirty": git.dirty if git else None,
            "diff": git.diff_sha256 if git else None,
            "image": record.image.id,
            "image reference": record.image.reference,
            "inputs": {entry.target: entry.digest for entry in record.inputs},
            "command": record.container.command,
            "env": dict(record.container.env),
            "host": record.host.model_dump(mode="json"),
            "versions": record.versions.model_dump(mode="json"),
        },
        "verdicts": list(verdicts),
        "claims": None if claims is None else list(claims),
    }
