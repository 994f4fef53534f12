"""Comparing what two runs produced, file by file."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from repro.store.record import OutputEntry, OutputsRecord

__all__ = ["FileComparison", "FileState", "compare_outputs", "is_nondeterministic", "judged_identical"]

FileState = Literal["identical", "differs", "missing", "extra", "not judged"]


@dataclass(frozen=True)
class FileComparison:
    path: str
    state: FileState
    expected: str | None = None
    """The original's sha256 (or link target), when it had the file."""
    found: str | None = None


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
    expected: OutputsRecord | None, found: OutputsRecord | None, nondeterministic: Sequence[str] = ()
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
        else:
            state = "identical" if old_print == new_print else "differs"
        results.append(FileComparison(path, state, old_print, new_print))
    return results


def judged_identical(comparisons: Sequence[FileComparison]) -> bool:
    return all(c.state in ("identical", "not judged") for c in comparisons)
