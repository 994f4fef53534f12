"""What a record says is what happened: statuses decided in one order, a full disk judged by the
writes that failed, outputs that cannot be checked said to be so, stored files read-only and
nothing world-writable from a container (issue 20)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from repro.store import Status, Store
from repro.store.files import atomic_write
from tests.conftest import Project
from tests.e2e.conftest import repro_containers
from tests.e2e.faults import RefusingEngine, refuses_container_removal
from tests.e2e.test_store_truth import small_disk  # noqa: F401 - a fixture these tests share

pytestmark = pytest.mark.docker


@pytest.fixture
def refusing_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingEngine]:
    """The real engine, behind a proxy that refuses to remove containers."""
    proxy = RefusingEngine(tmp_path / "engine.sock", refuses_container_removal)
    proxy.start()
    monkeypatch.setenv("DOCKER_HOST", proxy.url)
    yield proxy
    proxy.stop()


def only_record(project: Project) -> object:
    store = Store(project.store)
    (row,) = store.runs()
    return store.load(row.id)


def test_a_run_whose_container_cannot_be_removed_still_fails_on_its_fail_on_match(
    docker_project: Project, refusing_engine: RefusingEngine, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo 'Kernel panic - not syncing: VFS'; echo made > /out/x"],
        fail_on=[{"file": "stdout", "pattern": "Kernel panic"}],
    )
    project.commit("experiment")

    result = project.repro("run", "exp.yaml")

    left = repro_containers(docker_client, project.store)
    for container in left:
        container.remove(force=True)
    assert len(left) == 1, "the engine refused the removal: the container was left (and is removed here)"
    assert any(request.startswith("DELETE /") for request in refusing_engine.refused)
    assert result.code == 1, result.err
    record = only_record(project)
    assert record.status is Status.FAILED
    assert record.exit_code == 0
    assert "matches fail_on" in (record.error or "")
    assert "Kernel panic" in (record.error or "")
    assert any("could not remove container" in note for note in record.notes), record.notes


def test_a_run_whose_container_cannot_be_removed_keeps_its_success(
    docker_project: Project, refusing_engine: RefusingEngine, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo made > /out/x"])
    project.commit("experiment")

    result = project.repro("run", "exp.yaml")

    for container in repro_containers(docker_client, project.store):
        container.remove(force=True)
    assert result.code == 0, result.err
    record = only_record(project)
    assert record.status is Status.SUCCEEDED
    assert record.error is None
    assert any("could not remove container" in note for note in record.notes)


def test_a_run_ending_on_an_almost_full_disk_it_could_write_succeeds(small_disk: Project) -> None:  # noqa: F811
    project = small_disk
    # The container fills the store's disk until 48 KiB are left, then exits 0: every write it and
    # repro make still fits (logs, the final record), though less than 64 KiB are free at the end.
    project.manifest(
        command=[
            "sh",
            "-c",
            "set -- $(stat -f -c '%a %S' /out); head -c $(( $1 * $2 - 49152 )) /dev/zero > /out/fill; echo done",
        ]
    )
    project.commit("experiment")

    result = project.repro("run", "exp.yaml")

    assert result.code == 0, result.err
    record = only_record(project)
    assert record.status is Status.SUCCEEDED, record.error
    assert record.error is None
    assert record.outputs is not None
    assert [f.path for f in record.outputs.files] == ["fill"]
    free = os.statvfs(project.store)
    assert free.f_bavail * free.f_frsize < 64 * 1024, "the disk was almost full when the run ended"
    assert project.repro("fsck").code == 0


def drop_file_list(store: Store, run_id: str, *, as_schema_3: bool = False) -> None:
    """The record as a full disk leaves it: its outputs' file list left out (``files_omitted``; a
    record written before schema 4 only had an empty list beside a non-empty tree digest)."""
    path = store.run_folder(run_id).record
    data = json.loads(path.read_text())
    data["outputs"]["files"] = []
    if as_schema_3:
        data["schema_version"] = 3
        del data["outputs"]["files_omitted"]
    else:
        data["outputs"]["files_omitted"] = True
    atomic_write(path, json.dumps(data).encode())


@pytest.mark.parametrize("as_schema_3", [False, True], ids=["schema-4", "schema-3"])
def test_a_record_without_its_file_list_cannot_be_vouched_for(docker_project: Project, as_schema_3: bool) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo made > /out/x"])
    project.commit("experiment")
    assert project.repro("run", "exp.yaml").code == 0
    store = Store(project.store)
    (row,) = store.runs()
    drop_file_list(store, row.id, as_schema_3=as_schema_3)

    checked = project.repro("fsck")
    verified = project.repro("verify", row.id, "--json")

    assert checked.code == 1
    assert "outputs cannot be checked: the record has no file list" in checked.out
    assert verified.code == 1
    (verdict,) = verified.json
    assert verdict["verdict"] == "unchecked"
    assert verdict["rerun"] is None, "nothing to compare a rerun with: it is not rerun"


def test_stored_files_are_read_only_and_nothing_stays_world_writable(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=[
            "sh",
            "-c",
            "echo f > /out/f; chmod 666 /out/f; mkdir -m 777 /out/d; echo g > /out/d/g; chmod 777 /out/d/g",
        ]
    )
    project.commit("experiment")

    assert project.repro("run", "exp.yaml").code == 0

    record = only_record(project)
    folder = Store(project.store).run_folder(record.id)
    modes = {p.relative_to(folder.path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in folder.path.rglob("*")}
    assert modes["outputs/f"] == 0o444
    assert modes["outputs/d/g"] == 0o555, "executable as it was, read-only, for the store's readers"
    assert modes["outputs/d"] == 0o755
    for name in ("record.json", "stdout.log", "stderr.log"):
        assert modes[name] & 0o222 == 0, name
    assert not any(mode & stat.S_IWOTH for mode in modes.values()), modes
    assert record.outputs is not None
    assert sorted(record.outputs.privileges_removed) == [
        "d/: world-writable cleared",
        "d/g: world-writable cleared",
        "f: world-writable cleared",
    ]
    assert project.repro("fsck").code == 0


def test_a_fail_on_match_explains_a_run_that_exited_non_zero(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo 'panic: PIT mode 0x4 is not implemented' >&2; exit 134"],
        fail_on=[{"file": "stderr", "pattern": "^panic:"}],
    )
    project.commit("experiment")

    assert project.repro("run", "exp.yaml").code == 1

    record = only_record(project)
    assert record.status is Status.FAILED
    assert record.exit_code == 134
    assert (record.error or "").startswith("stderr:1 matches fail_on '^panic:'")
