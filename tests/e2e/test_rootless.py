"""Rootless: the same manifests on Podman, as an unprivileged user (Debian's podman, uidmap,
slirp4netns). repro finds or starts the user's Podman API service and talks to it through the
same code path as to Docker."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

import docker
import pytest

from repro.store import Store
from tests.conftest import Image, Project, wait_for
from tests.e2e.conftest import (
    Output,
    User,
    build_variant,
    gated,
    load_into_podman,
    open_podman_gate,
    podman_containers,
    remove_image,
    stop,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def podman(user: User, *args: str) -> subprocess.CompletedProcess[str]:
    return user.run(["podman", *args], cwd=user.runtime_dir)


@pytest.fixture(scope="session")
def podman_user(
    nonroot_user: User,
    busybox: Image,
    docker_client: docker.DockerClient,
) -> User:
    """The non-root user, with the busybox image in its rootless Podman storage."""
    load_into_podman(nonroot_user, docker_client, busybox.id)
    return nonroot_user


def rootless_repro(user: User, project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return user.run([str(user.repro), "--runtime", "podman", *args], cwd=project.root, timeout=600)


def spawn_repro(user: User, project: Project, *args: str) -> Output:
    return Output(user.spawn([str(user.repro), "--runtime", "podman", *args], project.root))


def running_container(user: User, project: Project) -> str:
    """Wait until the project's (one) container runs in the user's Podman; return its id."""
    (container,) = wait_for(lambda: podman_containers(user, project.store), 120)
    return str(container)


def test_the_core_example_runs_rootless_and_outputs_belong_to_the_user(
    nonroot_project: Project, podman_user: User
) -> None:
    project = nonroot_project
    project.manifest(command=["sh", "-c", "id -u > /out/uid; echo {n} > /out/n"], sweep={"n": [1, 2]})
    podman_user.own(project.root)

    result = rootless_repro(podman_user, project, "run", "exp.yaml", "-j", "2")

    assert result.returncode == 0, result.stderr
    store = Store(project.store)
    records = [store.load(row.id) for row in store.runs()]
    assert len(records) == 2
    for record in records:
        assert record.versions.runtime == "podman"
        assert record.versions.rootless is True
        assert record.container.user == f"{podman_user.uid}:{podman_user.gid}"
        folder = store.run_folder(record.id)
        assert (folder.outputs / "uid").read_text().strip() == str(podman_user.uid)
        for path in [folder.path, *folder.path.rglob("*")]:
            assert (path.stat().st_uid, path.stat().st_gid) == (podman_user.uid, podman_user.gid), path
    leftovers = podman(podman_user, "ps", "--all", "--quiet", "--filter", f"label=org.repro.store={project.store}")
    assert leftovers.stdout.strip() == ""


def test_a_run_recorded_with_docker_as_root_verifies_under_rootless_podman(
    nonroot_project: Project, podman_user: User, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = nonroot_project
    subprocess.run(["chown", "-R", "0:0", str(project.root)], check=True)  # root records it first
    tag = f"repro-test/crossing-{uuid.uuid4().hex[:8]}:1"
    image_id = build_variant(docker_client, busybox, tag, "made with docker\n")
    project.write("data/in.txt", "input\n")
    project.manifest(
        image={"name": tag, "id": image_id},
        command=["sh", "-c", "cat /content.txt /data/in.txt > /out/result.txt"],
        mounts=[{"source": "./data", "target": "/data"}],
    )
    project.commit("recorded by root with docker")
    recorded = project.repro("run", "exp.yaml", "--archive")  # as root, with Docker
    assert recorded.code == 0, recorded.err
    (row,) = Store(project.store).runs()
    remove_image(docker_client, image_id)  # the image only survives in the store's archive
    podman_user.own(project.root)

    result = rootless_repro(podman_user, project, "verify", row.id, "--json")

    assert result.returncode == 0, result.stderr
    (verdict,) = json.loads(result.stdout)
    assert verdict["verdict"] == "reproduced"
    rerun = Store(project.store).load(verdict["rerun"])
    assert rerun.versions.runtime == "podman"
    assert rerun.image.id == image_id, "the archived Docker image kept its ID in Podman"
    assert rerun.point.key == Store(project.store).load(row.id).point.key


def test_ctrl_c_during_a_rootless_run_leaves_no_container(nonroot_project: Project, podman_user: User) -> None:
    project = nonroot_project
    project.manifest(command=gated())  # runs until stopped
    podman_user.own(project.root)
    label = f"label=org.repro.store={project.store}"
    process = podman_user.spawn([str(podman_user.repro), "--runtime", "podman", "run", "exp.yaml"], project.root)
    try:
        running_container(podman_user, project)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        stop(process)
    assert process.returncode == 130, err
    assert podman(podman_user, "ps", "--all", "--quiet", "--filter", label).stdout.strip() == ""
    (row,) = Store(project.store).runs()
    assert row.status.value == "interrupted"


TICKS = gated(
    before="for i in 1 2 3; do echo tick $i; done", after="for i in 4 5 6; do echo tick $i; done; echo {n} > /out/n"
)
"""Three ticks, then the point waits until the test opens its gate, then three more."""


def test_rootless_detach_then_logs_follow_the_point_to_its_end(nonroot_project: Project, podman_user: User) -> None:
    project = nonroot_project
    project.manifest(command=TICKS, params={"n": 1})
    podman_user.own(project.root)

    detached = rootless_repro(podman_user, project, "run", "exp.yaml", "--detach", "--json")

    assert detached.returncode == 0, detached.stderr
    listed = wait_for(
        lambda: json.loads(rootless_repro(podman_user, project, "ps", "--json").stdout or "[]"), timeout=120
    )
    (point,) = listed
    assert point["status"] == "running"
    assert point["driver"]["pid"] == json.loads(detached.stdout)["driver"]["pid"]
    follower = spawn_repro(podman_user, project, "logs", "-f", point["id"])
    try:
        wait_for(lambda: follower.out.count("tick") == 3, 120)  # following: the point waits at its gate
        assert open_podman_gate(podman_user, running_container(podman_user, project))
        assert follower.wait() == 0, follower.err
    finally:
        follower.stop()
    assert follower.out == "".join(f"tick {i}\n" for i in range(1, 7))
    record = Store(project.store).load(point["id"])
    assert record.status.value == "succeeded"
    assert record.versions.runtime == "podman"


def test_rootless_orphan_is_followed_and_adopted_not_run_again(nonroot_project: Project, podman_user: User) -> None:
    project = nonroot_project
    project.manifest(command=TICKS, params={"n": 2})
    podman_user.own(project.root)
    store = Store(project.store)
    label = f"label=org.repro.store={project.store}"
    driver = podman_user.spawn([str(podman_user.repro), "--runtime", "podman", "run", "exp.yaml"], project.root)
    follower = again = None
    try:
        container = running_container(podman_user, project)
        wait_for(lambda: store.runs() and store.load(store.runs()[0].id).container.id, 60)
        driver.send_signal(signal.SIGKILL)
        driver.communicate(timeout=60)
        (orphan,) = json.loads(rootless_repro(podman_user, project, "ps", "--json").stdout)
        assert orphan["status"] == "orphaned"
        follower = spawn_repro(podman_user, project, "logs", "-f", orphan["id"])
        # It follows the engine's log, chosen while the run is still an orphan (an adopted run's
        # log is its file, which the adopter replaces with the engine's copy only at the end).
        wait_for(lambda: follower is not None and follower.out.count("tick") == 3, 120)
        again = spawn_repro(podman_user, project, "run", "exp.yaml", "--json")
        # The point waits at its gate until the second driver has adopted it (its record says so).
        wait_for(lambda: store.load(orphan["id"]).adopted, 120)
        assert open_podman_gate(podman_user, container)
        assert again.wait() == 0, again.err
        assert follower.wait() == 0, follower.err
    finally:
        driver.kill()
        for process in (follower, again):
            if process is not None:
                process.stop()
    (run,) = json.loads(again.out)["runs"]
    assert run["adopted"] is True
    assert "tick 6" in follower.out, "an orphan's log is followed in the engine's copy"
    (row,) = store.runs()
    record = store.load(row.id)
    assert (record.id, record.status.value, record.adopted) == (orphan["id"], "succeeded", True)
    assert (store.run_folder(record.id).outputs / "n").read_text() == "2\n"
    assert store.run_folder(record.id).stdout.read_text().count("tick") == 6
    assert podman(podman_user, "ps", "--all", "--quiet", "--filter", label).stdout.strip() == ""
