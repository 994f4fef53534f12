"""The store: run folders, atomic final records, the index and its rebuild."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from repro.errors import StoreError, UsageError
from repro.store import Status, Store, fold
from repro.store.files import read_stored
from repro.store.store import STORE_FORMAT
from tests.conftest import make_record


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / ".repro")
    store.create()
    return store


def test_a_new_store_ignores_itself_in_git(store: Store) -> None:
    assert (store.root / ".gitignore").read_text().splitlines()[-1] == "*"
    facts = json.loads((store.root / "store.json").read_text())
    assert facts == {"repro_store": STORE_FORMAT, "log": {"origin": store.log.read().origin}}


def test_a_running_record_may_be_replaced_but_a_final_one_never(store: Store) -> None:
    folder = store.new_run()
    store.write_record(make_record(folder.run_id, status=Status.RUNNING))
    store.write_record(make_record(folder.run_id, status=Status.FAILED))
    assert store.load(folder.run_id).status is Status.FAILED
    with pytest.raises(StoreError, match="is final"):
        store.write_record(make_record(folder.run_id, status=Status.SUCCEEDED))
    assert store.load(folder.run_id).status is Status.FAILED
    assert not list(folder.path.glob(".*tmp")), "no temporary file is left beside the record"


def test_the_newest_succeeded_run_of_each_point_is_told_from_older_and_failed_ones(store: Store) -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    runs = [  # (minute started, point, status), written out of time order: the order written decides nothing
        (5, a, Status.SUCCEEDED),  # a's newest succeeded run
        (1, a, Status.SUCCEEDED),
        (3, a, Status.SUCCEEDED),
        (7, a, Status.FAILED),  # newer than every succeeded run of a
        (2, b, Status.SUCCEEDED),  # b's newest succeeded run
        (0, b, Status.SUCCEEDED),
        (8, b, Status.TIMEOUT),
        (6, b, Status.FAILED),
        (4, c, Status.FAILED),  # c never succeeded
        (9, c, Status.INTERRUPTED),
    ]
    for minute, key, status in runs:
        run_id = f"20261101-00{minute}000-{key[0] * 8}"  # run ids sort by start time, as real ones do
        (store.root / "runs" / run_id).mkdir()
        record = make_record(run_id, key=key, status=status)
        store.write_record(record.model_copy(update={"started_at": record.started_at + timedelta(minutes=minute)}))
        store.runs()  # a command between two jobs folds each record in as it comes
    newest = {a: "20261101-005000-aaaaaaaa", b: "20261101-002000-bbbbbbbb"}

    assert store.index.succeeded_keys([a, b, c, "d" * 64]) == newest
    assert store.latest_succeeded() == sorted(newest.values())
    for key, run_id in newest.items():  # Snakemake's job outputs name the same runs
        assert json.loads(store.point_marker(key).read_text())["run"] == run_id
    assert not store.point_marker(c).exists()


def test_run_ids_resolve_from_unique_prefixes(store: Store) -> None:
    for run_id in ("20261101-000001-aaaaaaaa", "20261101-000001-aaaaaaab"):
        (store.root / "runs" / run_id).mkdir()
        store.write_record(make_record(run_id))
    assert store.resolve("20261101-000001-aaaaaaaa") == "20261101-000001-aaaaaaaa"
    assert store.resolve("20261101-000001-aaaaaaab"[:-1] + "b") == "20261101-000001-aaaaaaab"
    with pytest.raises(UsageError, match="names several runs"):
        store.resolve("20261101-000001-a")
    with pytest.raises(UsageError, match="no run"):
        store.resolve("1999")


def test_the_index_is_rebuilt_from_the_records(store: Store) -> None:
    for number in range(3):
        run_id = f"20261101-00000{number}-0000000f"
        (store.root / "runs" / run_id).mkdir()
        store.write_record(make_record(run_id))
    store.index.close()
    (store.root / "index.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (store.root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    fresh = Store(store.root)
    # A lost index is rebuilt from the records on first use: the records are the truth.
    assert [r.id for r in fresh.runs()] == [f"20261101-00000{n}-0000000f" for n in (2, 1, 0)]
    assert fresh.rebuild_index() == 3
    assert [r.id for r in fresh.runs()] == [f"20261101-00000{n}-0000000f" for n in (2, 1, 0)]


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
    assert store.put_blob(b"diff") == first == hashlib.sha256(b"diff").hexdigest()
    assert store.layout.blob(first).stat().st_mode & 0o777 == 0o444


def test_a_blob_is_placed_only_when_it_is_what_its_name_says(store: Store, tmp_path: Path) -> None:
    digest = store.put_blob(b"the diff\n")
    store.place_blob(digest, tmp_path / "git.diff")
    assert (tmp_path / "git.diff").read_bytes() == b"the diff\n"
    blob = store.layout.blob(digest)
    blob.unlink()
    secret = tmp_path / "secret"
    secret.write_bytes(b"the diff\n")  # even a link to the very same bytes is not taken
    blob.symlink_to(secret)
    with pytest.raises(StoreError, match=r"through a link|not a regular"):
        store.place_blob(digest, tmp_path / "again.diff")
    blob.unlink()
    blob.write_bytes(b"another diff\n")
    with pytest.raises(StoreError, match="not what its name says"):
        store.place_blob(digest, tmp_path / "again.diff")
    assert not (tmp_path / "again.diff").exists()


# -- the journal: jobs write files, commands fold them into the index --------------------------


def test_a_job_writes_records_and_journal_entries_and_never_the_index(tmp_path: Path) -> None:
    job = Store(tmp_path / ".repro", job=True)
    job.create()  # a job may make the store: its empty index is built aside and linked in
    made = job.layout.index.stat()
    folder = job.new_run()
    job.write_record(make_record(folder.run_id, key="a" * 64, status=Status.RUNNING))
    job.write_record(make_record(folder.run_id, key="a" * 64, status=Status.SUCCEEDED))
    after = job.layout.index.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (made.st_ino, made.st_mtime_ns, made.st_size)
    assert len(job.journal.pending()) == 2
    with pytest.raises(StoreError, match="a job may not open the index"):
        job.runs()

    command = Store(tmp_path / ".repro")
    assert [row.id for row in command.runs()] == [folder.run_id]
    assert command.runs()[0].status is Status.SUCCEEDED
    assert command.journal.pending() == []
    marker = json.loads(command.point_marker("a" * 64).read_text())
    assert marker["run"] == folder.run_id, "the fold marks a succeeded point that has no marker"


def test_an_entry_noted_while_a_fold_runs_waits_for_the_next_fold(store: Store) -> None:
    store.runs()  # the index exists, the journal is empty
    folder = store.new_run()
    store.write_record(make_record(folder.run_id, status=Status.RUNNING))
    listed = store.journal.pending()
    store.write_record(make_record(folder.run_id, status=Status.FAILED))  # after the fold listed
    store.journal.clear(listed)  # what a fold removes: only what it listed
    assert len(store.journal.pending()) == 1
    assert store.runs()[0].status is Status.FAILED
    assert store.journal.pending() == []


def test_a_fold_skips_runs_whose_record_is_gone_or_corrupt(store: Store) -> None:
    good, corrupt = store.new_run(), store.new_run()
    store.write_record(make_record(good.run_id))
    store.write_record(make_record(corrupt.run_id))
    corrupt.record.write_text('{"id": "broken"}')
    store.journal.note("20260101-000000-00000000")  # a run that is gone
    assert [row.id for row in store.runs()] == [good.run_id]
    assert store.journal.pending() == []


def _fold_of_many(store: Store) -> tuple[list[str], set[str]]:
    """Twelve runs (two of them corrupt, one gone) noted in the journal: the good ones' ids, and
    the corrupt ones'."""
    good: list[str] = []
    corrupt: set[str] = set()
    for number in range(12):
        folder = store.new_run()
        store.write_record(make_record(folder.run_id, key=f"{number:064x}"))
        if number in (3, 8):
            folder.record.write_text('{"id": "broken"}')
            corrupt.add(folder.run_id)
        else:
            good.append(folder.run_id)
    store.journal.note("20260101-000000-00000000")  # gone
    return good, corrupt


_FOLD_IN_PROCESSES = """
import json, logging, os, sys
from pathlib import Path
from repro.store import Store, fold
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
fold.PARALLEL_FROM = 2  # a fold of a dozen read as one of thousands is
os.sched_getaffinity = lambda pid: {0, 1}  # two CPUs, whatever this machine has
forked, children = [], []


class Reader(fold._Reader):
    def __init__(self, runs, share, others):
        super().__init__(runs, share, others)
        forked.append(len(share))
        children.append(self.pid)


fold._Reader = Reader
fold._FRAME_RUNS = 2  # several frames from each process
if sys.argv[2:] == ["sigchld-ignored"]:  # as a launcher may leave it: children are reaped unasked
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
if sys.argv[2:] == ["index-fails"]:
    import sqlite3
    from repro.store import index

    def failing(*args):
        raise sqlite3.OperationalError("disk I/O error")

    index._put = failing
store = Store(Path(sys.argv[1]))
rows = [row.id for row in store.runs()]
left = []
for pid in children:
    try:
        os.waitpid(pid, os.WNOHANG)
        left.append(pid)
    except ChildProcessError:
        pass  # reaped by the fold
print(json.dumps({"rows": rows, "forked": forked, "left": left}))
"""


def test_a_large_fold_read_in_several_processes_indexes_what_one_would(store: Store) -> None:
    good, corrupt = _fold_of_many(store)
    # In a process of its own: a fold forks only when it runs one thread, which a test suite's may not.
    done = subprocess.run(
        [sys.executable, "-c", _FOLD_IN_PROCESSES, str(store.root)], capture_output=True, text=True, check=True
    )
    *said, last = done.stdout.splitlines()
    result = json.loads(last)
    assert result["rows"] == sorted(good, reverse=True)
    assert result["forked"], "the fold read a share of the runs in another process"
    assert result["left"] == []
    for run_id in corrupt:  # what a child warns of is said by the parent, once
        assert sum(line.startswith(f"skipping run {run_id}") for line in said) == 1
    fresh = Store(store.root)
    assert fresh.journal.pending() == []
    for run_id in good:  # each run's point is marked, and logged, once
        assert json.loads(fresh.point_marker(fresh.load(run_id).point.key).read_text())["run"] == run_id
    assert sorted(leaf.run_id for leaf in fresh.log.read().leaves) == sorted(good)


def test_a_fold_in_a_process_whose_children_are_reaped_unasked_reads_them_itself(store: Store) -> None:
    good, _ = _fold_of_many(store)
    done = subprocess.run(
        [sys.executable, "-c", _FOLD_IN_PROCESSES, str(store.root), "sigchld-ignored"],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["rows"] == sorted(good, reverse=True)
    assert result["forked"] == [], "no child it could not wait for"
    assert Store(store.root).journal.pending() == []


def test_a_fold_whose_index_fails_leaves_no_reading_process_and_every_entry(store: Store) -> None:
    _fold_of_many(store)
    waiting = len(store.journal.pending())
    done = subprocess.run(
        [sys.executable, "-c", _FOLD_IN_PROCESSES, str(store.root), "index-fails"],
        capture_output=True,
        text=True,
        check=True,
    )
    *said, last = done.stdout.splitlines()
    result = json.loads(last)
    assert result["rows"] == []
    assert result["forked"]
    assert result["left"] == [], "each process that read was ended and waited for"
    assert any("wait in the journal for the next command" in line for line in said)
    assert len(Store(store.root).journal.pending()) == waiting


@pytest.mark.parametrize("frames", [0, 1, 2])
def test_a_fold_whose_reading_process_dies_reads_what_it_did_not_send(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, frames: int
) -> None:
    good, corrupt = _fold_of_many(store)
    monkeypatch.setattr(fold, "PARALLEL_FROM", 2)
    monkeypatch.setattr(fold, "_FRAME_RUNS", 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # the suite's threads: its child forks none
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})

    def dying(runs: object, share: list[str], writable: int) -> None:
        try:  # the child: it ends here whatever happens
            said = fold._Said()
            logging.getLogger("repro").handlers[:], logging.getLogger("repro").propagate = [said], False
            with os.fdopen(writable, "wb") as pipe:  # some frames of what it read, then it dies
                for start in range(0, 2 * frames, 2):
                    data = pickle.dumps((2, fold._reads(store, share[start : start + 2]), said.taken()))
                    pipe.write(len(data).to_bytes(8, "big") + data)
        finally:
            os._exit(3)

    monkeypatch.setattr(fold, "_serve", dying)
    assert [row.id for row in store.runs()] == sorted(good, reverse=True)
    assert store.journal.pending() == []
    assert sorted(leaf.run_id for leaf in store.log.read().leaves) == sorted(good)
    for run_id in corrupt:
        assert caplog.text.count(f"skipping run {run_id}") == 1


def test_a_fold_of_two_runs_of_a_point_marks_the_newer_over_a_marker_naming_no_run(store: Store) -> None:
    key = "d" * 64
    older, newer = sorted([store.new_run().run_id, store.new_run().run_id])
    for run_id in (older, newer):  # pulled, say: without markers of their own
        store.write_record(make_record(run_id, key=key))
    store.point_marker(key).write_text('{"run": "29991231-000000-0000000c"}')  # a "newer" run that is not there
    store.fold()
    assert json.loads(store.point_marker(key).read_text())["run"] == newer


def test_a_journal_of_thousands_of_entries_is_cleared_whole(store: Store) -> None:
    folder = store.new_run()
    store.write_record(make_record(folder.run_id))
    for number in range(1500):  # cleared by two threads
        store.journal.note(folder.run_id if number % 2 else f"20260101-000000-{number:08x}")
    assert [row.id for row in store.runs()] == [folder.run_id]
    assert store.journal.pending() == []


def test_a_stored_file_named_bare_is_read_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "marker.json").write_text("{}")
    assert read_stored("marker.json", real_parent=True) == b"{}"


def test_a_store_from_a_newer_repro_is_refused_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    (root / "store.json").write_text('{"repro_store": 99}\n')
    with pytest.raises(StoreError, match=r"a store of format 99, written by a newer repro; .* reads formats up to 3"):
        Store(root)


def test_a_store_of_repro_0_1_0_is_upgraded_in_place(fixed_store: Path) -> None:
    assert json.loads((fixed_store / "store.json").read_text())["repro_store"] == 1
    store = Store(fixed_store)
    assert len(store.runs()) == 3
    store.create()
    assert json.loads((fixed_store / "store.json").read_text())["repro_store"] == STORE_FORMAT
    assert (fixed_store / "journal").is_dir()
    assert sqlite3.connect(fixed_store / "index.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "delete"


# -- what comes from elsewhere is input -----------------------------------------------------------


def test_a_record_over_64_mib_is_refused_before_a_byte_is_read(store: Store) -> None:
    folder = store.new_run()
    with folder.record.open("wb") as handle:  # sparse: 65 MiB of nothing, never read
        handle.truncate(65 << 20)
    with pytest.raises(StoreError, match=r"holds 68\.2 MB, more than the 67\.1 MB such a file may; it is not read"):
        store.load(folder.run_id)


def test_a_record_in_another_runs_folder_is_not_that_run(store: Store) -> None:
    folder = store.new_run()
    store.write_record(make_record(folder.run_id))
    other = store.new_run()
    (other.path / "record.json").write_bytes(folder.record.read_bytes())
    with pytest.raises(StoreError, match=f"says it is run '{folder.run_id}'"):
        store.load(other.run_id)


def test_journal_entries_and_folders_that_are_not_run_ids_are_skipped_with_a_line(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    good = store.new_run()
    store.write_record(make_record(good.run_id))
    (store.layout.journal / "evil\n..1.2.3").write_bytes(b"")
    (store.layout.runs / "not-a-run").mkdir()
    with caplog.at_level("WARNING", logger="repro"):
        assert [row.id for row in store.runs()] == [good.run_id]
        assert store.rebuild_index() == 1
    said = [r.getMessage() for r in caplog.records]
    assert "skipping journal entry 'evil\\n..1.2.3': its name does not begin with a run id" in said
    assert any(line.startswith("skipping 'not-a-run' in ") for line in said)
    assert store.journal.pending() == [], "an entry that is not a run's is cleared, once said"


def test_a_marker_counts_only_when_it_names_a_run_of_its_point(store: Store) -> None:
    mine, theirs = store.new_run(), store.new_run()
    store.write_record(make_record(mine.run_id, key="a" * 64))
    store.write_record(make_record(theirs.run_id, key="b" * 64))
    marker = store.point_marker("a" * 64)
    for named in (theirs.run_id, "../../etc/passwd", "zzzz", 7):
        marker.unlink(missing_ok=True)
        marker.write_text(json.dumps({"run": named, "outputs": "/etc"}))
        assert store.marked_run("a" * 64) is None, named
    marker.unlink()
    marker.write_text(json.dumps({"run": mine.run_id}))
    assert store.marked_run("a" * 64) == mine.run_id


@pytest.mark.parametrize("name", ["../store", "a" * 63, "A" * 64, "a" * 64 + "\n", "a" * 64 + "/.."])
def test_the_layout_makes_no_path_of_a_name_of_another_shape(store: Store, name: str) -> None:
    for make in (store.layout.point_marker, store.layout.lease, store.layout.plan, store.layout.run, store.layout.blob):
        with pytest.raises(StoreError, match="is not a name repro gives"):
            make(name)


@pytest.mark.parametrize("kind", ["folder", "link"])
def test_an_index_that_is_not_a_file_is_moved_aside_and_rebuilt(store: Store, kind: str, tmp_path: Path) -> None:
    folder = store.new_run()
    store.write_record(make_record(folder.run_id))
    assert len(store.runs()) == 1
    store.index.close()
    store.layout.index.unlink()
    if kind == "folder":
        store.layout.index.mkdir()
    else:
        elsewhere = tmp_path / "elsewhere.sqlite"
        elsewhere.write_bytes(b"someone's own database")
        store.layout.index.symlink_to(elsewhere)
    fresh = Store(store.root)
    assert [row.id for row in fresh.runs()] == [folder.run_id]
    assert store.layout.index.is_file()
    assert not store.layout.index.is_symlink()
    (aside,) = store.root.glob(".index.sqlite.*.aside")
    assert aside.is_dir() if kind == "folder" else aside.is_symlink()
    if kind == "link":
        assert (tmp_path / "elsewhere.sqlite").read_bytes() == b"someone's own database", "never written through"


def test_a_lease_holder_that_fills_the_file_says_nothing(store: Store) -> None:
    lease = store.lease("a" * 64)
    lease.path.parent.mkdir(parents=True, exist_ok=True)
    with lease.path.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: a gigabyte of nothing, never read whole
    assert lease.holder() is None
    assert lease.try_acquire({"pid": 1})
    assert lease.previous is None
    lease.release()
