"""Filters and comparisons without an engine: parsing, the index's conditions, metric deltas."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from repro.errors import UsageError
from repro.ops.diff import metric_deltas
from repro.ops.selection import parse_moment, parse_where
from repro.store import Store
from repro.store.index import INDEX_VERSION, Condition
from tests.conftest import make_record, run_id_of, with_metrics


def test_where_reads_names_operators_and_values_as_set_does() -> None:
    assert parse_where(["size=4", "policy!=lru", "ipc>1.5", "x<-2", "flag=true", "board.l1d::total=0.5"]) == [
        Condition("size", "=", 4),
        Condition("policy", "!=", "lru"),
        Condition("ipc", ">", 1.5),
        Condition("x", "<", -2),
        Condition("flag", "=", True),
        Condition("board.l1d::total", "=", 0.5),
    ]
    for bad in ("size", "=4", "cpu>o3", "x=.nan"):
        with pytest.raises(UsageError):
            parse_where([bad])


def test_moments_are_ages_or_dates_in_local_time_unless_zoned() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_moment("7d", now=now) == datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()
    assert parse_moment("90m", now=now) == datetime(2026, 11, 28, 10, 30, tzinfo=UTC).timestamp()
    assert parse_moment("2026-11-01T08:00+00:00") == datetime(2026, 11, 1, 8, 0, tzinfo=UTC).timestamp()
    assert parse_moment("2026-11-01T08:00Z") == datetime(2026, 11, 1, 8, 0, tzinfo=UTC).timestamp()
    assert parse_moment("2026-11-01") == datetime(2026, 11, 1).astimezone().timestamp()
    with pytest.raises(UsageError):
        parse_moment("last tuesday")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / ".repro")
    store.create()
    for number, params in enumerate(
        [{"size": 4, "flag": True, "cpu": "o3"}, {"size": 4.0, "flag": False, "cpu": "t"}, {"size": 8, "flag": 1}]
    ):
        record = make_record(run_id_of(str(number), number), key=str(number) * 64)
        record = record.model_copy(update={"point": record.point.model_copy(update={"params": params})})
        store.run_folder(record.id).path.mkdir(parents=True)
        record = with_metrics(store, record, {"ipc": 0.5 * (number + 1), "name": f"m{number}"})
        store.write_record(record)
    return store


def found(store: Store, *conditions: Condition) -> list[str]:
    """The runs that pass, as ``r<number>`` (the fixture's runs are numbered 0 to 2)."""
    return sorted(f"r{int(row.id[-8:])}" for row in store.runs(where=list(conditions)))


def test_numbers_compare_by_value_and_booleans_are_not_numbers(store: Store) -> None:
    assert found(store, Condition("size", "=", 4)) == ["r0", "r1"]
    assert found(store, Condition("size", "=", 4.0)) == ["r0", "r1"]
    assert found(store, Condition("flag", "=", True)) == ["r0"]
    assert found(store, Condition("flag", "=", 1)) == ["r2"], "a number is not a boolean"
    assert found(store, Condition("size", ">", 4)) == ["r2"]
    assert found(store, Condition("cpu", "!=", "o3")) == ["r1"], "a run without the name does not pass !="
    assert found(store, Condition("ipc", ">", 0.9)) == ["r1", "r2"], "metrics are searched too"
    assert found(store, Condition("name", "=", "m0"), Condition("size", "=", 4)) == ["r0"]


def test_an_index_of_an_older_version_is_rebuilt_from_the_records(store: Store) -> None:
    store.index.close()
    with sqlite3.connect(store.layout.index) as db:
        db.execute(f"PRAGMA user_version = {INDEX_VERSION - 1}")
    fresh = Store(store.root)
    assert len(fresh.runs()) == 3
    assert fresh.index.readable() is None


def test_metric_deltas_give_the_change_and_the_relative_change() -> None:
    deltas = {
        d.name: d
        for d in metric_deltas(
            {"ipc": 1.5, "zero": 0.0, "same": 2.0, "text": "a"},
            {"ipc": 4.5, "zero": 1.0, "same": 2.0, "text": "b", "new": 1.0},
        )
    }
    assert set(deltas) == {"ipc", "zero", "text", "new"}
    assert (deltas["ipc"].delta, deltas["ipc"].relative) == (3.0, 2.0)
    assert (deltas["zero"].delta, deltas["zero"].relative) == (1.0, None), "relative is null when a is 0"
    assert (deltas["text"].delta, deltas["new"].a) == (None, None)
