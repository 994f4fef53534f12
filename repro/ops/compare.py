"""``repro compare``: one row per point — run id, parameters, metrics — across runs, manifests
and time, straight from the index (metrics are parsed once, when a run ends).

By default each point's newest succeeded run; ``all_runs`` keeps every run. With neither run
ids nor manifests, every manifest in the store, one group each.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import UsageError
from repro.ops.selection import filters
from repro.store.index import IndexRow, Value
from repro.store.store import Store

__all__ = ["CompareGroup", "CompareResult", "CompareRow", "compare"]


@dataclass(frozen=True)
class CompareRow:
    id: str
    manifest: str
    status: str
    params: dict[str, Value]
    metrics: dict[str, Value]

    def cell(self, column: str) -> Value | None:
        if column == "id":
            return self.id
        if column in self.params:
            return self.params[column]
        return self.metrics.get(column)


@dataclass
class CompareGroup:
    """The rows of one manifest, with the columns they show."""

    manifest: str
    params: list[str]
    metrics: list[str]
    rows: list[CompareRow] = field(default_factory=list)


@dataclass
class CompareResult:
    groups: list[CompareGroup]
    hidden: int = 0
    """Metric columns equal in every row, left out by ``only_changed``."""


def compare(
    refs: Sequence[str] = (),
    *,
    manifests: Sequence[Path | str] = (),
    where: Sequence[str] = (),
    metrics: Sequence[str] = (),
    only_changed: bool = False,
    sort: str | None = None,
    all_runs: bool = False,
    store: Path | str | None = None,
) -> CompareResult:
    """The runs to compare, grouped by manifest, with their parameters and metrics (``metrics``:
    names or globs; default all); ``only_changed`` drops columns equal in every row; ``sort`` by a
    parameter, a metric or ``id``."""
    chosen = Store.locate(store)
    chosen.require()
    wanted = filters(manifests=manifests, where=where)
    if refs:
        ids = [chosen.resolve(ref) for ref in refs]
        rows = chosen.runs(ids=ids, where=wanted.where)
        rows.sort(key=lambda row: ids.index(row.id))
    else:
        statuses = () if all_runs else ("succeeded",)
        rows = chosen.runs(**{**wanted.query(), "statuses": list(statuses)})
        if not all_runs:
            newest: dict[str, IndexRow] = {}
            for row in rows:  # newest first: the first row of each point is its newest run
                newest.setdefault(row.key, row)
            rows = list(newest.values())
        rows.reverse()  # oldest first reads like the sweep ran
    values = chosen.index.values([row.id for row in rows], "metric")
    by_manifest: dict[str, CompareGroup] = {}
    # Each group's parameter names, and metric names (its columns, or not chosen), met so far.
    seen: dict[str, tuple[set[str], set[str]]] = {}
    for row in rows:
        group = by_manifest.get(row.name)
        if group is None:
            group = by_manifest[row.name] = CompareGroup(manifest=row.name, params=[], metrics=[])
            seen[row.name] = (set(), set())
        params = {name: value for name, value in row.params.items() if isinstance(value, (str, int, float, bool))}
        found = values.get(row.id, {})
        group.rows.append(CompareRow(row.id, row.name, row.status.value, params, found))
        param_names, metric_names = seen[row.name]
        if params.keys() <= param_names and found.keys() <= metric_names:
            continue  # a row of the columns met already (a sweep's every row but its first)
        for name in params:
            if name not in param_names:
                param_names.add(name)
                group.params.append(name)
        for name in found:
            if name not in metric_names:
                metric_names.add(name)
                if _chosen(name, metrics):
                    group.metrics.append(name)
    result = CompareResult(groups=list(by_manifest.values()))
    for pattern in metrics:
        if not any(fnmatch.fnmatchcase(name, pattern) for group in result.groups for name in group.metrics):
            raise UsageError(f"--metric {pattern}: no compared run has such a metric")
    for group in result.groups:
        if only_changed:
            before = len(group.metrics)
            group.params = [name for name in group.params if _varies(group.rows, name)]
            group.metrics = [name for name in group.metrics if _varies(group.rows, name)]
            result.hidden += before - len(group.metrics)
        if sort is not None:
            group.rows.sort(key=lambda row: _order(row.cell(sort)))
    if sort is not None and not any(sort in {"id", *g.params, *g.metrics} for g in result.groups):
        raise UsageError(f"--sort {sort}: no such column (columns: id, the parameters, the metrics)")
    return result


def _chosen(name: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _varies(rows: Sequence[CompareRow], column: str) -> bool:
    return len({repr(row.cell(column)) for row in rows}) > 1


def _order(value: Value | None) -> tuple[int, float, str]:
    """Numbers by value, then text, then missing cells."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return (0, float(value), "")
    if value is None:
        return (2, 0.0, "")
    return (1, 0.0, str(value))
