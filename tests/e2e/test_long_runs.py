"""Long runs on a real engine, with real processes and real signals: live logs, `repro ps`,
`--detach`, drivers killed with SIGKILL, two drivers on one store, out-of-memory points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import pytest

from repro.store import Status, Store
from repro.store.record import SCHEMA_VERSION, RunRecord
from tests.conftest import CHECKOUT, Project, wait_for
from tests.e2e.conftest import (
    Output,
    docker_gates_opened,
    gated,
    open_gate,
    repro_containers,
    running_containers,
    stop,
)

pytestmark = pytest.mark.docker

TICKS = gated(
    before="for i in 1 2 3; do echo tick $i; echo err $i >&2; done",
    after="for i in 4 5 6; do echo tick $i; echo err $i >&2; done; echo {n} > /out/n",
)
"""Three ticks, then the point waits until the test opens its gate, then three more."""
NEVER_ENDS = gated(after="echo {n} > /out/n")
"""A point that runs until it is stopped (its gate is never opened)."""


def running(client: docker.DockerClient, project: Project, count: int = 1) -> list[Any]:
    """Wait until ``count`` of the project's containers run; return them."""
    return wait_for(
        lambda: (found := running_containers(client, project.store)) and len(found) >= count and found,
        timeout=60,
    )


def open_gates(client: docker.DockerClient, containers: list[Any]) -> None:
    for container in containers:
        assert open_gate(client, container.id), f"{container.name} ended before its gate was opened"


def records(project: Project) -> list[RunRecord]:
    """The records on disk (a run folder made a moment ago may not hold its record yet)."""
    store = Store(project.store)
    folders = sorted((project.store / "runs").iterdir())
    return [store.load(folder.name) for folder in folders if (folder / "record.json").exists()]


@contextmanager
def container_creations(client: docker.DockerClient, project: Project) -> Iterator[list[str]]:
    """The ids of containers the engine creates for this store while the block runs."""
    before = {c.id for c in repro_containers(client, project.store)}
    since = time.time() - 1  # the engine's clock counts in whole seconds here: the known ones are left out
    created: list[str] = []
    yield created
    until = time.time() + 0.5
    for event in client.events(
        since=since,
        until=until,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"org.repro.store={project.store}"},
    ):
        if event["id"] not in before:
            created.append(event["id"])


def kill_driver(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def test_logs_are_live_and_follow_runs_to_the_end(docker_project: Project, docker_client: docker.DockerClient) -> None:
    project = docker_project
    project.manifest(command=TICKS, params={"n": 1})
    driver = Output(project.spawn("run", "exp.yaml"))
    follower: Output | None = None
    try:
        containers = running(docker_client, project)
        (record,) = records(project)
        wait_for(lambda: b"tick 3" in (project.store / "runs" / record.id / "stdout.log").read_bytes(), 30)
        mid = project.repro("logs", record.id[:17])
        assert mid.code == 0, mid.err
        assert mid.out == "tick 1\ntick 2\ntick 3\n", "mid-run, the log holds what was printed so far"
        follower = Output(project.spawn("logs", "-f", record.id))
        wait_for(lambda: follower is not None and follower.out.count("tick") == 3, 60)
        open_gates(docker_client, containers)
        assert follower.wait() == 0, follower.err
        assert follower.out == "".join(f"tick {i}\n" for i in range(1, 7)), "followed to the end"
        assert Store(project.store).load(record.id).status is Status.SUCCEEDED, "-f returns when the run ends"
        assert driver.wait() == 0, driver.err
    finally:
        for process in (driver, follower):
            if process is not None:
                process.stop()
    assert project.repro("logs", record.id, "-n", "2").out == "tick 5\ntick 6\n"
    assert project.repro("logs", record.id, "--stderr", "-n", "1").out == "err 6\n"
    assert project.repro("logs", record.id, "-f").out.count("tick") == 6, "-f on a finished run prints it and ends"
    unknown = project.repro("logs", "nope")
    assert unknown.code == 2
    assert "no run 'nope'" in unknown.err


def test_ps_lists_running_and_orphaned_points(docker_project: Project, docker_client: docker.DockerClient) -> None:
    project = docker_project
    project.manifest(command=NEVER_ENDS, sweep={"n": [1, 2]})
    driver = project.spawn("run", "exp.yaml", "-j", "2")
    try:
        running(docker_client, project, 2)
        wait_for(lambda: all(r.container.id for r in records(project)), 30)
        listed = project.repro("ps", "--json")
        assert listed.code == 0, listed.err
        points = listed.json
        assert sorted(p["point"] for p in points) == ["n=1", "n=2"]
        for point in points:
            assert point["status"] == "running"
            assert point["driver"]["pid"] == driver.pid
            assert datetime.fromisoformat(point["started_at"]).utcoffset().total_seconds() == 0
            assert len(point["key"]) == 64
            assert point["container"] in {c.id for c in repro_containers(docker_client, project.store)}
        table = project.repro("ps")
        assert table.out.splitlines()[0].split() == [
            "RUN",
            "POINT",
            "STATUS",
            "STARTED",
            "ELAPSED",
            "CONTAINER",
            "DRIVER",
        ]
        kill_driver(driver)
        orphaned = project.repro("ps", "--json").json
        assert [p["status"] for p in orphaned] == ["orphaned", "orphaned"]
        assert "orphaned" in project.repro("ps").out
    finally:
        driver.kill()
        for container in repro_containers(docker_client, project.store):
            container.remove(force=True)

    # With their containers removed by hand, the next ps finishes the orphans' records interrupted.
    after = project.repro("ps", "--json")
    assert after.code == 0, after.err
    assert after.json == []
    finals = records(project)
    assert [r.status for r in finals] == [Status.INTERRUPTED, Status.INTERRUPTED]
    for record in finals:
        assert "died and its container is gone" in (record.error or ""), record.error
    assert repro_containers(docker_client, project.store) == []


@pytest.mark.parametrize(("points", "jobs"), [(1, 1), (2, 2)])
def test_a_killed_drivers_points_are_adopted_not_run_again(
    docker_project: Project, docker_client: docker.DockerClient, points: int, jobs: int
) -> None:
    project = docker_project
    project.manifest(command=TICKS, sweep={"n": list(range(1, points + 1))})
    driver = project.spawn("run", "exp.yaml", "-j", str(jobs))
    containers = running(docker_client, project, points)
    wait_for(lambda: len(records(project)) == points and all(r.container.id for r in records(project)), 30)
    kill_driver(driver)
    assert all(r.status is Status.RUNNING for r in records(project)), "a SIGKILLed driver leaves running records"

    with container_creations(docker_client, project) as created:
        again = Output(project.spawn("run", "exp.yaml", "-j", str(jobs), "--json"))
        try:
            # The new driver marks each orphan adopted before it waits for its container.
            wait_for(lambda: all(r.adopted for r in records(project)), 120)
            open_gates(docker_client, containers)
            assert again.wait() == 0, again.err
        finally:
            again.stop()

    assert created == [], "no point was started a second time"
    assert "adopt" in again.err
    finals = records(project)
    assert len(finals) == points, "one record per point: the orphans', finished"
    for record in finals:
        assert record.status is Status.SUCCEEDED
        assert record.adopted
        outputs = Store(project.store).run_folder(record.id)
        assert (outputs.outputs / "n").read_text() == f"{record.point.params['n']}\n"
        assert outputs.stdout.read_text().count("tick") == 6, "the log's tail came from the engine's copy"
    report = json.loads(again.out)
    assert {r["id"] for r in report["runs"]} == {r.id for r in finals}
    assert all(r["adopted"] for r in report["runs"])
    assert repro_containers(docker_client, project.store) == []


def test_a_follower_started_before_its_driver_died_sees_the_adopted_runs_whole_log(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(command=TICKS, params={"n": 1})
    driver = project.spawn("run", "exp.yaml")
    containers = running(docker_client, project)
    wait_for(lambda: records(project) and records(project)[0].container.id, 30)
    (record,) = records(project)
    wait_for(lambda: b"tick 3" in Store(project.store).run_folder(record.id).stdout.read_bytes(), 30)
    follower = Output(project.spawn("logs", "-f", record.id))
    adopter: Output | None = None
    try:
        wait_for(lambda: follower.out.count("tick") == 3, 60)
        kill_driver(driver)
        adopter = Output(project.spawn("run", "exp.yaml"))
        wait_for(lambda: records(project)[0].adopted, 120)
        open_gates(docker_client, containers)
        assert adopter.wait() == 0, adopter.err
        assert follower.wait() == 0, follower.err
    finally:
        for process in (follower, adopter):
            if process is not None:
                process.stop()
    # The adopter rewrote the log from the engine's copy (a new file): the follower went on in it.
    assert follower.out == "".join(f"tick {i}\n" for i in range(1, 7))


def test_a_container_that_ends_with_no_driver_is_finished_by_the_next_log(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(command=gated(after="echo done; exit 3"))
    driver = project.spawn("run", "exp.yaml")
    (container,) = running(docker_client, project)
    wait_for(lambda: records(project) and records(project)[0].container.id, 30)
    kill_driver(driver)
    open_gates(docker_client, [container])
    container.wait(timeout=60)

    listed = project.repro("log", "--json")

    assert listed.code == 0, listed.err
    (record,) = listed.json
    assert record["status"] == "failed"
    assert record["exit_code"] == 3, "finished from the container's real exit status"
    assert record["adopted"] is True
    assert (project.store / "runs" / record["id"] / "stdout.log").read_text() == "done\n"
    assert repro_containers(docker_client, project.store) == []


def test_an_orphan_whose_container_was_removed_by_hand_is_finished_interrupted(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(command=NEVER_ENDS, params={"n": 1})
    driver = project.spawn("run", "exp.yaml")
    (container,) = running(docker_client, project)
    kill_driver(driver)
    container.remove(force=True)

    listed = project.repro("ps", "--json")

    assert listed.code == 0, listed.err
    assert listed.json == []
    (record,) = records(project)
    assert record.status is Status.INTERRUPTED
    assert "died and its container is gone" in (record.error or "")
    assert f"pid {driver.pid}@" in (record.error or "")


def test_two_runs_of_one_sweep_at_once_run_each_point_once(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(command=NEVER_ENDS, sweep={"n": [1, 2, 3]})
    drivers = [Output(project.spawn("run", "exp.yaml", "-j", "2", "--json")) for _ in range(2)]
    try:
        # Four jobs for three points, and no point can end before the test lets it: one job of
        # one driver finds its point's lease held by the other driver, and says so.
        wait_for(lambda: any("runs elsewhere (pid" in d.err for d in drivers), 120)
        with docker_gates_opened(docker_client, project.store):
            codes = [d.wait() for d in drivers]
    finally:
        for driver in drivers:
            driver.stop()
    (out_1, err_1), (out_2, err_2) = ((d.out, d.err) for d in drivers)

    assert codes == [0, 0], (err_1, err_2)
    finals = records(project)
    assert sorted(r.point.params["n"] for r in finals) == [1, 2, 3], "each point ran once"
    assert all(r.status is Status.SUCCEEDED for r in finals)
    reports = [json.loads(out_1), json.loads(out_2)]
    for report in reports:
        assert {r["id"] for r in report["runs"]} == {r.id for r in finals}, "each reports every point as its own"
    waited = [r for report in reports for r in report["runs"] if r["waited"]]
    assert len(waited) == 3, "what one driver ran, the other waited for"
    assert "runs elsewhere (pid" in err_1 + err_2


def test_two_runs_of_two_manifests_at_once_do_not_wait_for_each_other(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest("a.yaml", name="a", command=gated(after="echo a > /out/x"))
    project.manifest("b.yaml", name="b", command=gated(after="echo b > /out/x"))
    first, second = project.spawn("run", "a.yaml", "--json"), project.spawn("run", "b.yaml", "--json")
    try:
        # Neither point can end before the test lets it: both run at once, or one waits for the other.
        open_gates(docker_client, running(docker_client, project, 2))
        (out_1, err_1), (out_2, err_2) = first.communicate(timeout=120), second.communicate(timeout=120)
    finally:
        stop(first)
        stop(second)
    assert (first.returncode, second.returncode) == (0, 0), (err_1, err_2)
    assert not any(r["waited"] for r in json.loads(out_1)["runs"] + json.loads(out_2)["runs"])
    assert sorted(r.manifest.name for r in records(project)) == ["a", "b"]


def test_detach_returns_at_once_and_the_driver_outlives_its_caller(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(command=gated(after="echo {n} > /out/n"), sweep={"n": [1, 2]})
    caller = subprocess.Popen(
        [sys.executable, "-m", "repro", "run", "exp.yaml", "-j", "2", "--detach", "--json"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a login shell gives
    )
    out, err = caller.communicate(timeout=60)
    assert caller.returncode == 0, err
    detached = json.loads(out)
    assert [q["label"] for q in detached["queued"]] == ["n=1", "n=2"]
    assert "repro ps" in err
    assert "repro logs -f" in err
    assert Store(project.store).runs() == [] or all(r.status is Status.RUNNING for r in records(project)), (
        "it returned before the points ended"
    )
    # The terminal closes: the caller's whole process group gets SIGHUP, then SIGKILL.
    for sig in (signal.SIGHUP, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(caller.pid, sig)
    driver = detached["driver"]["pid"]
    assert Path(f"/proc/{driver}").exists(), "the driver is in a session of its own"
    with docker_gates_opened(docker_client, project.store):  # the points end now, not before
        wait_for(lambda: len(records(project)) == 2 and all(r.status.final for r in records(project)), timeout=120)
    assert all(r.status is Status.SUCCEEDED for r in records(project))
    assert all(r.driver is not None and r.driver.pid == driver for r in records(project))
    # The records are final before the driver says so: its summary is the last thing it writes.
    wait_for(lambda: not Path(f"/proc/{driver}").exists() or "zombie" in _state(driver), timeout=30)
    log = Path(detached["driver"]["log"]).read_text()
    assert "2 points: 2 succeeded" in log


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"


def test_an_oom_killed_point_is_reported_as_out_of_memory(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo allocating >&2; x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived"],
        resources={"memory": "64m"},
    )
    result = project.repro("run", "exp.yaml")
    assert result.code == 1
    (record,) = records(project)
    assert record.status is Status.FAILED
    assert record.oom_killed
    assert record.exit_code == 137
    assert "out of memory" in (record.error or "")
    assert "resources.memory: 64m" in (record.error or "")
    assert "out of memory" in result.err
    assert "| allocating" in result.err, "the failed point's line shows its stderr's last lines"


def test_gc_removes_only_its_own_stores_stopped_containers(
    docker_project: Project, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    project = docker_project
    assert project.image is not None
    other_store = tmp_path / "other" / ".repro"
    ours = docker_client.containers.create(
        project.image.id, ["true"], labels={"org.repro.run": "r-ours", "org.repro.store": str(project.store)}
    )
    theirs = docker_client.containers.create(
        project.image.id, ["true"], labels={"org.repro.run": "r-theirs", "org.repro.store": str(other_store)}
    )
    try:
        project.manifest()
        assert project.repro("run", "exp.yaml").code == 0
        result = project.repro("gc")
        assert result.code == 0, result.err
        remaining = {c.id for c in docker_client.containers.list(all=True)}
        assert ours.id not in remaining
        assert theirs.id in remaining, "another store's container is not this store's to remove"
    finally:
        for container in (ours, theirs):
            with suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_a_schema_1_record_left_running_by_repro_0_1_0_is_finished(fixed_store: Path) -> None:
    import socket

    run = fixed_store / "runs" / "20261128-082149-7bc0ac59" / "record.json"
    data = json.loads(run.read_text())
    data.update(status="running", ended_at=None, duration_seconds=None, outputs=None)
    data["host"]["hostname"] = socket.gethostname()
    run.write_text(json.dumps(data))
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    reindexed = subprocess.run([sys.executable, "-m", "repro", "--store", str(fixed_store), "reindex"], env=env)
    assert reindexed.returncode == 0
    listed = subprocess.run(
        [sys.executable, "-m", "repro", "--store", str(fixed_store), "log", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    record = Store(fixed_store).load("20261128-082149-7bc0ac59")
    assert record.schema_version == SCHEMA_VERSION  # finished by this repro: written in its schema
    assert record.status is Status.INTERRUPTED
    assert "its container is gone" in (record.error or "")
