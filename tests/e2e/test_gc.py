"""repro gc: leftovers go, and an image a record needs stays."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import docker
import pytest

from repro.manifest.load import load_manifest
from repro.plan import build_plan, load_plan
from repro.runner import labels
from repro.store import Store
from repro.store.leases import plan_in_use
from tests.conftest import Image, Project

pytestmark = pytest.mark.docker


def repro_built_image(client: docker.DockerClient, busybox: Image, content: str, store: Path) -> str:
    """A dangling image carrying repro's build labels (as `repro build` leaves an old one)."""
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "content.txt").write_text(content)
        (Path(context) / "Dockerfile").write_text(
            f'FROM {busybox.id}\nLABEL {labels.BUILT}=1 {labels.STORE}="{store}"\nCOPY content.txt /content.txt\n'
        )
        image, _ = client.images.build(path=context, rm=True)
    return str(image.id)


def test_gc_removes_leftovers_but_never_a_pinned_image(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    pinned = repro_built_image(docker_client, busybox, f"pinned {uuid.uuid4()}\n", project.store)
    unpinned = repro_built_image(docker_client, busybox, f"unpinned {uuid.uuid4()}\n", project.store)
    elsewhere = repro_built_image(docker_client, busybox, f"another store's {uuid.uuid4()}\n", project.root / "other")
    project.manifest(image={"name": "repro-test/pinned", "id": pinned})
    assert project.repro("run", "exp.yaml").code == 0
    # A container left behind by a repro killed with SIGKILL: stopped, with repro's labels.
    leftover = docker_client.containers.create(
        busybox.id, ["true"], labels={"org.repro.run": "killed-run", "org.repro.store": str(project.store)}
    )

    dry = project.repro("gc", "--dry-run")
    assert dry.code == 0, dry.err
    assert f"would remove container {leftover.id[:12]}" in dry.out
    assert f"would remove image {unpinned[:19]}" in dry.out
    assert pinned[:19] not in dry.out
    docker_client.containers.get(leftover.id)  # a dry run removes nothing
    docker_client.images.get(unpinned)

    done = project.repro("gc")
    assert done.code == 0, done.err
    assert "a record or the archive needs it" in done.err
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(leftover.id)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(unpinned)
    assert docker_client.images.get(pinned).id == pinned, "the pinned image stays"
    assert docker_client.images.get(elsewhere).id == elsewhere, "another store's image is not this gc's to judge"
    # Images that are not repro's are never touched (the busybox image is tagged anyway).
    assert docker_client.images.get(busybox.id)


def test_gc_removes_plans_no_record_names_but_never_one_in_use(docker_project: Project) -> None:
    project = docker_project
    project.manifest(sweep={"n": [1, 2]})
    project.commit("the experiment")
    project.write("notes.txt", "uncommitted, recorded as a diff\n")
    assert project.repro("run", "exp.yaml").code == 0
    store = Store(project.store)
    (named,) = {record.plan for record in store.records()}
    assert named is not None

    def left_plan(note: str) -> Path:
        """A plan nobody ran (a prepared run whose driver never started), with its own diff."""
        project.write("notes.txt", note)
        plan = build_plan(load_manifest(project.root / "exp.yaml"), store, force=True)
        return plan.write(store)

    orphan, in_use, young = left_plan("orphan\n"), left_plan("in use\n"), left_plan("young\n")
    orphan_blob = store.layout.blob(str(load_plan(orphan).diff_blob))
    run_blob = store.layout.blob(str(load_plan(store.layout.plan(named)).diff_blob))
    an_hour_ago = time.time() - 3600
    for path in (store.layout.plan(named), orphan, in_use, orphan_blob, run_blob):
        os.utime(path, (an_hour_ago, an_hour_ago))

    with plan_in_use(in_use):
        dry = project.repro("gc", "--dry-run")
        assert dry.code == 0, dry.err
        assert f"would remove plan {orphan.stem}" in dry.out
        assert f"would remove diff blob {orphan_blob.name[:12]}" in dry.out
        assert orphan.exists()
        done = project.repro("gc")
        assert done.code == 0, done.err
    for kept in (named, in_use.stem, young.stem, run_blob.name):
        assert kept not in done.out
    assert f"removed plan {orphan.stem}" in done.out
    assert not orphan.exists()
    assert not orphan_blob.exists()
    assert store.layout.plan(named).exists(), "a record names it"
    assert in_use.exists(), "a driver holds it"
    assert young.exists(), "just written: its driver may not have locked it yet"
    assert run_blob.exists(), "linked into the runs' folders"
    verified = project.repro("verify", store.runs()[0].id)
    assert verified.code == 0, verified.err
