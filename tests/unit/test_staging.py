"""The staging area: what another store sent becomes part of this one only when it is marked
whole and checks against its record; a run this store has is never written into."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from repro.provenance.hashing import hash_tree
from repro.store import Store
from repro.store.layout import RunFolder
from repro.store.names import is_run_id
from repro.store.record import OutputEntry, OutputsRecord, RunRecord
from repro.store.status import Status
from tests.conftest import make_record

RUN = "20261101-120000-0000abcd"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    made = Store(tmp_path / "store")
    made.create()
    return made


def staged_run(store: Store, run_id: str = RUN, *, record_id: str | None = None, mark: bool = True) -> RunRecord:
    """A run folder in ``store``'s staging area as another store would send it: outputs, logs and
    a final record that lists the outputs; marked whole unless ``mark`` is false. A ``run_id``
    that is not a run id names the folder (as another store may), not the record: the layout
    makes no path of such a name, so the folder is named by hand here."""
    folder = RunFolder(run_id, store.layout.staging.runs / run_id)
    (folder.outputs / "sub").mkdir(parents=True)
    (folder.outputs / "result.txt").write_text("42\n")
    (folder.outputs / "sub" / "more.txt").write_text("more\n")
    folder.stdout.write_text("out\n")
    folder.stderr.write_text("")
    tree = hash_tree(folder.outputs)
    outputs = OutputsRecord(
        digest=tree.digest,
        files=[OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256) for e in tree.entries],
        total_bytes=tree.total_bytes,
    )
    record = make_record(record_id or (run_id if is_run_id(run_id) else RUN), outputs=outputs)
    folder.record.write_text(record.model_dump_json())
    if mark:
        store.staging.mark([run_id])
    return record


def test_a_run_marked_whole_is_taken_in_by_the_next_command_and_sealed(store: Store) -> None:
    staged_run(store)
    assert not store.run_folder(RUN).path.exists(), "nothing staged is in the store before it is taken in"

    rows = store.runs()

    assert [row.id for row in rows] == [RUN]
    here = store.run_folder(RUN)
    assert (here.outputs / "result.txt").read_text() == "42\n"
    assert not stat.S_IMODE(here.record.stat().st_mode) & 0o222, "read-only, as the store's own runs"
    assert not store.layout.staging.run(RUN).exists()
    assert not list(store.layout.staging.journal.iterdir())


def test_a_run_not_marked_whole_stays_out_of_sight(store: Store) -> None:
    staged_run(store, mark=False)
    assert store.runs() == []
    assert store.layout.staging.run(RUN).is_dir(), "kept for the transfer that completes it"


def test_a_folder_whose_record_names_another_run_is_refused_and_removed(store: Store) -> None:
    staged_run(store, record_id="20261101-120000-99999999")

    arrival = store.staging.promote()

    assert arrival is not None
    assert arrival.runs == []
    (line,) = arrival.refused
    assert RUN in line
    assert "20261101-120000-99999999" in line
    assert not store.layout.staging.run(RUN).exists()
    assert store.runs() == []


def test_a_marked_name_that_is_no_run_id_is_refused(store: Store) -> None:
    staged_run(store, f"{RUN}\n\x1b[2J")
    arrival = store.staging.promote()
    assert arrival is not None
    (line,) = arrival.refused
    assert "not named by a run id" in line
    assert "\n" not in line, "named, escaped"
    assert "\x1b" not in line
    assert not list(store.layout.staging.runs.iterdir())


def test_a_run_this_store_has_is_never_written_into(store: Store) -> None:
    own = make_record(RUN, status=Status.FAILED)
    store.run_folder(RUN).outputs.mkdir(parents=True)
    store.write_record(own)
    before = store.run_folder(RUN).record.read_bytes()
    staged_run(store)

    arrival = store.staging.promote()

    assert arrival is not None
    (line,) = arrival.refused
    assert RUN in line
    assert "differs" in line
    assert store.run_folder(RUN).record.read_bytes() == before
    assert not (store.run_folder(RUN).outputs / "result.txt").exists()


def test_the_same_run_again_adds_only_what_is_additive_by_design(store: Store) -> None:
    record = staged_run(store)
    store.fold()
    assert store.run_folder(RUN).record.is_file()
    # The same run sent again, with a statement signed since (additive) and files that are not.
    staged_run(store)
    assert json.loads(store.layout.staging.run_folder(RUN).record.read_text()) == json.loads(record.model_dump_json())
    staged = store.layout.staging.run_folder(RUN)
    staged.provenance.mkdir()
    staged.statement("0123456789abcdef").write_text("signed\n")
    (staged.provenance / "evil.sh").write_text("#!/bin/sh\n")
    (staged.outputs / "planted.txt").write_text("planted\n")

    arrival = store.staging.promote()

    assert arrival is not None
    assert arrival.refused == []
    assert arrival.runs == []
    here = store.run_folder(RUN)
    assert here.statement("0123456789abcdef").read_text() == "signed\n"
    assert not here.statement("0123456789abcdef").stat().st_mode & 0o222, "sealed, as the run's own files"
    assert not (here.provenance / "evil.sh").exists()
    assert not (here.outputs / "planted.txt").exists()


def test_a_new_run_keeps_its_statements_and_nothing_else_beside_them(store: Store) -> None:
    staged_run(store)
    staged = store.layout.staging.run_folder(RUN)
    staged.provenance.mkdir()
    staged.statement("0123456789abcdef").write_text("signed\n")
    (staged.provenance / "evil.sh").write_text("#!/bin/sh\n")

    assert [row.id for row in store.runs()] == [RUN]
    here = store.run_folder(RUN)
    assert [p.name for p in here.provenance.iterdir()] == ["0123456789abcdef.intoto.json"]


def test_files_a_run_folder_does_not_hold_and_half_written_files_are_dropped(store: Store) -> None:
    staged_run(store)
    folder = store.layout.staging.run_folder(RUN)
    (folder.path / "evil.sh").write_text("#!/bin/sh\n")
    (folder.outputs / ".result.txt.aB3dE9").write_text("half a fi")  # an rsync killed mid-file

    assert [row.id for row in store.runs()] == [RUN]
    here = store.run_folder(RUN)
    assert sorted(p.name for p in here.path.iterdir()) == ["outputs", "record.json", "stderr.log", "stdout.log"]
    assert sorted(p.name for p in here.outputs.iterdir()) == ["result.txt", "sub"]


def test_outputs_that_differ_from_the_record_are_refused(store: Store) -> None:
    staged_run(store)
    (store.layout.staging.run_folder(RUN).outputs / "result.txt").write_text("41\n")

    arrival = store.staging.promote()

    assert arrival is not None
    assert arrival.runs == []
    (line,) = arrival.refused
    assert "result.txt" in line
    assert "differs" in line
    assert not store.layout.staging.run(RUN).exists()


def test_a_record_that_is_a_link_is_never_read(store: Store, tmp_path: Path) -> None:
    staged_run(store)
    secret = tmp_path / "secret.json"
    secret.write_text('{"id": "hunter2"}')
    record = store.layout.staging.run_folder(RUN).record
    record.unlink()
    record.symlink_to(secret)

    arrival = store.staging.promote()

    assert arrival is not None
    (line,) = arrival.refused
    assert "not a regular file" in line or "unusable" in line
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("git.commit", "../../x"),
        ("inputs.digest", "sha256:../../x"),
        ("image.id", "sha256:../x"),
        ("logs.stdout", "../../../etc/passwd"),
    ],
)
def test_a_record_whose_names_lead_out_is_refused(store: Store, field: str, value: str) -> None:
    record = staged_run(store)
    data = json.loads(record.model_dump_json())
    section, key = field.split(".")
    if section == "git":
        data["git"] = {"root": "/x", "commit": value, "branch": None, "dirty": False, "manifest_path": "exp.yaml"}
    elif section == "inputs":
        data["inputs"] = [{"target": "/d", "source": "/d", "readonly": True, "digest": value, "files": 1, "bytes": 1}]
    else:
        data[section][key] = value
    store.layout.staging.run_folder(RUN).record.write_text(json.dumps(data))

    arrival = store.staging.promote()

    assert arrival is not None
    assert arrival.runs == []
    (line,) = arrival.refused
    assert "its record names" in line or "not a valid record" in line  # the model refuses it first
    assert key in line, "the refusal names the field"
