"""Metrics parsers: gem5's stats.txt in today's and pre-v21 spelling, JSON, CSV."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from repro.results.metrics import MetricsError, parse_gem5_stats, read_metrics, same_metrics

DATA = Path(__file__).parent.parent / "data"


def test_current_gem5_stats_with_several_dumps() -> None:
    dumps = read_metrics(DATA / "gem5-stats-v24.txt", "gem5-stats")
    assert len(dumps) == 2
    first, second = dumps
    assert first["simSeconds"] == 0.00005
    assert first["simInsts"] == 12345
    assert first["board.processor.cores.core.ipc"] == 0.492
    assert first["board.processor.cores.core.statIssuedInstType_0::IntAlu"] == 8765
    assert first["board.cache_hierarchy.l1d-cache-0.overallMissRate::total"] == 0.03125
    assert isinstance(first["board.memory.mem_ctrl.dram.avgRdBW"], float)
    assert math.isnan(first["board.memory.mem_ctrl.dram.avgRdBW"])
    assert second["simInsts"] == 24690
    assert "simOps" not in second


def test_pre_v21_names_are_also_filed_under_todays() -> None:
    (dump,) = read_metrics(DATA / "gem5-stats-v20.txt", "gem5-stats")
    assert dump["sim_seconds"] == dump["simSeconds"] == 0.00005
    assert dump["sim_insts"] == dump["simInsts"] == 12345
    assert dump["host_seconds"] == dump["hostSeconds"] == 1.23
    assert dump["system.cpu.ipc"] == 0.492
    assert "system.cpu.dcache.overallMissRate::total" not in dump  # only top-level names are respelt


def test_host_statistics_can_be_left_out_of_a_comparison() -> None:
    text = (DATA / "gem5-stats-v24.txt").read_text()
    rerun = text.replace("1.23 ", "1.87 ").replace("40750406", "26803877").replace("689012", "701224")
    a, b = parse_gem5_stats(text), parse_gem5_stats(rerun)
    assert same_metrics(a, b, ["host*"]) == []
    assert same_metrics(a, b, []) == ["hostMemory (dump 1)", "hostSeconds (dump 1)", "hostTickRate (dump 1)"]
    changed = parse_gem5_stats(rerun.replace("12345", "12346"))
    assert same_metrics(a, changed, ["host*"]) == ["simInsts (dump 1)"]


def test_a_cut_short_dump_is_kept_and_an_empty_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "stats.txt"
    path.write_text("---------- Begin Simulation Statistics ----------\nsimSeconds 0.1 # x\n")
    assert read_metrics(path, "gem5-stats") == [{"simSeconds": 0.1}]
    path.write_text("nothing here\n")
    with pytest.raises(MetricsError, match="no gem5 statistics dump"):
        read_metrics(path, "gem5-stats")


def test_json_and_csv_metrics(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"ipc": 1.5, "name": "o3", "cycles": 10}')
    assert read_metrics(tmp_path / "m.json", "json") == [{"ipc": 1.5, "name": "o3", "cycles": 10.0}]
    (tmp_path / "m.csv").write_text("ipc,name\n1.5,o3\n")
    assert read_metrics(tmp_path / "m.csv", "csv") == [{"ipc": 1.5, "name": "o3"}]
