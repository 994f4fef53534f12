"""Comparing what two runs produced, file by file."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repro.results.metrics import MetricChange
from repro.store.record import OutputEntry, OutputsRecord
from repro.text import Tolerance

__all__ = [
    "FileComparison",
    "FileState",
    "MetricsRule",
    "compare_outputs",
    "is_nondeterministic",
    "judged_identical",
    "judged_within_tolerance",
]

FileState = Literal["identical", "within tolerance", "differs", "missing", "extra", "not judged"]


@dataclass(frozen=True)
class FileComparison:
    path: str
    state: FileState
    expected: str | None = None
    """The original's sha256 (or link target), when it had the file."""
    found: str | None = None
    note: str | None = None
    """Why bytes that differ still count as identical, or which metrics differ."""
    moved: tuple[MetricChange, ...] = ()
    """The metrics file's metrics that moved (within their tolerance or not)."""


@dataclass(frozen=True)
class MetricsRule:
    """Compare one output file by its metrics, leaving out the nondeterministic ones."""

    file: str
    format: str
    ignored: tuple[str, ...]
    expected_root: Path
    found_root: Path
    tolerances: tuple[tuple[str, Tolerance], ...] = ()
    """(metric glob, tolerance), the first match deciding: how far a metric may move."""


def is_nondeterministic(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` matches a ``nondeterministic:`` glob (a glob without ``/`` matches names)."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in patterns)


def _fingerprint(entry: OutputEntry) -> str:
    if entry.kind == "file":
        return entry.sha256 or ""
    if entry.kind == "link":
        return f"-> {entry.target}"
    return "(folder)"


def compare_outputs(
    expected: OutputsRecord | None,
    found: OutputsRecord | None,
    nondeterministic: Sequence[str] = (),
    metrics: MetricsRule | None = None,
) -> list[FileComparison]:
    """Every output path of either run, with how it compares; sorted by path."""
    before = {e.path: e for e in (expected.files if expected else [])}
    after = {e.path: e for e in (found.files if found else [])}
    results = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        old_print = _fingerprint(old) if old else None
        new_print = _fingerprint(new) if new else None
        state: FileState
        if is_nondeterministic(path, nondeterministic):
            state = "not judged"
        elif new is None:
            state = "missing"
        elif old is None:
            state = "extra"
        elif old_print == new_print:
            state = "identical"
        elif metrics is not None and path == metrics.file:
            results.append(_by_metrics(path, old_print, new_print, metrics))
            continue
        else:
            state = "differs"
        results.append(FileComparison(path, state, old_print, new_print))
    return results


def _by_metrics(path: str, old: str | None, new: str | None, rule: MetricsRule) -> FileComparison:
    from repro.results.metrics import MetricsError, compare_metrics_files, metrics_file

    try:
        compared = compare_metrics_files(  # as streams: two files of any size in bounded memory
            metrics_file(rule.expected_root, path),
            metrics_file(rule.found_root, path),
            rule.format,
            rule.ignored,
            rule.tolerances,
        )
    except MetricsError as exc:
        return FileComparison(path, "differs", old, new, note=str(exc))
    changes = compared.changes  # the first of them, when there are very many
    if compared.beyond:
        beyond = [change.name for change in changes if not change.within]
        more = compared.beyond - min(5, len(beyond))
        shown = ", ".join(beyond[:5]) + (f" and {more} more" if more else "")
        return FileComparison(path, "differs", old, new, note=f"metrics differ: {shown}", moved=tuple(changes))
    if compared.total:
        note = f"{compared.total} metric(s) moved, each within its tolerance"
        return FileComparison(path, "within tolerance", old, new, note=note, moved=tuple(changes))
    return FileComparison(path, "identical", old, new, note=f"same metrics; not judged: {', '.join(rule.ignored)}")


def judged_identical(comparisons: Sequence[FileComparison]) -> bool:
    return all(c.state in ("identical", "not judged") for c in comparisons)


def judged_within_tolerance(comparisons: Sequence[FileComparison]) -> bool:
    """Every judged file identical, but for metrics that moved within their tolerance."""
    return all(c.state in ("identical", "not judged", "within tolerance") for c in comparisons)
