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


def bench_push_noop(repeat: int, image_id: str, work: Path) -> Measure:
    """Bytes a second, no-op `repro push` of 10,000 runs moves (rsync's own count: what it
    sends, and the listing it receives), against the first push that copied them."""
    import json
    import subprocess

    store = _store(work)
    other = work / "team-10k-pushed"
    command = [*repro_command(), "--store", str(store.root), "push", str(other), "--json"]

    def moved() -> float:
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        report = json.loads(done.stdout)
        return float(report["bytes_sent"] + report["bytes_received"])

    first = moved()
    value = median_of(repeat, moved)
    return Measure(f"no-op push of {FOLDED:,} runs: bytes moved vs first push", value, first, "B", "O(runs) listing")


BENCHES["push_noop"] = bench_push_noop
