"""Benchmarks of the store at team scale: folding the journal that jobs leave into the index."""

from __future__ import annotations

from pathlib import Path

from bench.run import BENCHES, Measure, median_of, repro_command, timed
from bench.synthetic import make_store
from repro.store import Store

FOLDED = 10_000


def _store(work: Path) -> Store:
    root = work / "team-10k" / ".repro"
    return Store(root) if (root / "store.json").exists() else make_store(root, FOLDED)


def bench_fold(repeat: int, image_id: str, work: Path) -> Measure:
    """`repro log -n 1` that first folds 10,000 journal entries (one per run, as jobs leave
    them) into the index, against the same command with an empty journal."""
    store = _store(work)
    command = [*repro_command(), "--store", str(store.root), "log", "-n", "1"]
    runs = sorted(path.name for path in store.layout.runs.iterdir())

    def folding() -> float:
        for run_id in runs:
            store.journal.note(run_id)
        elapsed = timed(command)
        assert not store.journal.pending(), "the command folded the journal"
        return elapsed

    value = median_of(repeat, folding)
    baseline = median_of(repeat, lambda: timed(command))
    return Measure(f"fold {FOLDED:,} journal entries (repro log -n 1)", value, baseline, "s", "<= 10 s")


BENCHES["fold"] = bench_fold
