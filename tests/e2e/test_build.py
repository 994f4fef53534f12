"""repro build: warns about big contexts, records what went in, pins the image."""

from __future__ import annotations

import hashlib
import json
import os

import docker
import pytest

from tests.conftest import Image, Project

pytestmark = pytest.mark.docker


def test_build_lock_pins_the_built_image_and_records_the_build(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    dockerfile = f'FROM {busybox.id}\nCOPY tool.sh /tool.sh\nCMD ["/bin/sh", "/tool.sh"]\n'
    project.write("image/Dockerfile", dockerfile)
    project.write("image/tool.sh", "echo built by repro > /out/made.txt\n")
    project.write("image/big.img", "")
    (project.root / "image" / "big.img").write_bytes(os.urandom(3 * 2**20))
    project.manifest(image="lab/tool:1", command=["sh", "/tool.sh"])

    result = project.repro("build", "image", "-t", "lab/tool:1", "--lock", "exp.yaml", "--context-warn", "1m")

    assert result.code == 0, result.err
    image_id = result.out.strip()
    assert docker_client.images.get("lab/tool:1").id == image_id
    assert "warning: the build context is 3 MB; biggest: big.img (3 MB)" in result.err
    assert ".dockerignore" in result.err
    manifest = (project.root / "exp.yaml").read_text()
    assert f'image: {{name: "lab/tool:1", id: "{image_id}"}}' in manifest
    record = json.loads((project.store / "images" / "builds" / f"{image_id.removeprefix('sha256:')}.json").read_text())
    assert record["dockerfile_sha256"] == hashlib.sha256(dockerfile.encode()).hexdigest()
    assert record["base_images"] == [{"reference": busybox.id, "id": busybox.id, "repo_digests": []}]
    assert record["context_files"] == 3
    assert record["engine"] == docker_client.version()["Version"]
    assert record["runtime"] == "docker"
    labels = docker_client.images.get(image_id).labels
    assert labels["org.repro.built"] == "1"
    assert labels["org.repro.store"] == str(project.store)
    ran = project.repro("run", "exp.yaml")
    assert ran.code == 0, ran.err
    (run,) = (project.store / "runs").iterdir()
    assert (run / "outputs" / "made.txt").read_text() == "built by repro\n"


def test_a_dockerignored_file_is_not_part_of_the_context(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    dockerfile = f"FROM {busybox.id}\nCOPY . /context/\n"
    project.write("image/Dockerfile", dockerfile)
    project.write("image/.dockerignore", "disk.img\n")
    project.write("image/kept.txt", "kept\n")
    (project.root / "image" / "disk.img").write_bytes(b"\0" * (2 * 2**20))

    result = project.repro("build", "image", "-t", "lab/small:1", "--context-warn", "1m")

    assert result.code == 0, result.err
    assert "warning" not in result.err, "the ignored 2 MB file is not counted against --context-warn 1m"
    image_id = result.out.strip()
    record = json.loads((project.store / "images" / "builds" / f"{image_id.removeprefix('sha256:')}.json").read_text())
    assert record["context_files"] == 3, "Dockerfile, .dockerignore and kept.txt"
    assert record["context_bytes"] == len(dockerfile) + len("disk.img\n") + len("kept\n")
    listed = docker_client.containers.run(image_id, ["ls", "-A", "/context"], remove=True, network_disabled=True)
    assert listed.decode().split() == [".dockerignore", "Dockerfile", "kept.txt"], "the engine got no disk.img"
