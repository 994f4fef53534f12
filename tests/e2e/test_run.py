"""`repro run` end to end: real engine, real image, real git, real Snakemake, real SQLite."""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

import docker
import pytest

import repro
from repro.store import Status, Store
from tests.conftest import CHECKOUT, Project, wait_for
from tests.e2e.conftest import gated, repro_containers, running_containers, stop

pytestmark = pytest.mark.docker


def only_run(project: Project) -> str:
    (folder,) = (project.store / "runs").iterdir()
    return folder.name


def git_in(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout.strip()


def record_of(project: Project, run_id: str) -> dict:
    return json.loads((project.store / "runs" / run_id / "record.json").read_text())


def test_a_run_records_what_ran_and_its_records_are_true(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.write("data/input.txt", "42\n")
    project.manifest(
        command=[
            "sh",
            "-c",
            "cat /data/input.txt > /out/copy.txt; echo {greeting} > /out/greeting.txt; echo out; echo err >&2",
        ],
        params={"greeting": "hi"},
        mounts=[{"source": "./data", "target": "/data"}],
        env={"LC_ALL": "C", "API_TOKEN": "hunter2"},
    )
    head = project.commit("experiment")

    result = project.repro("run", "exp.yaml")

    assert result.code == 0, result.err
    run_id = only_run(project)
    folder = project.store / "runs" / run_id
    record = record_of(project, run_id)
    assert record["schema_version"] == 5
    # The code that wrote it: this version, and this checkout's commit (repro runs from it here).
    assert record["versions"]["repro"] == repro.__version__
    assert record["versions"]["repro_commit"] == git_in(CHECKOUT, "rev-parse", "HEAD")
    changed = git_in(CHECKOUT, "status", "--porcelain", "--", "repro", "workflows", "pyproject.toml")
    assert record["versions"]["repro_modified"] is bool(changed)
    # Stored files are read-only once the record is final; folders stay writable (rm -rf works).
    for path in [folder / "record.json", folder / "stdout.log", *(folder / "outputs").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, f"{path} is writable"
    assert (folder / "outputs").stat().st_mode & stat.S_IWUSR
    assert record["user"] == {"name": pwd.getpwuid(os.getuid()).pw_name, "uid": os.getuid()}
    assert record["status"] == "succeeded"
    assert record["exit_code"] == 0
    assert record["point"]["params"] == {"greeting": "hi"}
    # The outputs' digests are the files' digests.
    files = {f["path"]: f for f in record["outputs"]["files"]}
    assert set(files) == {"copy.txt", "greeting.txt"}
    for name, entry in files.items():
        data = (folder / "outputs" / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert (folder / "outputs" / "greeting.txt").read_text() == "hi\n"
    # The image is the one pinned, which the engine has (not whatever its tag names now: another
    # checkout tested on the same engine may have moved the tag), and the commit is HEAD.
    assert record["image"]["id"] == project.image.id == docker_client.images.get(project.image.id).id
    assert record["image"]["os"] == "linux"
    assert record["git"]["commit"] == head
    assert record["git"]["dirty"] is False
    assert record["git"]["manifest_path"] == "exp.yaml"
    # The input mount's digest covers its content.
    (data_input,) = record["inputs"]
    assert data_input["target"] == "/data"
    assert data_input["files"] == 1
    # Logs are captured separately, secrets are not in the record, safe defaults are recorded.
    assert (folder / "stdout.log").read_text() == "out\n"
    assert (folder / "stderr.log").read_text() == "err\n"
    assert "hunter2" not in (folder / "record.json").read_text()
    assert record["container"]["env"]["API_TOKEN"].startswith("<secret")
    assert record["container"]["network"] == "none"
    assert record["container"]["no_new_privileges"] is True
    assert record["container"]["privileged"] is False
    assert record["versions"]["snakemake"].startswith("9.")
    assert record["versions"]["engine"]
    assert (record["versions"]["runtime"], record["versions"]["rootless"]) == ("docker", False), "as the engine says"
    assert record["host"]["cpus"] >= 1
    assert record["manifest"]["resolved"]["params"] == {"greeting": "hi"}


def test_a_second_run_runs_nothing_and_force_runs_again(docker_project: Project) -> None:
    project = docker_project
    project.manifest()
    first = project.repro("run", "exp.yaml")
    assert first.code == 0, first.err
    second = project.repro("run", "exp.yaml")
    assert second.code == 0
    assert "1 already succeeded" in second.err
    assert len(list((project.store / "runs").iterdir())) == 1
    forced = project.repro("run", "exp.yaml", "--force")
    assert forced.code == 0, forced.err
    assert len(list((project.store / "runs").iterdir())) == 2


def test_a_sweep_at_j2_gives_one_record_per_point_with_its_parameters(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo {size} {policy} > /out/point.txt"],
        sweep={"size": [1, 2], "policy": ["lru", "fifo"]},
    )
    result = project.repro("run", "exp.yaml", "-j", "2")
    assert result.code == 0, result.err
    store = Store(project.store)
    records = [store.load(row.id) for row in store.runs()]
    assert len(records) == 4
    seen = set()
    for record in records:
        assert record.status is Status.SUCCEEDED
        params = record.point.params
        output = store.run_folder(record.id).outputs / "point.txt"
        assert output.read_text() == f"{params['size']} {params['policy']}\n"
        assert record.point.label == f"size={params['size']},policy={params['policy']}"
        seen.add((params["size"], params["policy"]))
    assert seen == {(1, "lru"), (1, "fifo"), (2, "lru"), (2, "fifo")}
    assert len({r.point.key for r in records}) == 4


def test_a_dirty_tree_is_flagged_and_its_diff_rebuilds_the_tree(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.write("script.sh", "echo committed\n")
    project.manifest()
    commit = project.commit("with script")
    # Whatever the user's git configuration, the stored diff must apply with plain `git apply`.
    project.git("config", "diff.noprefix", "true")
    project.git("config", "diff.mnemonicPrefix", "true")
    project.write("script.sh", "echo changed but not committed\n")
    project.write("notes/new.txt", "untracked file\n")
    (project.root / "notes" / "dangling").symlink_to("../nowhere")

    assert project.repro("run", "exp.yaml").code == 0
    record = record_of(project, only_run(project))
    assert record["git"]["commit"] == commit
    assert record["git"]["dirty"] is True
    diff = project.store / "runs" / record["id"] / "git.diff"
    assert hashlib.sha256(diff.read_bytes()).hexdigest() == record["git"]["diff_sha256"]
    # The commit plus the stored diff is exactly the tree the run saw.
    checkout = tmp_path / "rebuilt"
    project.git("worktree", "add", "--detach", str(checkout), commit)
    subprocess.run(["git", "apply", "--binary", str(diff)], cwd=checkout, check=True)
    assert (checkout / "script.sh").read_text() == "echo changed but not committed\n"
    assert (checkout / "notes" / "new.txt").read_text() == "untracked file\n"
    assert (checkout / "notes" / "dangling").readlink() == Path("../nowhere")


def test_a_failing_point_is_recorded_and_the_exit_code_says_so(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "exit {code}"], sweep={"code": [0, 3]})
    result = project.repro("run", "exp.yaml", "-j", "2")
    assert result.code == 1
    statuses = {r.label: (r.status, r.exit_code) for r in Store(project.store).runs()}
    assert statuses == {"code=0": (Status.SUCCEEDED, 0), "code=3": (Status.FAILED, 3)}
    assert "1 succeeded, 1 failed" in result.err
    # The failed point is not skipped next time; the succeeded one is.
    again = project.repro("run", "exp.yaml")
    assert again.code == 1
    assert len(Store(project.store).runs()) == 3


def test_a_timeout_stops_and_removes_the_container(docker_project: Project) -> None:
    project = docker_project
    # The program waits for a gate nobody opens: only the timeout ends it (else: no file, no end).
    project.manifest(command=gated(after="echo finished > /out/finished"), resources={"timeout": "1s"})
    result = project.repro("run", "exp.yaml")
    assert result.code == 1
    record = record_of(project, only_run(project))
    assert record["status"] == "timeout"
    assert record["exit_code"] == 137, "killed (SIGKILL), not ended by itself"
    assert [f["path"] for f in record["outputs"]["files"]] == []


def test_a_missing_command_fails_the_point_with_the_engines_reason(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["/no/such/program"])
    result = project.repro("run", "exp.yaml")
    assert result.code == 1
    record = record_of(project, only_run(project))
    assert record["status"] == "failed"
    assert "no such file" in (record["error"] or "").lower()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_stops_the_container_and_records_interrupted(
    docker_project: Project, docker_client: docker.DockerClient, sig: signal.Signals
) -> None:
    project = docker_project
    project.manifest(command=gated())  # runs until stopped
    process = project.spawn("run", "exp.yaml")
    try:
        wait_for(lambda: running_containers(docker_client, project.store), 60)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
    finally:
        stop(process)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert repro_containers(docker_client, project.store) == []
    record = record_of(project, only_run(project))
    assert record["status"] == "interrupted"
    assert record["ended_at"] is not None
    # Said as what it is: stopped on purpose, not a failure with exit code 137.
    assert "FAIL" not in err
    assert "137" not in err
    assert "0 succeeded, 1 interrupted" in err


def test_no_engine_is_exit_3_with_one_line(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.manifest()
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = project.repro("run", "exp.yaml")
    assert result.code == 3
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("repro: error: no Docker engine answers at unix:///nonexistent/docker.sock")
    assert "DOCKER_HOST" in lines[0]


def test_an_image_missing_from_the_engine_is_exit_3(docker_project: Project) -> None:
    project = docker_project
    project.manifest(image={"name": "lab/never-built", "id": "sha256:" + "e" * 64})
    result = project.repro("run", "exp.yaml")
    assert result.code == 3
    assert "is not in the engine" in result.err
    assert not (project.store / "runs").exists() or not list((project.store / "runs").iterdir())


def test_log_and_show_json_agree_with_the_record_files(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n"], sweep={"n": [1, 2]})
    assert project.repro("run", "exp.yaml").code == 0
    logged = project.repro("log", "--json")
    assert logged.code == 0
    listed = logged.json
    assert len(listed) == 2
    for entry in listed:
        on_disk = record_of(project, entry["id"])
        assert entry == on_disk
        shown = project.repro("show", entry["id"][:-2], "--json")
        assert shown.code == 0
        assert shown.json == on_disk
    human = project.repro("log")
    assert human.out.splitlines()[0].split() == ["RUN", "STARTED", "NAME", "STATUS", "DURATION", "PARAMS"]
    assert listed[0]["id"] in human.out
    text = project.repro("show", listed[0]["id"])
    assert f"run        {listed[0]['id']}" in text.out


def test_dry_run_lists_points_and_starts_nothing(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n"], sweep={"n": [1, 2, 3]})
    assert project.repro("run", "exp.yaml", "--set", "n=1").code == 0
    plan = project.repro("run", "exp.yaml", "--dry-run")
    assert plan.code == 0
    lines = plan.out.splitlines()
    assert lines[0].split() == ["POINT", "KEY", "ACTION"]
    actions = {line.split()[0]: " ".join(line.split()[2:]) for line in lines[1:]}
    assert actions["n=2"] == "run"
    assert actions["n=3"] == "run"
    assert actions["n=1"].startswith("skip (succeeded in ")
    assert "nothing was started" in plan.err
    assert len(Store(project.store).runs()) == 1


def test_one_source_may_be_mounted_at_two_targets(docker_project: Project) -> None:
    project = docker_project
    project.write("data/x.txt", "x\n")
    project.manifest(
        command=["sh", "-c", "cat /a/x.txt /b/x.txt > /out/both.txt"],
        mounts=[{"source": "./data", "target": "/a"}, {"source": "./data", "target": "/b"}],
    )
    assert project.repro("run", "exp.yaml").code == 0
    run_id = only_run(project)
    assert (project.store / "runs" / run_id / "outputs" / "both.txt").read_text() == "x\nx\n"


def test_a_mount_holding_the_store_is_refused(docker_project: Project) -> None:
    project = docker_project
    project.manifest(mounts=[{"source": ".", "target": "/repo"}])
    result = project.repro("run", "exp.yaml")
    assert result.code == 2
    assert "mounts[0].source . contains repro's store" in result.err


def test_sixteen_points_at_j4_are_all_recorded_and_the_index_agrees(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n.txt"], sweep={"n": list(range(16))})
    result = project.repro("run", "exp.yaml", "-j", "4")
    assert result.code == 0, result.err
    store = Store(project.store)
    on_disk = {r.id: r for r in store.records()}
    indexed = {row.id: row for row in store.runs()}
    assert len(on_disk) == 16
    assert set(on_disk) == set(indexed)
    for run_id, record in on_disk.items():
        row = indexed[run_id]
        assert (row.key, row.status, row.label) == (record.point.key, record.status, record.point.label)
        assert record.status is Status.SUCCEEDED
    assert sorted(r.point.params["n"] for r in on_disk.values()) == list(range(16))
    markers = list((project.store / "points").glob("*.json"))
    assert len(markers) == 16
