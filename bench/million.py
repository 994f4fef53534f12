"""Benchmarks at a lab's scale: `repro log`, `show`, `compare` and `reindex` on a store of a
million runs (:mod:`bench.synthetic`'s shape: 3 parameters, 3 metrics), each against ``python -c
pass`` run by the same interpreter.

The store takes about 21 GB and a quarter of an hour to make, so it is made once, in
``$REPRO_BENCH_MILLION`` (default: ``repro-bench-1m`` in the system's temporary folder), and
kept for later invocations; a store made by another shape of :mod:`bench.synthetic` is made
again. It is never made in CI: these benchmarks say they are unavailable when the disk lacks
the room.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.harness import (
    IDLE_PYTHON,
    Context,
    Measure,
    Target,
    Unavailable,
    against_python,
    benchmark,
    median_of,
    python_command,
    repro_command,
    run,
    timed,
)
from bench.synthetic import SHAPE, make_store, run_id
from repro.store import Store
from repro.store.tlog import RecordLog

__all__ = ["compare1m", "log1m", "logappend1m", "reindex1m", "show1m", "where1m"]

RUNS = 1_000_000
ROOM = 25 * 10**9
"""Free disk the store needs (21 GB of small files and folders, and its index)."""

WHERE = {
    "one condition (`size=4`)": ["size=4"],
    "two (`size=4`, `ipc>0.9`: no run meets both)": ["size=4", "ipc>0.9"],
    "four (`policy=lru`, `size>40`, `ipc>0.9`, `l1d_miss_rate<0.5`)": [
        "policy=lru",
        "size>40",
        "ipc>0.9",
        "l1d_miss_rate<0.5",
    ],
    "two that half the runs meet each, none both (`size>48`, `ipc<0.98`)": ["size>48", "ipc<0.98"],
}


def _folder() -> Path:
    return Path(os.environ.get("REPRO_BENCH_MILLION") or Path(tempfile.gettempdir()) / "repro-bench-1m")


def _store(context: Context) -> Path:
    """The million-run store (made now if there is none of this shape), its index current."""
    folder = _folder()
    made = folder / "made.json"
    try:
        facts = json.loads(made.read_text())
    except (OSError, ValueError):
        facts = {}
    if facts.get("runs") != RUNS or facts.get("shape") != SHAPE:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(folder).free < ROOM:
            shutil.rmtree(folder, ignore_errors=True)
            raise Unavailable(f"a million-run store needs {ROOM // 10**9} GB free in {folder.parent}")
        print(f"{'':<18} (making a {RUNS:,}-run store in {folder}: about 21 GB, minutes)", flush=True)
        start = time.perf_counter()
        make_store(folder / ".repro", RUNS)
        made.write_text(json.dumps({"runs": RUNS, "shape": SHAPE, "seconds": time.perf_counter() - start}))
    root = folder / ".repro"
    Store(root).index  # rebuilt here, untimed, if this repro's index version is another  # noqa: B018
    return root


def _measure(context: Context, title: str, target: Target, *args: str) -> Measure:
    value, baseline = against_python(context.repeat, repro_command("--store", str(_store(context)), *args))
    return Measure(title, value, "s", target, baseline, IDLE_PYTHON, context.repeat)


@benchmark("log-1m")
def log1m(context: Context) -> list[Measure]:
    """`repro log -n 20` on a million runs against `python -c pass`."""
    return [_measure(context, f"`repro log -n 20`, {RUNS:,} runs", Target.at_most(0.3, "s"), "log", "-n", "20")]


@benchmark("where-1m")
def where1m(context: Context) -> list[Measure]:
    """`repro log -n 20` with one, two and four `--where` conditions on a million runs, against `python -c pass`."""
    measures = []
    for title, conditions in WHERE.items():
        where = [arg for condition in conditions for arg in ("--where", condition)]
        measures.append(
            _measure(
                context,
                f"`repro log -n 20 --where`, {title}, {RUNS:,} runs",
                Target.at_most(1, "s"),
                "log",
                "-n",
                "20",
                *where,
            )
        )
    return measures


@benchmark("compare-1m")
def compare1m(context: Context) -> list[Measure]:
    """`repro compare --format csv` of the 103,100 runs with `size<10` among a million, against `python -c pass`."""
    return [
        _measure(
            context,
            f"`repro compare --format csv --where 'size<10'` (103,100 of {RUNS:,} runs)",
            Target.at_most(3, "s"),
            "compare",
            "--format",
            "csv",
            "--where",
            "size<10",
        )
    ]


@benchmark("show-1m")
def show1m(context: Context) -> list[Measure]:
    """`repro show` of one run, named by a prefix of its id, among a million, against `python -c pass`."""
    prefix = run_id(RUNS // 2)[:20]
    return [
        _measure(
            context,
            f"`repro show` of one run (an id's prefix), {RUNS:,} runs",
            Target.at_most(0.3, "s"),
            "show",
            prefix,
        )
    ]


@benchmark("reindex-1m")
def reindex1m(context: Context) -> list[Measure]:
    """`repro reindex` of a million runs: seconds and peak RSS (GNU time), once; against `repro log -n 20`."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if not Path(gnu_time).exists():
        raise Unavailable("reindex-1m needs GNU time (Debian package time) for the peak RSS")
    root = _store(context)
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        run([gnu_time, "-f", "%M", "-o", report.name, *repro_command("--store", str(root), "reindex")])
        seconds = time.perf_counter() - start
        peak = int(report.read().split()[-1]) * 1024  # GNU time says KiB
    return [
        Measure(f"`repro reindex`, {RUNS:,} runs", seconds, "s", Target.report(), runs=1),
        Measure(f"`repro reindex`, {RUNS:,} runs: peak RSS", peak, "B", Target.at_most(1e9, "B"), runs=1),
    ]


_APPEND = """
import sys
from pathlib import Path
from repro.store.tlog import RecordLog
log = Path(sys.argv[1])
RecordLog(log, log.with_name("records-log.json")).append([(sys.argv[2], "0" * 64)])
"""


_APPENDED = itertools.count(10**8)
"""The numbers of the runs appended (none of a log's own)."""


@benchmark("logappend-1m")
def logappend1m(context: Context) -> list[Measure]:
    """Appending one record to a store's log of a million (a new process, as each driver and
    each fold is: it reads where the log ended, not the log), against the same on a log of one."""
    measures = []
    for leaves in (RUNS, 1):
        folder = context.folder(f"log-{leaves}")
        log = folder / "records.log"
        RecordLog(log).start("repro-store/bench", ((run_id(n), f"{n:064x}") for n in range(leaves)))

        def append(log: Path = log) -> float:
            return timed(python_command("-c", _APPEND, str(log), run_id(next(_APPENDED))))

        append()  # the first appender after the log was made reads it all, and says where it ended
        measures.append(median_of(context.repeat, append))
    return [
        Measure(
            f"append a record to the store's log of {RUNS:,} (a new process)",
            measures[0],
            "s",
            Target.at_most(0.3, "s"),
            measures[1],
            "the same, a log of one",
            context.repeat,
        )
    ]
