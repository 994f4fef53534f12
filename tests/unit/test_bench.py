"""The benchmarks' bookkeeping, without running a benchmark that needs an engine: the entry point
lists every benchmark, no benchmark module imports it, `--markdown` renders the README's table,
and every row of the README's Performance table names a benchmark that exists."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import bench
from bench.__main__ import BENCHMARKS, BY_ID
from bench.harness import Benchmark, Measure, Target, quantity, render_markdown
from bench.synthetic import make_store
from repro.ops.reindex import reindex
from tests.conftest import CHECKOUT


def _bench_modules() -> list[str]:
    return sorted(f"bench.{info.name}" for info in pkgutil.iter_modules(bench.__path__))


def test_the_entry_point_lists_every_benchmark_once() -> None:
    defined = set()
    for name in _bench_modules():
        module = importlib.import_module(name)
        defined |= {value for value in vars(module).values() if isinstance(value, Benchmark)}
    listed = [benchmark.id for benchmark in BENCHMARKS]
    assert len(listed) == len(set(listed)), f"a benchmark id is listed twice: {listed}"
    assert {benchmark.id for benchmark in defined} == set(listed)
    assert all(BY_ID[benchmark.id] is benchmark for benchmark in defined), "two benchmarks share an id"


def test_benchmark_modules_import_the_harness_never_the_entry_point_or_each_other() -> None:
    helpers = {"bench", "bench.harness", "bench.synthetic"}
    for name in _bench_modules():
        if name == "bench.__main__":
            continue
        source = Path(CHECKOUT / (name.replace(".", "/") + ".py")).read_text()
        imported = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        from_bench = {module for module in imported if module == "bench" or module.startswith("bench.")}
        assert from_bench <= helpers, f"{name} imports {sorted(from_bench - helpers)}"


def test_markdown_renders_the_readme_table_from_measures() -> None:
    measures = [
        Measure("one point", 2.07, "s", Target.ratio_at_most(1.40), 1.24, "`docker run --rm`", 5, "sleep1"),
        Measure("start-up", 0.09, "s", Target.at_most(0.15, "s"), 0.0105, "`python -c pass`", 5, "version"),
        Measure("no-op push: bytes", 10_240, "B", Target.report(), 47.2e6, "first push", 3, "push-ssh"),
        Measure("plan: peak RSS", 61e6, "B", Target.at_most(1e9, "B"), bench="plan10k"),
    ]

    table = render_markdown(measures).splitlines()

    assert table == [
        "| measure | repro | baseline | ratio | target | bench |",
        "|---|---|---|---|---|---|",
        "| one point | 2.07 s | 1.24 s `docker run --rm` | 1.67× | ≤ 1.40× — **not met** | `sleep1` |",
        "| start-up | 90.0 ms | 10.5 ms `python -c pass` | 8.57× | ≤ 150 ms | `version` |",
        "| no-op push: bytes | 10.2 kB | 47.2 MB first push | < 0.001× | report | `push-ssh` |",
        "| plan: peak RSS | 61.0 MB |  |  | ≤ 1 GB | `plan10k` |",
    ]


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.00012, "s", "0.120 ms"),
        (3.1, "s", "3.10 s"),
        (19.74, "s", "19.7 s"),
        (727_000, "B", "727 kB"),
        (1195.4, "MB/s", "1195 MB/s"),
        (0.0000151, "s", "0.0151 ms"),
    ],
)
def test_quantities_read_as_people_write_them(value: float, unit: str, shown: str) -> None:
    assert quantity(value, unit) == shown


def _readme_performance_rows() -> tuple[str, list[list[str]]]:
    text = (CHECKOUT / "README.md").read_text()
    section = text.split("\n## Performance\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert len(lines) > 2, "the Performance section has no table"
    return lines[0], [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_every_row_of_the_readme_performance_table_names_a_benchmark_that_exists() -> None:
    header, rows = _readme_performance_rows()

    assert header == render_markdown([]).splitlines()[0], "the README's table is not `python -m bench --markdown`'s"
    named = []
    for row in rows:
        bench_cell = row[-1]
        assert re.fullmatch(r"`[a-z0-9-]+`", bench_cell), f"a row names no benchmark: {row}"
        named.append(bench_cell.strip("`"))
    unknown = sorted(set(named) - set(BY_ID))
    assert not unknown, f"README rows name benchmarks that do not exist: {unknown}"
    missing = sorted(set(BY_ID) - set(named))
    assert not missing, f"benchmarks missing from the README's table: {missing}"


def test_python_m_bench_prints_the_table_of_what_it_ran() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "version", "--repeat", "1", "--markdown"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert rows[0] == render_markdown([]).splitlines()[0]
    assert len(rows) == 3, done.stdout
    assert rows[2].endswith("| `version` |")
    assert "`python -c pass`" in rows[2]


def test_an_unknown_benchmark_is_refused_by_name() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "no-such-bench"], cwd=CHECKOUT, capture_output=True, text=True
    )

    assert done.returncode == 2
    assert "no-such-bench" in done.stderr


def test_a_synthetic_store_has_the_index_its_records_would_give(tmp_path: Path) -> None:
    store = make_store(tmp_path / ".repro", 60, running=2)
    written = _index_contents(store.layout.index)

    assert store.rebuild_index() == 60
    assert _index_contents(store.layout.index) == written
    # reindex parses each ended run's metrics again, from its outputs: the same values, so it
    # rewrites no metrics.json (a million runs would be two million fsyncs).
    kept = {path: path.stat().st_mtime_ns for path in (store.root / "runs").glob("*/metrics.json")}
    assert reindex(store=store.root).metrics_parsed == 58
    assert _index_contents(store.layout.index) == written
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    assert len(kept) == 58
    assert len(written[0]) == 60
    assert store.load(store.runs(limit=1)[0].id).status.value == "running"


def _index_contents(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every run's row and every value of an index, by run id and name (not by their integers)."""
    with sqlite3.connect(path) as db:
        runs = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        values = db.execute(
            "SELECT r.id, n.source, n.name, v.v FROM vals AS v JOIN runs AS r ON r.rid = v.run "
            "JOIN names AS n ON n.nid = v.nid ORDER BY r.id, n.source, n.name"
        ).fetchall()
    return [row[1:] for row in runs], values
