"""Benchmarks of finding results: `repro log`, `repro compare` and `repro ps` on a store of
10,000 runs (made from records, without running 10,000 containers), each against
``python -c pass`` run by the same interpreter."""

from __future__ import annotations

from pathlib import Path

from bench.harness import IDLE_PYTHON, Context, Measure, Target, against_python, benchmark, repro_command
from bench.synthetic import make_store

__all__ = ["compare10k", "log20", "logwhere", "ps10k"]

RUNS = 10_000


def _store(context: Context) -> Path:
    """The 10,000-run store these benchmarks share (made by the first that needs it)."""
    root = context.work / "query-10k" / ".repro"
    if not (root / "store.json").exists():
        make_store(root, RUNS)
    return root


def _against_python(context: Context, title: str, target: Target, *args: str) -> list[Measure]:
    value, baseline = against_python(context.repeat, repro_command("--store", str(_store(context)), *args))
    return [Measure(title, value, "s", target, baseline, IDLE_PYTHON, context.repeat)]


@benchmark("log20")
def log20(context: Context) -> list[Measure]:
    """`repro log -n 20` on 10,000 runs against `python -c pass`."""
    return _against_python(context, f"`repro log -n 20`, {RUNS:,} runs", Target.at_most(0.30, "s"), "log", "-n", "20")


@benchmark("logwhere")
def logwhere(context: Context) -> list[Measure]:
    """`repro log` with two `--where` filters (a parameter, a metric) on 10,000 runs against `python -c pass`."""
    return _against_python(
        context,
        f"`repro log --where` ×2, {RUNS:,} runs",
        Target.at_most(1, "s"),
        "log",
        "--where",
        "size=4",
        "--where",
        "ipc>0.9",
    )


@benchmark("compare10k")
def compare10k(context: Context) -> list[Measure]:
    """`repro compare --format csv` on 10,000 runs against `python -c pass`."""
    return _against_python(
        context, f"`repro compare --format csv`, {RUNS:,} runs", Target.at_most(1, "s"), "compare", "--format", "csv"
    )


@benchmark("ps10k")
def ps10k(context: Context) -> list[Measure]:
    """`repro ps` on a store of 10,000 runs, 3 of them running (of a live driver), against `python -c pass`."""
    store = make_store(context.work / "ps-10k" / ".repro", RUNS, running=3)
    value, baseline = against_python(context.repeat, repro_command("--store", str(store.root), "ps"))
    return [
        Measure(f"`repro ps`, {RUNS:,}-run store", value, "s", Target.report(), baseline, IDLE_PYTHON, context.repeat)
    ]
