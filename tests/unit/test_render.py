"""What the CLI says, built from results without running anything."""

from __future__ import annotations

import io
import math
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


# -- text from containers and other stores is data ----------------------------------------------

HOSTILE = "a\nb\x1b[2J\x1b]52;c;ZXZpbA==\x07\u009b31m\u202e\x7f\U000e0001"


def test_printable_escapes_every_control_as_json_does() -> None:
    import json

    from repro.text import printable

    shown = printable(HOSTILE)
    assert shown.isprintable()
    assert shown == "a\\nb\\u001b[2J\\u001b]52;c;ZXZpbA==\\u0007\\u009b31m\\u202e\\u007f\\udb40\\udc01"
    assert json.loads(printable(json.dumps(HOSTILE, ensure_ascii=False))) == HOSTILE, "JSON stays the same JSON"
    assert printable(shown) == shown
    assert printable("plain text, ü and 漢字") == "plain text, ü and 漢字"


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_and_numbers_are_not() -> None:
    from repro.text import csv_cell

    formulas = ("=1+1", "=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx")
    for formula in formulas:
        assert csv_cell(formula).startswith("'"), formula
    for number in ("-0.5", "1e-3", "-1e5", "+3", "42", ".5"):
        assert csv_cell(number) == number
    assert csv_cell("-inf") == "'-inf"
    assert csv_cell("nan") == "nan"
    assert csv_cell("a\nb").isprintable()


def test_markdown_cells_show_html_links_and_pipes_as_text() -> None:
    from repro.text import markdown_cell

    assert markdown_cell("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert markdown_cell("a|b") == "a\\|b"
    assert markdown_cell("![t](http://x/t.png)") == "!\\[t\\](http://x/t.png)"
    assert markdown_cell("x\ny").isprintable()
    assert markdown_cell("-0.5") == "-0.5"


def test_tables_and_records_of_hostile_values_stay_one_line_each(tmp_path: Path) -> None:
    from repro.cli.render import records
    from repro.store.record import OutputEntry, OutputsRecord

    outputs = OutputsRecord(
        digest="sha256:" + "0" * 64,
        files=[OutputEntry(path=f"f{HOSTILE}", size=1, sha256="1" * 64)],
        total_bytes=1,
    )
    record = make_record(run_id_of("a"), error=HOSTILE, outputs=outputs, notes=[HOSTILE])
    record = record.model_copy(update={"point": record.point.model_copy(update={"label": HOSTILE})})
    text = records.record_text(record)
    assert all(line.isprintable() for line in text.split("\n"))
    assert len(text.split("\n")) == len(
        records.record_text(make_record(run_id_of("a"), error="e", outputs=outputs)).split("\n")
    )
    table = render.table([HOSTILE, "B"], [[HOSTILE, "x"]])
    assert len(table.splitlines()) == 2
    assert all(line.isprintable() for line in table.splitlines())


def test_compare_csv_writes_numbers_as_they_are_and_neutralises_text_values() -> None:
    from repro.api import CompareGroup, CompareResult
    from repro.cli.render.compare import compare_csv
    from repro.ops.compare import CompareRow

    params = {"size": -4, "policy": "=cmd|' /C calc'!A0", "on": True}
    metrics = {"ipc": -0.5, "gone": math.inf, "note": "@SUM(A1)"}
    row = CompareRow("20260101-000000-00000000", "-sweep", "succeeded", params, metrics)
    group = CompareGroup("-sweep", list(params), list(metrics), [row])

    header, line = compare_csv(CompareResult([group])).splitlines()

    assert header == "id,manifest,size,policy,on,ipc,gone,note"
    assert line == "20260101-000000-00000000,'-sweep,-4,'=cmd|' /C calc'!A0,true,-0.5,inf,'@SUM(A1)"
