"""Benchmarks of finding and comparing results: CLI start-up, `repro log` and `repro compare`
on a store of 10,000 runs (made from records, without running 10,000 containers)."""

from __future__ import annotations

from pathlib import Path

from bench.run import BENCHES, Measure, median_of, repro_command, timed
from bench.synthetic import make_store


def _python_pass(repeat: int) -> float:
    return median_of(repeat, lambda: timed(["python3", "-c", "pass"]))


def bench_version(repeat: int, image_id: str, work: Path) -> Measure:
    value = median_of(repeat, lambda: timed([*repro_command(), "--version"]))
    return Measure("repro --version vs python3 -c pass", value, _python_pass(repeat), "s", "<= 0.15 s")


def _store(work: Path) -> Path:
    root = work / "query-10k" / ".repro"
    if not (root / "store.json").exists():
        make_store(root, 10_000)
    return root


def bench_log(repeat: int, image_id: str, work: Path) -> Measure:
    store = _store(work)
    value = median_of(repeat, lambda: timed([*repro_command(), "--store", str(store), "log", "-n", "20"]))
    return Measure("repro log -n 20 (10,000 runs) vs python3 -c pass", value, _python_pass(repeat), "s", "<= 0.30 s")


def bench_log_where(repeat: int, image_id: str, work: Path) -> Measure:
    store = _store(work)
    command = [*repro_command(), "--store", str(store), "log", "--where", "size=4", "--where", "ipc>0.9"]
    value = median_of(repeat, lambda: timed(command))
    return Measure("repro log --where x2 (10,000 runs) vs python3 -c pass", value, _python_pass(repeat), "s", "<= 1 s")


def bench_compare(repeat: int, image_id: str, work: Path) -> Measure:
    store = _store(work)
    command = [*repro_command(), "--store", str(store), "compare", "--format", "csv"]
    value = median_of(repeat, lambda: timed(command))
    return Measure(
        "repro compare --format csv (10,000 runs) vs python3 -c pass", value, _python_pass(repeat), "s", "<= 1 s"
    )


BENCHES["version"] = bench_version
BENCHES["log20"] = bench_log
BENCHES["logwhere"] = bench_log_where
BENCHES["compare10k"] = bench_compare
