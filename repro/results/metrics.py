"""Metrics: numbers an experiment's output files hold, read by a named parser.

``gem5-stats`` reads gem5's ``stats.txt``: every dump between the Begin/End markers (a manifest's
``metrics.dump`` says which is the point's: :func:`pick_dump`), current
camelCase names (``simSeconds``, ``board.processor.cores.core.ipc``) and pre-v21 snake_case ones
(``sim_seconds``) alike — top-level snake_case names get their camelCase spelling too, so one
report works across gem5 versions. ``json`` reads a flat object; ``csv`` a header and one row.

A metrics file is a container's output, and may be anything: it is read as a stream, in
bounded memory, whatever its size. Lines longer than :data:`MAX_LINE` are not statistics and
are skipped; one dump may hold at most :data:`MAX_DUMP_BYTES` of names and values (a dump
larger than that is refused, naming the limit); only the dump being read (two, when two files
are compared) is held at a time. A JSON metrics file is one object, read whole only up to
:data:`MAX_JSON_FILE`. Every reading hashes the bytes it parsed, so what was derived from a
file can be bound to that file's recorded digest (``metrics.json`` carries it).
"""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import hashlib
import io
import math
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from repro.errors import InputError
from repro.text import Tolerance, load_json

__all__ = [
    "FORMATS",
    "MAX_DUMP_BYTES",
    "MAX_JSON_FILE",
    "MAX_LINE",
    "Dump",
    "MetricChange",
    "MetricsComparison",
    "MetricsError",
    "MetricsSummary",
    "compare_metrics_files",
    "metric_changes",
    "metrics_file",
    "parse_gem5_stats",
    "pick_dump",
    "read_metrics",
    "same_metrics",
    "summarize_metrics",
]

Value = float | str
Dump = dict[str, Value]

FORMATS = ("gem5-stats", "json", "csv")

MAX_LINE = 64 * 1024
"""A line longer than this is not a statistic (nor a CSV row): it is skipped, never held whole."""
MAX_DUMP_BYTES = 48 << 20
"""The most one dump may take in memory (names and values, and what Python needs for each); a
real gem5 dump of 100,000 statistics takes about 17 MB."""
MAX_JSON_FILE = 64 << 20
"""The largest JSON metrics file read (it is one object, parsed whole)."""
_BLOCK = 1 << 20
"""How much of a metrics file is read at a time."""
_ENTRY_COST = 160
"""What a statistic costs in memory besides its name and text: a dict slot, a str, a float."""
_MAX_DIFFERING = 1000
"""How many differing metric names a comparison names (it counts the rest)."""

_BEGIN = re.compile(r"^-+\s*Begin Simulation Statistics\s*-+\s*$")
_END = re.compile(r"^-+\s*End Simulation Statistics\s*-+\s*$")
_SNAKE = re.compile(r"_([a-z0-9])")


class MetricsError(InputError):
    """An output file is not in the format the manifest says."""


@dataclass(frozen=True)
class MetricsSummary:
    """What a run's metrics file holds, read once as a stream: how many dumps, the one asked for
    (by default the last), and the sha256 of the bytes that were parsed (to bind the result to
    the recorded file)."""

    dumps: int
    last: Dump
    """The dump asked for (``which``): the last one unless the manifest's ``metrics.dump`` says."""
    sha256: str


def _number(text: str) -> Value:
    cleaned = text.rstrip("%")
    try:
        return float(cleaned)
    except ValueError:
        return text


def _camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


class _Hashed(io.RawIOBase):
    """A raw reader that hashes every byte it passes on."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        if not data:
            return 0
        buffer[: len(data)] = data
        self.digest.update(data)
        return len(data)


def _lines(handle: IO[bytes]) -> Iterator[str]:
    """The file's lines, decoded, split as ``str.splitlines`` splits them; a line over
    :data:`MAX_LINE` is skipped without being held whole. Read in blocks and decoded a block of
    whole lines at a time (a UTF-8 character never holds a newline byte)."""
    pending = b""
    skipping = False  # in the middle of a line too long to keep
    while block := handle.read(_BLOCK):
        end = block.rfind(b"\n")
        if end < 0:
            pending += block
            if len(pending) > MAX_LINE:
                pending, skipping = b"", True
            continue
        head, pending = pending + block[:end], block[end + 1 :]
        if skipping:
            head = head[head.find(b"\n") + 1 :] if b"\n" in head else b""
            skipping = False
        for line in head.decode(errors="replace").splitlines():
            if len(line) <= MAX_LINE:
                yield line
        if len(pending) > MAX_LINE:
            pending, skipping = b"", True
    if pending and not skipping:
        yield from pending.decode(errors="replace").splitlines()


def _gem5_dumps(lines: Iterator[str], name: str) -> Iterator[Dump]:
    """Each statistics dump of a gem5 ``stats.txt``, in file order, one at a time."""
    current: Dump | None = None
    size = 0
    for line in lines:
        if _BEGIN.match(line):
            current, size = {}, 0
            continue
        if _END.match(line):
            if current is not None:
                yield current
            current = None
            continue
        if current is None:
            continue
        body = line.split("#", 1)[0].split()
        if len(body) < 2:
            continue
        stat_name, value = body[0], _number(body[1])
        size += len(stat_name) + (len(value) if isinstance(value, str) else 0) + _ENTRY_COST
        if size > MAX_DUMP_BYTES:
            raise MetricsError(
                f"{name}: a statistics dump holds more than {MAX_DUMP_BYTES >> 20} MiB of statistics; "
                "repro reads dumps up to that size (dump fewer statistics, or several times)"
            )
        current[stat_name] = value
        if "." not in stat_name and "_" in stat_name:  # pre-v21 spelling: also file it under today's name
            current.setdefault(_camel(stat_name), value)
    if current:  # a dump cut short (the simulation was killed): keep what there is
        yield current


def parse_gem5_stats(text: str) -> list[Dump]:
    """Every statistics dump of a gem5 ``stats.txt`` given as text, in file order."""
    return list(_gem5_dumps(iter(text.splitlines()), "stats.txt"))


def _csv_last_row(lines: Iterator[str], name: str) -> Dump:
    rows = csv.reader(lines)
    header = next((row for row in rows if row), None)
    last = None
    for row in rows:
        if row:
            last = row
    if header is None or last is None:
        raise MetricsError(f"{name}: no data row under the CSV header")
    return {key: _number(value) for key, value in zip(header, last, strict=False)}


def _json_object(data: bytes, name: str) -> Dump:
    try:
        parsed = load_json(data)
    except ValueError as exc:
        raise MetricsError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise MetricsError(f"{name}: metrics JSON must be an object of name: value")
    return {
        str(k): v if isinstance(v, str) else float(v) for k, v in parsed.items() if isinstance(v, (int, float, str))
    }


def _open(path: Path) -> IO[bytes]:
    """``path`` opened for reading: a regular file, not through a final link, never waiting on a
    FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise MetricsError(f"cannot read metrics file {path}: {exc.strerror}") from exc
    handle = os.fdopen(fd, "rb", buffering=0)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise MetricsError(f"metrics file {path} is not a regular file; it is not read")
    return handle


def _dumps(path: Path, fmt: str, raw: _Hashed) -> Iterator[Dump]:
    """The dumps of the file behind ``raw`` (``path`` names it in messages), read as ``fmt``."""
    buffered = io.BufferedReader(raw, 1 << 20)
    if fmt == "gem5-stats":
        yield from _gem5_dumps(_lines(buffered), str(path))
    elif fmt == "json":
        data = buffered.read(MAX_JSON_FILE + 1)
        if len(data) > MAX_JSON_FILE:
            raise MetricsError(f"{path}: a JSON metrics file of more than {MAX_JSON_FILE >> 20} MiB is not read")
        yield _json_object(data, str(path))
    elif fmt == "csv":
        yield _csv_last_row(_lines(buffered), str(path))
    else:
        raise MetricsError(f"unknown metrics format {fmt!r} (known: {', '.join(FORMATS)})")
    while buffered.read(1 << 20):  # the digest covers the whole file
        pass


def summarize_metrics(path: Path, fmt: str, which: object = "last") -> MetricsSummary:
    """How many dumps ``path`` holds as ``fmt``, the one ``which`` names (see :func:`pick_dump`),
    and the digest of its bytes — read as a stream, holding at most two dumps at a time."""
    with _open(path) as handle:
        raw = _Hashed(handle)
        count, picked, last = 0, None, None
        for dump in _dumps(path, fmt, raw):
            count, last = count + 1, dump
            if (which == "first" and count == 1) or (isinstance(which, int) and count == which):
                picked = dump
        if last is None:
            raise MetricsError(f"{path} holds no gem5 statistics dump")
        if isinstance(which, int) and not isinstance(which, bool) and picked is None:
            raise MetricsError(f"{path} holds {count} dump(s); metrics.dump: {which} names none of them")
        return MetricsSummary(dumps=count, last=picked if picked is not None else last, sha256=raw.digest.hexdigest())


def read_metrics(path: Path, fmt: str) -> list[Dump]:
    """The dumps of ``path`` read as ``fmt`` (json and csv files hold one dump). Every dump is
    kept: for a file's last dump alone, in bounded memory, see :func:`summarize_metrics`."""
    with _open(path) as handle:
        dumps = list(_dumps(path, fmt, _Hashed(handle)))
    if not dumps:
        raise MetricsError(f"{path} holds no gem5 statistics dump")
    return dumps


def metrics_file(outputs: Path, relative: str) -> Path:
    """The file ``relative`` names in a run's ``outputs`` — refused if it (or a link on the way)
    leads out of them: a container may leave a link to any host file in its outputs, and the
    outputs folder itself must be a folder, not a link to one elsewhere."""
    try:
        is_folder = stat.S_ISDIR(outputs.lstat().st_mode)
    except OSError:
        is_folder = False
    if not is_folder:
        raise MetricsError(f"the run's outputs folder {outputs} is not a folder (a link?); no metrics are read")
    path = (outputs / relative).resolve()
    if not path.is_relative_to(outputs.resolve()):
        raise MetricsError(f"metrics file {relative} leads out of the run's outputs (to {path}); not read")
    return path


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


def _changes(
    left: Dump, right: Dump, ignored: Sequence[str], tolerances: Sequence[tuple[str, Tolerance]], label: str
) -> Iterator[MetricChange]:
    for name in sorted(left.keys() | right.keys()):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in ignored):
            continue
        if name in left and name in right and _equal(left[name], right[name]):
            continue
        tolerance = next((t for pattern, t in tolerances if fnmatch.fnmatchcase(name, pattern)), None)
        yield MetricChange(f"{name}{label}", left.get(name), right.get(name), tolerance)


def metric_changes(
    a: list[Dump], b: list[Dump], ignored: Sequence[str], tolerances: Sequence[tuple[str, Tolerance]] = ()
) -> list[MetricChange]:
    """The metrics that differ between two files' dumps, leaving out names matching ``ignored``
    (not judged, whatever a tolerance says), each with the first of ``tolerances`` (glob,
    tolerance) whose glob matches it."""
    if len(a) != len(b):
        return [MetricChange(f"(number of dumps: {len(a)} and {len(b)})", len(a), len(b))]
    changes: list[MetricChange] = []
    for index, (left, right) in enumerate(zip(a, b, strict=True)):
        changes += _changes(left, right, ignored, tolerances, "" if len(a) == 1 else f" (dump {index + 1})")
    return changes


def same_metrics(a: list[Dump], b: list[Dump], ignored: Sequence[str]) -> list[str]:
    """The metrics that differ between two files' dumps, leaving out names matching ``ignored``."""
    return [change.name for change in metric_changes(a, b, ignored)]


@dataclass(frozen=True)
class MetricsComparison:
    """Two metrics files compared as streams: the first :data:`_MAX_DIFFERING` changes, and how
    many there were in all and beyond their tolerance."""

    changes: list[MetricChange]
    total: int
    beyond: int
    """Changes no tolerance allows (a different number of dumps counts as one)."""


def compare_metrics_files(
    a: Path, b: Path, fmt: str, ignored: Sequence[str], tolerances: Sequence[tuple[str, Tolerance]] = ()
) -> MetricsComparison:
    """:func:`metric_changes` of two files, read side by side as streams (one dump of each held
    at a time, whatever their size)."""
    changes: list[MetricChange] = []
    total = beyond = 0
    with _open(a) as left_file, _open(b) as right_file:
        left_dumps = _dumps(a, fmt, _Hashed(left_file))
        right_dumps = _dumps(b, fmt, _Hashed(right_file))
        count = {"a": 0, "b": 0}
        while True:
            left = next(left_dumps, None)
            right = next(right_dumps, None)
            count["a"] += left is not None
            count["b"] += right is not None
            if left is None or right is None:
                break
            for change in _changes(left, right, ignored, tolerances, f" (dump {count['a']})"):
                total += 1
                beyond += not change.within
                if len(changes) < _MAX_DIFFERING:
                    changes.append(change)
        for rest, key in ((left_dumps, "a"), (right_dumps, "b")):
            count[key] += sum(1 for _ in rest)
    if count["a"] != count["b"]:
        dumps = MetricChange(f"(number of dumps: {count['a']} and {count['b']})", count["a"], count["b"])
        return MetricsComparison([dumps], 1, 1)
    if count["a"] == 0:
        raise MetricsError(f"{a} holds no gem5 statistics dump")
    if count["a"] == 1:  # one dump: names as metric_changes gives them
        changes = [dataclasses.replace(c, name=c.name.removesuffix(" (dump 1)")) for c in changes]
    return MetricsComparison(changes, total, beyond)
