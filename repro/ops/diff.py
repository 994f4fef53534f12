"""``repro diff``: what differs between two runs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro.execute.finish import parse_metrics
from repro.results.outputs import FileComparison, compare_outputs
from repro.store.index import Value
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["Change", "MetricDelta", "RunDiff", "diff", "metric_deltas"]


@dataclass(frozen=True)
class Change:
    section: str
    field: str
    a: Any
    b: Any


@dataclass(frozen=True)
class MetricDelta:
    """A metric whose value differs between the two runs."""

    name: str
    a: Value | None
    b: Value | None
    delta: float | None
    """``b - a`` for numbers."""
    relative: float | None
    """``(b - a) / a`` for numbers; None when ``a`` is 0."""


@dataclass
class RunDiff:
    a: RunRecord
    b: RunRecord
    changes: list[Change] = field(default_factory=list)
    outputs: list[FileComparison] = field(default_factory=list)
    metrics: list[MetricDelta] = field(default_factory=list)

    @property
    def outputs_identical(self) -> bool:
        return all(c.state == "identical" for c in self.outputs)


def _compare(section: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    return [
        Change(section, name, a.get(name), b.get(name))
        for name in sorted(a.keys() | b.keys())
        if a.get(name) != b.get(name)
    ]


def _git(record: RunRecord) -> dict[str, Any]:
    if record.git is None:
        return {"repository": None}
    return {"commit": record.git.commit, "dirty": record.git.dirty, "diff sha256": record.git.diff_sha256}


def diff(a_ref: str, b_ref: str, *, store: Path | str | None = None) -> RunDiff:
    """Compare the runs ``a_ref`` and ``b_ref``: parameters, image, code, inputs, environment,
    host, and outputs file by file."""
    chosen = Store.locate(store)
    chosen.require()
    a, b = (chosen.load(chosen.resolve(ref)) for ref in (a_ref, b_ref))
    result = RunDiff(a, b)
    result.changes += _compare("params", a.point.params, b.point.params)
    result.changes += _compare(
        "image",
        {
            "id": a.image.id,
            "repo digests": sorted(a.image.repo_digests),
            "platform": f"{a.image.os}/{a.image.architecture}",
        },
        {
            "id": b.image.id,
            "repo digests": sorted(b.image.repo_digests),
            "platform": f"{b.image.os}/{b.image.architecture}",
        },
    )
    result.changes += _compare("git", _git(a), _git(b))
    result.changes += _compare("inputs", {i.target: i.digest for i in a.inputs}, {i.target: i.digest for i in b.inputs})
    result.changes += _compare(
        "container",
        {
            "command": a.container.command,
            "workdir": a.container.workdir,
            "user": a.container.user_mode,
            "network": a.container.network,
        },
        {
            "command": b.container.command,
            "workdir": b.container.workdir,
            "user": b.container.user_mode,
            "network": b.container.network,
        },
    )
    result.changes += _compare("env", a.container.env, b.container.env)
    result.changes += _compare("host", a.host.model_dump(), b.host.model_dump())
    result.changes += _compare("versions", a.versions.model_dump(), b.versions.model_dump())
    result.outputs = compare_outputs(a.outputs, b.outputs)
    result.metrics = metric_deltas(_metrics(chosen, a), _metrics(chosen, b))
    return result


def _metrics(store: Store, record: RunRecord) -> dict[str, Value]:
    """The run's metrics as parsed when it ended; parsed now for a run of an older repro."""
    parsed = store.metrics_of(record)
    if parsed is None:
        fresh = parse_metrics(store.real_run_folder(record.id), record) or {}
        values = fresh.get("values")
        parsed = values if isinstance(values, dict) else {}
    return parsed


def metric_deltas(a: dict[str, Value], b: dict[str, Value]) -> list[MetricDelta]:
    """Each metric of either run whose value differs, with the difference for numbers."""
    deltas = []
    for name in sorted(a.keys() | b.keys()):
        left, right = a.get(name), b.get(name)
        if _same(left, right):
            continue
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
        delta = float(right) - float(left) if numbers else None  # type: ignore[arg-type]
        relative = delta / float(left) if delta is not None and left else None
        deltas.append(MetricDelta(name, left, right, delta, relative))
    return deltas


def _same(a: Value | None, b: Value | None) -> bool:
    """Equal values: numbers by value (4 and 4.0), NaN equal to NaN, a boolean only to a boolean."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b
