"""Metrics parsers: gem5's stats.txt in today's and pre-v21 spelling, JSON, CSV."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from repro.execute.finish import parse_metrics
from repro.results.metrics import (
    MetricsError,
    compare_metrics_files,
    parse_gem5_stats,
    read_metrics,
    same_metrics,
    summarize_metrics,
)
from repro.store.layout import RunFolder
from repro.store.record import OutputsRecord
from tests.conftest import make_record, peak_rss

DATA = Path(__file__).parent.parent / "data"


def test_real_gem5_stats_with_several_dumps() -> None:
    """tests/data/gem5-stats-v24.txt is real: gem5 v24.0.0.1 (the kit's), examples/gem5's
    se.py, hello on the timing CPU, statistics dumped every 8,000,000 ticks and at the end."""
    dumps = read_metrics(DATA / "gem5-stats-v24.txt", "gem5-stats")
    assert len(dumps) == 3
    first, second, last = dumps
    assert [d["simInsts"] for d in dumps] == [1593, 4403, 5851]  # cumulative: the program's 5851 at the end
    assert first["simSeconds"] == 0.000008
    assert last["board.processor.cores.core.ipc"] == 0.093014
    assert last["board.cache_hierarchy.l1d-cache-0.overallMissRate::total"] == 0.031301
    assert last["board.memory.mem_ctrl.dram.avgRdBW"] == 1070.334922
    assert first["hostMemory"] == 1196528
    # gem5 leaves zero and NaN statistics out of a dump: the dumps name different statistics.
    assert set(first) != set(second) != set(last)
    assert len(set(first) - set(last)) > 50


def test_pre_v21_names_are_also_filed_under_todays() -> None:
    (dump,) = read_metrics(DATA / "gem5-stats-v20.txt", "gem5-stats")
    assert dump["sim_seconds"] == dump["simSeconds"] == 0.00005
    assert dump["sim_insts"] == dump["simInsts"] == 12345
    assert dump["host_seconds"] == dump["hostSeconds"] == 1.23
    assert dump["system.cpu.ipc"] == 0.492
    assert "system.cpu.dcache.overallMissRate::total" not in dump  # only top-level names are respelt


def test_host_statistics_can_be_left_out_of_a_comparison() -> None:
    text = (DATA / "gem5-stats-v24.txt").read_text()
    rerun = text.replace("0.09  ", "0.21  ").replace("91974109", "81234567").replace("1196528", "1201234")
    a, b = parse_gem5_stats(text), parse_gem5_stats(rerun)
    assert same_metrics(a, b, ["host*"]) == []
    assert same_metrics(a, b, []) == ["hostMemory (dump 1)", "hostSeconds (dump 1)", "hostTickRate (dump 1)"]
    changed = parse_gem5_stats(rerun.replace("5851 ", "5852 "))
    assert same_metrics(a, changed, ["host*"]) == ["simInsts (dump 3)"]


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


def test_the_stream_gives_what_reading_the_whole_file_gave_and_the_files_digest() -> None:
    for name in ("gem5-stats-v24.txt", "gem5-stats-v20.txt"):
        path = DATA / name
        whole = parse_gem5_stats(path.read_text(errors="replace"))
        summary = summarize_metrics(path, "gem5-stats")
        assert summary.dumps == len(whole)
        assert same_metrics([summary.last], [whole[-1]], []) == []
        assert summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_lines_too_long_to_be_statistics_are_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "stats.txt"
    begin, end = (
        "---------- Begin Simulation Statistics ----------\n",
        "---------- End Simulation Statistics   ----------\n",
    )
    path.write_text(begin + "a 1\n" + "b " + "9" * (1 << 20) + "\n" + "c 3\n" + end)
    assert summarize_metrics(path, "gem5-stats").last == {"a": 1.0, "c": 3.0}


def test_one_dump_larger_than_the_bound_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "stats.txt"
    with path.open("w") as out:
        out.write("---------- Begin Simulation Statistics ----------\n")
        for number in range(2_000_000):  # 2 million statistics in one dump: about 110 MB of text
            out.write(f"system.cpu{number % 64}.some.statistic.name{number} {number} # what it counts\n")
    code = (
        "from pathlib import Path\n"
        "from repro.results.metrics import MetricsError, summarize_metrics\n"
        f"try:\n    summarize_metrics(Path({str(path)!r}), 'gem5-stats')\n"
        "except MetricsError as exc:\n    print(exc)\n"
    )
    done, peak = peak_rss([sys.executable, "-c", code])
    assert "a statistics dump holds more than 48 MiB of statistics" in done.stdout
    assert peak < 150 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_a_file_compared_with_itself_has_no_difference() -> None:
    compared = compare_metrics_files(DATA / "gem5-stats-v24.txt", DATA / "gem5-stats-v24.txt", "gem5-stats", [])
    assert (compared.changes, compared.total, compared.beyond) == ([], 0, 0)


def test_two_files_compared_as_streams_say_what_the_lists_of_dumps_say(tmp_path: Path) -> None:
    text = (DATA / "gem5-stats-v24.txt").read_text()
    rerun = text.replace("0.09  ", "0.21  ").replace("91974109", "81234567").replace("1196528", "1201234")
    changed = rerun.replace("5851 ", "5852 ")
    for name, content in (("a", text), ("b", rerun), ("c", changed), ("d", text.split("End Simulation")[0])):
        (tmp_path / name).write_text(content)
    a, b, c, d = (tmp_path / name for name in "abcd")
    for left, right, ignored in ((a, b, ["host*"]), (a, b, []), (a, c, ["host*"]), (a, d, [])):
        expected = same_metrics(read_metrics(left, "gem5-stats"), read_metrics(right, "gem5-stats"), ignored)
        compared = compare_metrics_files(left, right, "gem5-stats", ignored)
        assert [change.name for change in compared.changes] == expected
        assert compared.total == compared.beyond == len(expected)


@pytest.mark.parametrize(("dump", "sim_insts"), [(None, 5851), ("last", 5851), ("first", 1593), (2, 4403), (3, 5851)])
def test_metrics_dump_names_the_dump_that_holds_a_points_numbers(
    tmp_path: Path, dump: str | int | None, sim_insts: int
) -> None:
    """gem5 dumps again at exit: a region of interest's dump (m5 dumpstats) is not the last one.
    A record from before metrics.dump (None) takes the last, as repro always did."""
    folder = RunFolder("20261201-000000-00000000", tmp_path)
    (tmp_path / "outputs" / "m5out").mkdir(parents=True)
    (tmp_path / "outputs" / "m5out" / "stats.txt").write_text((DATA / "gem5-stats-v24.txt").read_text())
    spec: dict[str, object] = {"file": "m5out/stats.txt", "format": "gem5-stats"}
    if dump is not None:
        spec["dump"] = dump
    record = make_record(folder.run_id).model_copy(
        update={
            "manifest": make_record(folder.run_id).manifest.model_copy(update={"resolved": {"metrics": spec}}),
            "outputs": OutputsRecord(digest="sha256:" + "0" * 64, files=[], total_bytes=0),
        }
    )
    parsed = parse_metrics(folder, record)
    assert parsed is not None
    values = parsed["values"]
    assert isinstance(values, dict)
    assert values["simInsts"] == sim_insts
    assert parsed["dumps"] == 3
    assert parsed["dump"] == (dump or "last")


def test_a_dump_the_file_does_not_reach_is_a_metrics_error(tmp_path: Path) -> None:
    folder = RunFolder("20261201-000000-00000000", tmp_path)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "stats.txt").write_text((DATA / "gem5-stats-v24.txt").read_text())
    base = make_record(folder.run_id)
    spec = {"file": "stats.txt", "format": "gem5-stats", "dump": 4}
    record = base.model_copy(
        update={
            "manifest": base.manifest.model_copy(update={"resolved": {"metrics": spec}}),
            "outputs": OutputsRecord(digest="sha256:" + "0" * 64, files=[], total_bytes=0),
        }
    )
    assert parse_metrics(folder, record) == {
        "file": "stats.txt",
        "format": "gem5-stats",
        "error": "stats.txt holds 3 dump(s); metrics.dump: 4 names none of them",
    }
