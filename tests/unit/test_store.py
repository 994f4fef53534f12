"""The store: run folders, atomic final records, the index and its rebuild."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from repro.errors import StoreError, UsageError
from repro.store import Status, Store
from tests.conftest import make_record


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / ".repro")
    store.create()
    return store


def test_a_new_store_ignores_itself_in_git(store: Store) -> None:
    assert (store.root / ".gitignore").read_text().splitlines()[-1] == "*"
    assert json.loads((store.root / "store.json").read_text()) == {"repro_store": 1}


def test_a_running_record_may_be_replaced_but_a_final_one_never(store: Store) -> None:
    folder = store.new_run()
    store.write_record(make_record(folder.run_id, status=Status.RUNNING))
    store.write_record(make_record(folder.run_id, status=Status.FAILED))
    assert store.load(folder.run_id).status is Status.FAILED
    with pytest.raises(StoreError, match="is final"):
        store.write_record(make_record(folder.run_id, status=Status.SUCCEEDED))
    assert store.load(folder.run_id).status is Status.FAILED
    assert not list(folder.path.glob(".*tmp")), "no temporary file is left beside the record"


def test_succeeded_keys_name_the_newest_succeeded_run(store: Store) -> None:
    for run_id, status in (("20261101-000001-a", Status.SUCCEEDED), ("20261101-000002-b", Status.FAILED)):
        (store.root / "runs" / run_id).mkdir()
        store.write_record(make_record(run_id, key="a" * 64, status=status))
    assert store.index.succeeded_keys(["a" * 64, "b" * 64]) == {"a" * 64: "20261101-000001-a"}


def test_run_ids_resolve_from_unique_prefixes(store: Store) -> None:
    for run_id in ("20261101-000001-aa", "20261101-000001-ab"):
        (store.root / "runs" / run_id).mkdir()
        store.write_record(make_record(run_id))
    assert store.resolve("20261101-000001-aa") == "20261101-000001-aa"
    assert store.resolve("20261101-000001-ab"[:-1] + "b") == "20261101-000001-ab"
    with pytest.raises(UsageError, match="names several runs"):
        store.resolve("20261101-000001-a")
    with pytest.raises(UsageError, match="no run"):
        store.resolve("1999")


def test_the_index_is_rebuilt_from_the_records(store: Store) -> None:
    for number in range(3):
        run_id = f"20261101-00000{number}-x"
        (store.root / "runs" / run_id).mkdir()
        store.write_record(make_record(run_id))
    store.index.close()
    (store.root / "index.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (store.root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    fresh = Store(store.root)
    # A lost index is rebuilt from the records on first use: the records are the truth.
    assert [r.id for r in fresh.runs()] == [f"20261101-00000{n}-x" for n in (2, 1, 0)]
    assert fresh.rebuild_index() == 3
    assert [r.id for r in fresh.runs()] == [f"20261101-00000{n}-x" for n in (2, 1, 0)]


def test_a_corrupt_record_is_reported_not_loaded(store: Store) -> None:
    folder = store.new_run()
    folder.record.write_text('{"id": "x", "status": "succeeded"}')
    with pytest.raises(StoreError, match="is corrupt"):
        store.load(folder.run_id)


def test_a_broken_index_says_how_to_rebuild_it(store: Store) -> None:
    store.index.close()
    db = sqlite3.connect(store.root / "index.sqlite")
    db.execute("DROP TABLE runs")
    db.execute("CREATE TABLE runs (id TEXT)")  # not the schema repro writes
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="rebuild it: repro reindex"):
        Store(store.root).runs()
    assert Store(store.root).rebuild_index() == 0
    assert Store(store.root).runs() == []


def test_blobs_are_stored_once_and_read_only(store: Store) -> None:
    first = store.put_blob(b"diff")
    assert store.put_blob(b"diff") == first
    assert first.stat().st_mode & 0o777 == 0o444
