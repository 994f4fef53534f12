"""The store never lies: a full disk, a lost or unreadable index, files changed after a run,
privileges a container tries to hand to the host, and the store option itself."""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from repro.store import Status, Store
from tests.conftest import Project, make_repo, wait_for
from tests.e2e.conftest import gated, open_gate, repro_containers, running_containers, stop

pytestmark = pytest.mark.docker


def runs(project: Project) -> list[Path]:
    return sorted((project.store / "runs").iterdir())


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_disk(tmp_path: Path, docker_project: Project) -> Iterator[Project]:
    """The project, moved onto an 8 MB tmpfs of its own (the tests run as root, as CI does)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        root = mount / "project"
        make_repo(root)
        project = Project(root=root, image=docker_project.image)
        project.write("README", "x\n")
        project.commit("initial")
        yield project
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_point_that_fills_the_disk_ends_in_a_failed_record_that_says_so(
    small_disk: Project, docker_client: docker.DockerClient
) -> None:
    project = small_disk
    project.manifest("ok.yaml", name="ok", command=["sh", "-c", "echo fine > /out/fine; echo done"])
    project.manifest(
        "fill.yaml", name="fill", command=["sh", "-c", "echo start; yes line | head -c 20000000 > /out/big"]
    )
    project.commit("experiments")
    assert project.repro("run", "ok.yaml").code == 0
    (earlier,) = runs(project)
    before = tree_bytes(earlier)

    result = project.repro("run", "fill.yaml")

    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    store = Store(project.store)
    (latest,) = [store.load(p.name) for p in runs(project) if p != earlier]
    assert latest.status is Status.FAILED
    assert "no space left on device" in (latest.error or "").lower()
    assert latest.ended_at is not None
    assert tree_bytes(earlier) == before, "earlier records, logs and outputs are untouched"
    assert {row.name for row in store.runs()} == {"ok", "fill"}, "the index holds both"
    assert repro_containers(docker_client, project.store) == []


def test_reindex_on_a_full_disk_keeps_the_old_index(small_disk: Project) -> None:
    project = small_disk
    project.manifest(command=["sh", "-c", "echo hi > /out/hi"])
    assert project.repro("run", "exp.yaml").code == 0
    index = project.store / "index.sqlite"
    filler = project.root.parent / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: no last flush to fail at close
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    before = index.read_bytes()

    result = project.repro("reindex")

    assert result.code == 3
    (line,) = result.err.strip().splitlines()
    assert "the old index is untouched" in line
    assert index.read_bytes() == before
    assert not [p for p in project.store.iterdir() if p.name.endswith(".new")], "no half-built index is left"
    filler.unlink()
    listed = project.repro("log", "--json")
    assert listed.code == 0
    assert len(listed.json) == 1


def test_a_lost_index_is_rebuilt_from_the_records_and_nothing_runs_again(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n"], sweep={"n": [1, 2]})
    assert project.repro("run", "exp.yaml").code == 0
    (project.store / "index.sqlite").unlink()

    listed = project.repro("log")

    assert listed.code == 0
    assert len(listed.out.strip().splitlines()) == 3
    (note,) = listed.err.strip().splitlines()
    assert note == f"repro: note: the index of {project.store} was missing; rebuilt it from 2 records"
    (project.store / "index.sqlite").write_bytes(b"not a database at all")
    again = project.repro("run", "exp.yaml")
    assert again.code == 0
    assert "unreadable" in again.err
    assert "2 already succeeded" in again.err
    assert len(runs(project)) == 2, "the succeeded points were not run again"


def test_the_store_option_takes_a_store_an_empty_folder_or_a_new_path(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    for given, reason in ((a_file, "not a folder"), (foreign, "neither empty nor a repro store")):
        for command in (("run", "exp.yaml"), ("log",)):
            result = project.repro("--store", str(given), *command)
            assert result.code == 2, (given, command, result.err)
            (line,) = result.err.strip().splitlines()
            assert reason in line
    assert (foreign / "cat.jpg").read_bytes() == b"meow"
    assert sorted(p.name for p in foreign.iterdir()) == ["cat.jpg"]
    fresh = tmp_path / "new-store"
    assert project.repro("--store", str(fresh), "run", "exp.yaml").code == 0
    assert (fresh / "store.json").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert project.repro("--store", str(empty), "run", "exp.yaml").code == 0


def test_fsck_names_every_file_that_is_not_as_recorded(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo a > /out/a; echo b > /out/b; echo out; echo err >&2"])
    project.write("dirty.txt", "uncommitted\n")  # the run keeps a git.diff
    assert project.repro("run", "exp.yaml").code == 0
    clean = project.repro("fsck")
    assert clean.code == 0, clean.out + clean.err
    assert "every file matches its record" in clean.err
    (run,) = runs(project)
    (run / "outputs" / "a").write_text("tampered\n")
    (run / "outputs" / "b").unlink()
    (run / "outputs" / "planted").write_text("x\n")
    (run / "stderr.log").write_text("rewritten\n")
    with (run / "git.diff").open("a") as handle:
        handle.write("+ a line nobody ran\n")

    result = project.repro("fsck", "--json")

    assert result.code == 1
    problems = {Path(p["path"]).name: p["problem"] for p in result.json}
    assert problems["a"].startswith("differs: recorded sha256")
    assert problems["b"] == "missing"
    assert problems["planted"] == "not in the record (added after the run)"
    assert problems["stderr.log"].startswith("differs")
    assert problems["git.diff"].startswith("differs")
    assert "stdout.log" not in problems
    one = project.repro("fsck", run.name[:17])
    assert one.code == 1
    assert "planted: not in the record" in one.out


def test_fsck_checks_blobs_and_archived_images_against_their_names(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo a > /out/a"])
    assert project.repro("run", "exp.yaml", "--archive").code == 0
    assert project.repro("fsck").code == 0
    blobs = project.store / "images" / "blobs" / "sha256"
    victim = min(blobs.iterdir(), key=lambda p: p.stat().st_size)
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes() + b"\n")
    result = project.repro("fsck")
    assert result.code == 1
    assert f"{victim.name}: differs from its name" in result.out


def test_verify_does_not_vouch_for_stored_outputs_that_changed(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo a > /out/a"])
    project.commit("experiment")
    assert project.repro("run", "exp.yaml").code == 0
    (run,) = runs(project)
    (run / "outputs" / "a").write_text("edited later\n")

    result = project.repro("verify", run.name, "--json")

    assert result.code == 1
    (verdict,) = result.json
    assert verdict["verdict"] == "corrupt"
    assert verdict["error"].startswith("stored outputs differ from the record: a differs")
    assert verdict["rerun"] is None, "a run whose stored outputs lie is not rerun"
    assert "stored outputs that differ from the record" in result.err


def test_a_setuid_program_a_container_makes_reaches_the_host_without_its_bit(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        user="root",
        command=["sh", "-c", "cp /bin/busybox /out/su; chmod 4755 /out/su; touch /out/g; chmod 2775 /out/g"],
    )
    result = project.repro("run", "exp.yaml")
    assert result.code == 0, result.err
    (run,) = runs(project)
    for name in ("su", "g"):
        mode = (run / "outputs" / name).stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX), name
    record = Store(project.store).load(run.name)
    assert record.outputs is not None
    assert sorted(record.outputs.privileges_removed) == ["g: setgid cleared", "su: setuid cleared"]
    assert (run / "outputs" / "su").stat().st_mode & 0o777 == 0o555, "executable, read-only, no privilege"
    assert project.repro("fsck").code == 0, "the record holds the outputs as they are kept"


def test_another_users_outputs_folder_is_closed_to_others_while_the_point_runs(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(user="1234:1234", command=gated(after="echo made > /out/x"))
    driver = project.spawn("run", "exp.yaml")
    try:
        (container,) = wait_for(lambda: running_containers(docker_client, project.store), 60)
        (run,) = runs(project)
        assert stat.S_IMODE(run.stat().st_mode) == 0o700, "nobody else reaches the world-writable outputs"
        assert stat.S_IMODE((run / "outputs").stat().st_mode) == 0o777
        assert open_gate(docker_client, container.id), "the point waits for the test"
        _, err = driver.communicate(timeout=120)
    finally:
        stop(driver)
    assert driver.returncode == 0, err
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    assert stat.S_IMODE((run / "outputs").stat().st_mode) == 0o755
    assert (run / "outputs" / "x").stat().st_uid == 1234


def test_pack_refuses_an_output_link_that_leaves_the_outputs(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "ln -s /etc/shadow /out/shadow; ln -s ./sub/x /out/ok; mkdir /out/sub"])
    project.commit("experiment")
    assert project.repro("run", "exp.yaml").code == 0
    result = project.repro("pack", "--all", "-o", str(tmp_path / "a.tar"))
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert "output shadow links to /etc/shadow, outside the run's outputs" in line
    assert not (tmp_path / "a.tar").exists()


def test_pack_carries_no_setuid_bits_nor_owners(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo x > /out/x"])
    project.commit("experiment")
    assert project.repro("run", "exp.yaml").code == 0
    (run,) = runs(project)
    (run / "outputs" / "x").chmod(0o4775)  # as a store written by an older repro may hold it
    os.chown(run / "outputs" / "x", 1234, 1234)
    assert project.repro("pack", "--all", "-o", str(tmp_path / "a.tar")).code == 0
    with tarfile.open(tmp_path / "a.tar") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/outputs/x"))
        assert member.mode == 0o755
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert all(not m.mode & 0o7000 for m in tar.getmembers())


def test_report_reads_no_metrics_file_that_leads_out_of_the_outputs(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    secret = tmp_path / "host-secret.json"
    secret.write_text('{"stolen": 42}')
    project.manifest(
        command=["sh", "-c", f"ln -s {secret} /out/m.json"],
        metrics={"file": "m.json", "format": "json"},
    )
    assert project.repro("run", "exp.yaml").code == 0
    report = tmp_path / "r.html"
    result = project.repro("report", "-o", str(report))
    assert result.code == 0, result.err
    page = report.read_text()
    assert "stolen" not in page, "a host file's content never reaches the report"
    from repro.artifact.report import build_report

    store = Store(project.store)
    (row,) = build_report(store, [store.load(p.name) for p in runs(project)])
    assert row.metrics == {}
    assert "leads out of the run's outputs" in (row.metrics_error or "")


def test_the_reserve_is_held_and_taken_back(docker_project: Project) -> None:
    project = docker_project
    project.manifest()
    assert project.repro("run", "exp.yaml").code == 0
    reserve = project.store / "reserve"
    assert reserve.stat().st_size == 1 << 20
    reserve.unlink()
    assert project.repro("run", "exp.yaml", "--force").code == 0
    assert reserve.stat().st_size == 1 << 20, "a new run takes it back when there is room"
