"""What the CLI says, built from results without running anything."""

from __future__ import annotations

import io
from pathlib import Path

from repro.cli import render
from repro.cli.progress import Progress
from repro.cli.render import runs
from repro.ops.run import RunResult
from repro.plan import Plan, PlannedPoint
from repro.store import Status, Store
from repro.workflow.session import PlanReady, PointFinished
from tests.conftest import make_record, run_id_of


def plan(points: int, done: int = 0) -> Plan:
    return Plan(
        created_at="2026-11-01T00:00:00Z",  # type: ignore[arg-type]  # pydantic reads ISO text
        store="/s",
        manifest_path="/m/exp.yaml",
        manifest_sha256="0" * 64,
        manifest_name="exp",
        axes=["n"],
        inputs=[],
        points=[
            PlannedPoint(
                index=i, label=f"n={i}", key=str(i) * 64, params={"n": i}, done_by=run_id_of("d") if i < done else None
            )
            for i in range(points)
        ],
    )


def test_a_table_aligns_columns_and_trims_trailing_space() -> None:
    text = render.table(["A", "LONGER"], [["x", "1"], ["yyy", ""]])
    assert text.splitlines() == ["A    LONGER", "x    1", "yyy"]


def test_the_run_summary_counts_what_happened(tmp_path: Path) -> None:
    result = RunResult(plan=plan(4, done=1), store=Store(tmp_path / "s"))
    result.finished = [
        PointFinished(make_record(run_id_of("a"), key="1" * 64)),
        PointFinished(make_record(run_id_of("b"), key="2" * 64, status=Status.FAILED)),
    ]
    summary = runs.run_summary(result)
    assert summary.startswith("repro: exp: 4 points: 1 succeeded, 1 failed, 1 already succeeded")
    assert ", 1 not started;" in summary


def test_an_interrupted_point_is_not_a_failure_and_one_point_is_singular(tmp_path: Path) -> None:
    result = RunResult(plan=plan(1), store=Store(tmp_path / "s"))
    result.finished = [PointFinished(make_record(run_id_of("a"), status=Status.INTERRUPTED))]
    assert runs.run_summary(result).startswith("repro: exp: 1 point: 0 succeeded, 1 interrupted;")


def test_the_dry_run_table_says_which_points_would_run(tmp_path: Path) -> None:
    text = runs.plan_table(plan(2, done=1))
    assert text.splitlines()[1:] == [
        "n=0    000000000000  skip (succeeded in 20261101-000000-0000000d)",
        "n=1    111111111111  run",
    ]


def test_progress_without_a_terminal_prints_one_line_per_finished_point() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress(PlanReady("exp", points=3, to_run=2, jobs=2))
    progress(PointFinished(make_record("20261101-000000-aaaaaaaa")))
    progress("hashing ./data")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "repro: exp: 3 points, 1 already succeeded; running 2 with -j 2"
    assert lines[1].split() == ["[1/2]", "ok", "n=1", "succeeded", "-", "20261101-000000-aaaaaaaa"]
    assert lines[2] == "repro: hashing ./data"
