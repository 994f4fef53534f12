"""repro gc: leftovers go, and an image a record needs stays."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import docker
import pytest

from repro.runner import labels
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
