"""The image archive outlives repro: it is an OCI image layout that skopeo, podman and umoci
read with the image ID intact, concurrent writers lose nothing, and stores and artifacts written
by repro 0.1.0 still work (upgraded in place). Checked with tools other people wrote."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import docker
import pytest

from repro.store import Store
from repro.store.images import ImageArchive
from tests.conftest import CHECKOUT, Image, Project
from tests.e2e.conftest import Podman, archived_run, build_variant, hex_of, need_tool, remove_image, unique

pytestmark = pytest.mark.docker

OLD = CHECKOUT / "tests" / "data" / "archive-v1"
OLD_IMAGE = "sha256:63d8a9cb9270f0970c8f7ddb157f0b799135bacb64398ca88bf0b4dcb6552e70"
OLD_ROOT = "/tmp/repro-fixture-v1.L4Lw/project"


def skopeo_load(layout: Path, image_id: str, docker_client: docker.DockerClient) -> str:
    """``skopeo copy oci:LAYOUT:<hex> docker-daemon:NAME``; the loaded image's ID (the name is
    removed again, and the image with it)."""
    name = f"repro-test/{unique('skopeo')}:1"
    copied = subprocess.run(
        [need_tool("skopeo"), "copy", "--quiet", f"oci:{layout}:{hex_of(image_id)}", f"docker-daemon:{name}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert copied.returncode == 0, copied.stderr
    loaded = str(docker_client.images.get(name).id)
    docker_client.images.remove(name, force=True)
    return loaded


# -- the archive is an OCI image layout --------------------------------------------------------


def test_the_archive_is_an_oci_layout_that_skopeo_loads_with_the_recorded_image_id(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    run_id, image_id = archived_run(docker_project, docker_client, busybox)
    layout = docker_project.store / "images"
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    refs = {d["annotations"]["org.opencontainers.image.ref.name"]: d for d in index["manifests"]}
    assert hex_of(image_id) in refs
    manifest = json.loads((layout / "blobs" / "sha256" / hex_of(refs[hex_of(image_id)]["digest"])).read_bytes())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": image_id,
        "size": (layout / "blobs" / "sha256" / hex_of(image_id)).stat().st_size,
    }
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar"}
    record = Store(docker_project.store).load(run_id)
    assert record.image.archive == f"images/blobs/sha256/{hex_of(refs[hex_of(image_id)]['digest'])}"

    assert skopeo_load(layout, image_id, docker_client) == image_id


def test_umoci_reads_the_archive_and_unpacks_the_image(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, tmp_path: Path
) -> None:
    _, image_id = archived_run(docker_project, docker_client, busybox)
    umoci = need_tool("umoci")
    layout = docker_project.store / "images"
    listed = subprocess.run([umoci, "ls", "--layout", str(layout)], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert hex_of(image_id) in listed.stdout.split()
    bundle = tmp_path / "bundle"
    unpacked = subprocess.run(
        [umoci, "unpack", "--image", f"{layout}:{hex_of(image_id)}", str(bundle)], capture_output=True, text=True
    )
    assert unpacked.returncode == 0, unpacked.stderr
    assert (bundle / "rootfs" / "content.txt").read_text().startswith("repro-test/oci-")


def test_podman_pulls_the_archived_image_with_the_recorded_image_id(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, private_podman: Podman, tmp_path: Path
) -> None:
    _, image_id = archived_run(docker_project, docker_client, busybox)
    # podman names an image pulled by an ID-like reference after the layout's path, which must
    # then be a valid image name: the store's `.repro` is not, a link to the layout is.
    layout = tmp_path / "layout"
    layout.symlink_to(docker_project.store / "images")
    pulled = private_podman.run("pull", "--quiet", f"oci:{layout}:{hex_of(image_id)}")
    assert pulled.returncode == 0, pulled.stderr
    assert image_id in private_podman.image_ids()


def test_concurrent_archives_into_one_store_lose_no_image(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    images = []
    for number in range(3):
        tag = f"repro-test/{unique(f'concurrent{number}')}:1"
        images.append(build_variant(docker_client, busybox, tag, f"{number}\n"))
        project.manifest(f"e{number}.yaml", name=f"e{number}", image={"name": tag, "id": images[-1]})
    project.commit()
    for number in range(3):
        assert project.repro("run", f"e{number}.yaml").code == 0
    runs = {row.name: row.id for row in Store(project.store).runs()}

    archivers = [project.spawn("archive", runs[f"e{number}"]) for number in range(3)]
    for archiver in archivers:
        _, err = archiver.communicate(timeout=300)
        assert archiver.returncode == 0, err

    archive = ImageArchive(Store(project.store).layout)
    assert {entry.id for entry in archive.entries()} == set(images)
    assert project.repro("fsck").code == 0


# -- what repro 0.1.0 wrote still works --------------------------------------------------------


def test_a_store_archived_by_repro_0_1_0_is_upgraded_in_place_and_verifies(
    docker_project: Project, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(OLD / "store", store)
    legacy = store / "images" / f"{hex_of(OLD_IMAGE)}.json"
    assert legacy.is_file()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(OLD / "project.bundle"), str(clone)], check=True)
    Store(store).write_relocations({OLD_ROOT: str(clone)}, {})
    try:
        verified = docker_project.repro("--store", str(store), "verify", "--all", "--json")

        assert verified.code == 0, verified.err + verified.out
        assert {v["verdict"] for v in verified.json} == {"reproduced"}
        assert "from the store's archive" in verified.err
        assert docker_client.images.get(OLD_IMAGE).id == OLD_IMAGE
    finally:
        docker_client.images.remove(OLD_IMAGE, force=True)
    assert not legacy.exists()
    assert (store / "images" / "oci-layout").is_file()
    assert skopeo_load(store / "images", OLD_IMAGE, docker_client) == OLD_IMAGE
    checked = docker_project.repro("--store", str(store), "fsck")
    assert checked.code == 0, checked.out + checked.err


def test_an_artifact_packed_by_repro_0_1_0_unpacks_and_verifies(
    docker_project: Project, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    evaluation = tmp_path / "evaluation"
    unpacked = Project(root=tmp_path).repro("unpack", str(OLD / "artifact-v1.tar.gz"), "-C", str(evaluation))
    assert unpacked.code == 0, unpacked.err
    try:
        verified = Project(root=evaluation).repro("verify", "--all", "--json")
        assert verified.code == 0, verified.err + verified.out
        assert {v["verdict"] for v in verified.json} == {"reproduced"}
    finally:
        docker_client.images.remove(OLD_IMAGE, force=True)
    assert (evaluation / ".repro" / "images" / "index.json").is_file()


# -- an artifact, without repro ------------------------------------------------------------------


def test_an_artifacts_images_load_without_repro(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, tmp_path: Path
) -> None:
    project = docker_project
    tag = f"repro-test/{unique('artifact')}:1"
    image_id = build_variant(docker_client, busybox, tag, "in the artifact\n")
    project.manifest(image={"name": tag, "id": image_id}, command=["cp", "/content.txt", "/out/"])
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    artifact = tmp_path / "artifact.tar"
    assert project.repro("pack", "--all", "-o", str(artifact)).code == 0
    remove_image(docker_client, image_id)
    folder = tmp_path / "plain"
    with tarfile.open(artifact) as tar:
        tar.extractall(folder)  # noqa: S202 - our own artifact, just written

    layout = folder / "repro-artifact" / "store" / "images"
    assert skopeo_load(layout, image_id, docker_client) == image_id
