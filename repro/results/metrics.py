"""Metrics: numbers an experiment's output files hold, read by a named parser.

``gem5-stats`` reads gem5's ``stats.txt``: every dump between the Begin/End markers (a manifest's
``metrics.dump`` says which is the point's: :func:`pick_dump`), current
camelCase names (``simSeconds``, ``board.processor.cores.core.ipc``) and pre-v21 snake_case ones
(``sim_seconds``) alike — top-level snake_case names get their camelCase spelling too, so one
report works across gem5 versions. ``json`` reads a flat object; ``csv`` a header and one row.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from repro.errors import InputError
from repro.text import Tolerance

__all__ = [
    "FORMATS",
    "Dump",
    "MetricChange",
    "MetricsError",
    "metric_changes",
    "metrics_file",
    "parse_gem5_stats",
    "pick_dump",
    "read_metrics",
    "same_metrics",
]

Value = float | str
Dump = dict[str, Value]

FORMATS = ("gem5-stats", "json", "csv")

_BEGIN = re.compile(r"^-+\s*Begin Simulation Statistics\s*-+\s*$")
_END = re.compile(r"^-+\s*End Simulation Statistics\s*-+\s*$")
_SNAKE = re.compile(r"_([a-z0-9])")


class MetricsError(InputError):
    """An output file is not in the format the manifest says."""


def _number(text: str) -> Value:
    cleaned = text.rstrip("%")
    try:
        return float(cleaned)
    except ValueError:
        return text


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


def parse_gem5_stats(text: str) -> list[Dump]:
    """Every statistics dump of a gem5 ``stats.txt``, in file order."""
    dumps: list[Dump] = []
    current: Dump | None = None
    for line in text.splitlines():
        if _BEGIN.match(line):
            current = {}
            continue
        if _END.match(line):
            if current is not None:
                dumps.append(current)
            current = None
            continue
        if current is None:
            continue
        body = line.split("#", 1)[0].split()
        if len(body) < 2:
            continue
        name, value = body[0], _number(body[1])
        current[name] = value
        if "." not in name and "_" in name:  # pre-v21 spelling: also file it under today's name
            current.setdefault(_camel(name), value)
    if current:  # a dump cut short (the simulation was killed): keep what there is
        dumps.append(current)
    return dumps


def metrics_file(outputs: Path, relative: str) -> Path:
    """The file ``relative`` names in a run's ``outputs`` — refused if it (or a link on the way)
    leads out of them: a container may leave a link to any host file in its outputs."""
    path = (outputs / relative).resolve()
    if not path.is_relative_to(outputs.resolve()):
        raise MetricsError(f"metrics file {relative} leads out of the run's outputs (to {path}); not read")
    return path


def read_metrics(path: Path, fmt: str) -> list[Dump]:
    """The dumps of ``path`` read as ``fmt`` (json and csv files hold one dump)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MetricsError(f"cannot read metrics file {path}: {exc.strerror}") from exc
    if fmt == "gem5-stats":
        dumps = parse_gem5_stats(text)
        if not dumps:
            raise MetricsError(f"{path} holds no gem5 statistics dump")
        return dumps
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MetricsError(f"{path} is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise MetricsError(f"{path}: metrics JSON must be an object of name: value")
        return [
            {str(k): v if isinstance(v, str) else float(v) for k, v in data.items() if isinstance(v, (int, float, str))}
        ]
    if fmt == "csv":
        rows = list(csv.DictReader(text.splitlines()))
        if not rows:
            raise MetricsError(f"{path}: no data row under the CSV header")
        return [{k: _number(v) for k, v in rows[-1].items() if k is not None and v is not None}]
    raise MetricsError(f"unknown metrics format {fmt!r} (known: {', '.join(FORMATS)})")


def pick_dump(dumps: list[Dump], which: object, path: str) -> Dump:
    """The dump a manifest's ``metrics.dump`` names: ``last`` (the default; also for a value an
    older record does not hold), ``first``, or the Nth from 1. gem5 dumps again at exit, so a
    region of interest dumped by ``m5 dumpstats`` is not the last dump."""
    if which == "first":
        return dumps[0]
    if isinstance(which, int) and not isinstance(which, bool):
        if not 1 <= which <= len(dumps):
            raise MetricsError(f"{path} holds {len(dumps)} dump(s); metrics.dump: {which} names none of them")
        return dumps[which - 1]
    return dumps[-1]


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


@dataclass(frozen=True)
class MetricChange:
    """A metric whose value differs between two files, and the tolerance that covers it (if any)."""

    name: str
    """The metric's name (with ``(dump N)`` when the files hold several dumps)."""
    expected: Value | None
    found: Value | None
    tolerance: Tolerance | None = None
    """The first tolerance whose glob matches the metric, if one does."""

    @property
    def change(self) -> float | None:
        """``found - expected``, when both are numbers."""
        if isinstance(self.expected, float) and isinstance(self.found, float):
            return self.found - self.expected
        return None

    @property
    def relative(self) -> float | None:
        """The change relative to the expected value, when that is a number other than 0."""
        change = self.change
        if change is None or not isinstance(self.expected, float) or self.expected == 0:
            return None
        return change / abs(self.expected)

    @property
    def within(self) -> bool:
        """Whether the tolerance allows the move (never for a metric that appeared, vanished or
        is not a number)."""
        return (
            self.tolerance is not None
            and isinstance(self.expected, float)
            and isinstance(self.found, float)
            and self.tolerance.allows(self.expected, self.found)
        )


def metric_changes(
    a: list[Dump], b: list[Dump], ignored: Sequence[str], tolerances: Sequence[tuple[str, Tolerance]] = ()
) -> list[MetricChange]:
    """The metrics that differ between two files' dumps, leaving out names matching ``ignored``
    (not judged, whatever a tolerance says), each with the first of ``tolerances`` (glob,
    tolerance) whose glob matches it."""
    if len(a) != len(b):
        return [MetricChange(f"(number of dumps: {len(a)} and {len(b)})", len(a), len(b))]
    changes = []
    for index, (left, right) in enumerate(zip(a, b, strict=True)):
        for name in sorted(left.keys() | right.keys()):
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in ignored):
                continue
            if name in left and name in right and _equal(left[name], right[name]):
                continue
            tolerance = next((t for pattern, t in tolerances if fnmatch.fnmatchcase(name, pattern)), None)
            shown = name if len(a) == 1 else f"{name} (dump {index + 1})"
            changes.append(MetricChange(shown, left.get(name), right.get(name), tolerance))
    return changes


def same_metrics(a: list[Dump], b: list[Dump], ignored: Sequence[str]) -> list[str]:
    """The metrics that differ between two files' dumps, leaving out names matching ``ignored``."""
    return [change.name for change in metric_changes(a, b, ignored)]
