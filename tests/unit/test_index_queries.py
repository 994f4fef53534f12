"""The index answers every query as a filter in Python over the records would: a store of many
runs with parameters and metrics of every kind, random conditions (a property test), and each
way the index may take to its answer (the newest runs first, a leading condition, runs named)."""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.store import Store, index
from repro.store.index import Condition, Value
from repro.store.record import RunRecord
from repro.store.status import Status
from tests.conftest import make_record

RUNS = 400
NAMES = ("size", "policy", "ipc", "flag", "both", "sparse")
VALUES: tuple[Value, ...] = (0, 1, 2, 4, 4.0, 0.5, 2.5, -1, True, False, "lru", "fifo", "4", "true", "", math.inf)
START = datetime(2026, 11, 1, tzinfo=UTC)


def _values(rng: random.Random) -> dict[str, Value]:
    chosen = {name: rng.choice(VALUES) for name in NAMES if rng.random() < 0.8}
    chosen.pop("sparse", None) if rng.random() < 0.9 else None
    return chosen


def _make(root: Path, how: str) -> Store:
    """A store of :data:`RUNS` runs whose index was made by folding (``fold``) or rebuilt."""
    store = Store(root)
    store.create()
    rng = random.Random(26)
    for number in range(RUNS):
        run_id = f"20261101-{number:06d}-{number:08x}"
        # Infinite numbers only among metrics: a record cannot hold one (JSON has no infinity).
        params = {name: value for name, value in _values(rng).items() if name != "ipc" and value != math.inf}
        metrics = {name: value for name, value in _values(rng).items() if name not in ("size", "policy")}
        base = make_record(run_id, key=f"{number % 50:064x}", status=rng.choice([Status.SUCCEEDED, Status.FAILED]))
        record = base.model_copy(
            update={
                "point": base.point.model_copy(update={"params": params, "label": run_id}),
                "manifest": base.manifest.model_copy(update={"name": rng.choice(["a", "b"])}),
                # Few distinct start times: ties are ordered by id.
                "started_at": START + timedelta(minutes=rng.randrange(40)),
            }
        )
        folder = store.run_folder(run_id)
        folder.path.mkdir(parents=True)
        if number % 7 == 0:  # indexed while it ran, then again when it ended: its row is updated
            store.write_record(record.model_copy(update={"status": Status.RUNNING, "point": base.point}))
            store.runs(limit=1)
        folder.metrics.write_text(json.dumps({"file": "m.json", "format": "json", "values": metrics}))
        store.write_record(record)
    if how == "rebuild":
        store.rebuild_index()
    store.runs(limit=1)  # folds the journal
    return store


@pytest.fixture(scope="module", params=["fold", "rebuild"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _make(tmp_path_factory.mktemp(request.param) / ".repro", request.param)


class Records(list[tuple[RunRecord, dict[str, Value]]]):
    """The store's records with their metrics (shown short when an example fails)."""

    def __repr__(self) -> str:
        return f"<{len(self)} records>"


@pytest.fixture(scope="module")
def records(store: Store) -> Records:
    found = Records((record, store.metrics_of(record.id) or {}) for record in store.records())
    assert len(found) == RUNS
    return found


def _kind(value: object) -> tuple[str, object]:
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return "number", float(value)
    return "text", str(value)


def _holds(value: Value, condition: Condition) -> bool:
    kind, have = _kind(value)
    if condition.op in ("=", "!="):
        equal = (kind, have) == _kind(condition.value)
        return equal if condition.op == "=" else not equal
    wanted_kind, wanted = _kind(condition.value)
    if kind != "number" or wanted_kind != "number":
        return False
    assert isinstance(have, float)
    assert isinstance(wanted, float)
    return have > wanted if condition.op == ">" else have < wanted


def _expected(
    records: Sequence[tuple[RunRecord, dict[str, Value]]],
    where: Sequence[Condition],
    limit: int | None = None,
    statuses: Sequence[str] = (),
    names: Sequence[str] = (),
    ids: Sequence[str] | None = None,
) -> list[str]:
    kept = []
    for record, metrics in records:
        if statuses and record.status.value not in statuses:
            continue
        if names and record.manifest.name not in names:
            continue
        if ids is not None and record.id not in ids:
            continue
        values = [record.point.params, metrics]
        if all(any(c.name in found and _holds(found[c.name], c) for found in values) for c in where):
            kept.append(record)
    kept.sort(key=lambda record: (record.started_at.timestamp(), record.id), reverse=True)
    return [record.id for record in kept][:limit]


conditions = st.builds(
    Condition,
    name=st.sampled_from([*NAMES, "absent"]),
    op=st.sampled_from(["=", "!=", ">", "<"]),
    value=st.sampled_from([*VALUES, 3, 0.75, -math.inf, math.nan]),
)


WAYS = {"as shipped": {}, "newest 3 first": {"_WINDOW": 3}, "leader among few": {"_WINDOW": 3, "_DRIVER_CAP": 5}}
"""The index's own limits, made small so that a store of 400 runs takes every way a large one does."""


@contextlib.contextmanager
def _way(way: str) -> Iterator[None]:
    with mock.patch.multiple(index, **WAYS[way]) if WAYS[way] else contextlib.nullcontext():
        yield


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    where=st.lists(conditions, min_size=1, max_size=4),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=30)),
    statuses=st.sampled_from([(), ("succeeded",), ("failed", "succeeded")]),
    names=st.sampled_from([(), ("a",)]),
    way=st.sampled_from(sorted(WAYS)),
)
def test_queries_find_what_a_filter_over_the_records_finds(
    store: Store,
    records: Records,
    where: list[Condition],
    limit: int | None,
    statuses: tuple[str, ...],
    names: tuple[str, ...],
    way: str,
) -> None:
    with _way(way):
        found = [row.id for row in store.runs(limit=limit, where=where, statuses=statuses, names=names)]
    assert found == _expected(records, where, limit, statuses, names)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    where=st.lists(conditions, min_size=0, max_size=3),
    picked=st.lists(st.integers(min_value=0, max_value=RUNS - 1), max_size=700),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=30)),
)
def test_queries_of_named_runs_find_what_a_filter_finds_however_many_are_named(
    store: Store,
    records: Records,
    where: list[Condition],
    picked: list[int],
    limit: int | None,
) -> None:
    ids = [records[number][0].id for number in picked]
    found = [row.id for row in store.runs(limit=limit, where=where, ids=ids)]
    assert found == _expected(records, where, limit, ids=ids)


def test_values_are_read_back_as_they_were_recorded(store: Store, records: Records) -> None:
    ids = [record.id for record, _ in records]
    metrics = store.index.values(ids, "metric")
    params = store.index.values(ids, "param")
    for record, recorded in records:
        assert _same(metrics[record.id], recorded)
        assert _same(params[record.id], dict(record.point.params))


def _same(read: dict[str, Value], recorded: dict[str, Value]) -> bool:
    """Equal, as the index keeps values: 4 and 4.0 are one number, an infinite one is text."""
    return {name: _kind(value) for name, value in read.items()} == {
        name: _kind(value) for name, value in recorded.items()
    }
