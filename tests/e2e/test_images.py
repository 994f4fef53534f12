"""The tests' own images are written byte for byte (tests/images.py): loaded anywhere, they
get the ID the writer computed, and they run busybox's applets like a built image."""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest

from tests.conftest import Image
from tests.e2e.conftest import BUSYBOX_TAG, Podman, build_variant, remove_image
from tests.images import BUSYBOX, TEST_LABEL, busybox_image

pytestmark = pytest.mark.docker


def test_the_busybox_image_is_written_the_same_every_time_and_any_engine_loads_it_with_that_id(
    busybox: Image, docker_client: docker.DockerClient, private_podman: Podman, tmp_path: Path
) -> None:
    written = busybox_image(BUSYBOX)
    anew = busybox_image.__wrapped__(BUSYBOX)  # written again, not the session's cached copy
    assert anew.archive(BUSYBOX_TAG) == written.archive(BUSYBOX_TAG)
    assert busybox.id == written.id, "the engine kept the written config: its digest is the ID"
    assert docker_client.images.get(busybox.id).attrs["Created"] == "2026-01-01T00:00:00Z"
    # An engine whose storage never saw the image (a fresh machine's) loads it with the same ID.
    archive = tmp_path / "busybox.tar"
    archive.write_bytes(anew.archive(BUSYBOX_TAG))
    loaded = private_podman.run("load", "--quiet", "--input", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    assert private_podman.image_ids() == {busybox.id}


def test_the_busybox_image_runs_busybox_applets(busybox: Image, docker_client: docker.DockerClient) -> None:
    script = "echo made > /f; cp /f /g; sleep 0.01; cat /g; test -x /bin/awk && echo awk; id -u"
    output = docker_client.containers.run(busybox.id, ["sh", "-c", script], remove=True, network_disabled=True)
    assert output.decode() == "made\nawk\n0\n"
    assert docker_client.images.get(busybox.id).labels == {TEST_LABEL: "1"}


def test_a_variant_has_one_id_however_often_it_is_made_and_holds_its_content(
    busybox: Image, docker_client: docker.DockerClient
) -> None:
    tags = [f"repro-test/variant-{uuid.uuid4().hex[:8]}:1" for _ in range(3)]
    content = f"variant {uuid.uuid4()}\n"
    made: list[str] = []
    try:
        made += [build_variant(docker_client, busybox, tag, content) for tag in tags[:2]]
        made.append(build_variant(docker_client, busybox, tags[2], f"other {content}"))
        assert made[0] == made[1] != made[2]
        output = docker_client.containers.run(tags[1], ["cat", "/content.txt"], remove=True, network_disabled=True)
        assert output.decode() == content
        base = docker_client.images.get(busybox.id).attrs["RootFS"]["Layers"]
        assert docker_client.images.get(made[0]).attrs["RootFS"]["Layers"][:-1] == base, "one layer on busybox's"
    finally:
        for image_id in set(made):
            remove_image(docker_client, image_id)
