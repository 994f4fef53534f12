"""Artifact evaluation as an evaluator meets it: pack, lose everything, unpack, verify."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import docker
import pytest

import repro
from repro.provenance.host import repro_source
from repro.store import Store
from tests.conftest import Image, Project
from tests.e2e.conftest import build_variant, remove_image

pytestmark = pytest.mark.docker


def test_the_evaluator_round_trip_reproduces_every_run(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, tmp_path: Path
) -> None:
    project = docker_project
    tag = f"repro-test/{uuid.uuid4().hex[:10]}:paper"
    image_id = build_variant(docker_client, busybox, tag, "the paper's image\n")
    project.write("data/table.txt", "1 2 3\n")
    project.manifest(
        name="paper-fig3",
        image={"name": tag, "id": image_id},
        command=["sh", "-c", "cat /content.txt /data/table.txt > /out/result.txt; echo {n} >> /out/result.txt"],
        sweep={"n": [1, 2]},
        mounts=[{"source": "./data", "target": "/data"}],
    )
    project.commit("the paper's experiment")
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    artifact = tmp_path / "artifact.tar.zst"  # what the README and the guide suggest: zstd on every core
    packed = project.repro("pack", "--all", "-o", str(artifact))
    assert packed.code == 0, packed.err
    assert "packed 2 runs" in packed.err
    assert artifact.read_bytes()[:4] == b"\x28\xb5\x2f\xfd", "a zstd frame"

    # The evaluator's machine: no image, no original store, no original repository.
    remove_image(docker_client, image_id)
    shutil.move(project.root, tmp_path / "gone")
    evaluation = tmp_path / "evaluation"
    unpacked = Project(root=tmp_path).repro("unpack", str(artifact), "-C", str(evaluation))
    assert unpacked.code == 0, unpacked.err
    assert (evaluation / "EVALUATION.md").is_file()

    verified = Project(root=evaluation).repro("verify", "--all", "--json")

    assert verified.code == 0, verified.err + verified.out
    verdicts = verified.json
    assert len(verdicts) == 2
    assert {v["verdict"] for v in verdicts} == {"reproduced"}
    guide = (evaluation / "EVALUATION.md").read_text()
    assert "repro unpack artifact.tar.zst -C evaluation" in guide
    assert "repro verify --all" in guide
    assert f"pip install repro-runner=={repro.__version__}" in guide, (
        "the name that installs repro, not PyPI's other `repro`"
    )
    commit, _ = repro_source()
    assert commit is not None
    assert f"recorded by repro {repro.__version__} (commit {commit[:12]}" in guide
    assert f"skopeo copy oci:.repro/images:{image_id.removeprefix('sha256:')} docker-daemon:" in guide
    for verdict in verdicts:
        assert verdict["run"] in guide
    assert len(Store(tmp_path / "gone" / ".repro").runs()) == 2, "unpacking touched no other store"


def test_ro_crate_metadata_follows_the_process_run_crate_profile_and_is_deterministic(
    docker_project: Project, tmp_path: Path
) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n.txt"], sweep={"n": [1, 2]}, env={"LC_ALL": "C"})
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    runs = sorted(row.id for row in Store(project.store).runs())

    first = project.repro("export", "--rocrate", *runs)
    second = project.repro("export", "--rocrate", *reversed(runs))
    assert first.code == 0, first.err
    assert first.out == second.out, "the same runs give byte-identical metadata"

    crate = json.loads(first.out)
    assert "https://w3id.org/ro/terms/workflow-run/context" in crate["@context"]
    entities = {entity["@id"]: entity for entity in crate["@graph"]}
    root = entities["./"]
    assert root["conformsTo"] == {"@id": "https://w3id.org/ro/wfrun/process/0.5"}
    newest = max(Store(project.store).load(r).ended_at for r in runs)
    assert root["datePublished"] == newest.isoformat(timespec="milliseconds")
    assert sorted(m["@id"] for m in root["mentions"]) == [f"#run-{r}" for r in runs]
    actions = [e for e in crate["@graph"] if e["@type"] == "CreateAction"]
    assert sorted(a["@id"] for a in actions) == [f"#run-{r}" for r in runs]
    for action in actions:
        assert action["actionStatus"] == "http://schema.org/CompletedActionStatus"
        assert action["startTime"] < action["endTime"]
        assert "echo" in action["description"]
        assert entities[action["instrument"]["@id"]]["@type"] == "SoftwareApplication"
        result = action["result"]
        assert entities[result["@id"]]["@type"] == "File"
        assert result["@id"].startswith("runs/")
        assert (project.store / result["@id"]).is_file(), "without -o, files are named under the store's root"
        assert len(entities[result["@id"]]["sha256"]) == 64
        image = entities[action["containerImage"]["@id"]]
        assert image["@type"] == "ContainerImage"
        assert image["name"] == "repro-test/busybox"
        assert image["tag"] == "1"
        assert "registry" not in image, "a local image came from no registry"
        assert image["identifier"] == project.image.id
        assert image["sha256"] == project.image.id.removeprefix("sha256:")
        names = {entities[e["@id"]]["name"] for e in action["environment"]}
        assert "license" in root  # RO-Crate 1.1 requires it: here an entity saying none is stated
        assert entities[root["license"]["@id"]]["name"] == "No licence stated"
        assert {"LC_ALL", "HOME"} <= names


def test_an_archive_reaching_outside_its_folder_is_refused(project: Project, tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        data = b"owned"
        info = tarfile.TarInfo("repro-artifact/../../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    result = project.repro("unpack", str(evil), "-C", str(tmp_path / "here"))
    assert result.code == 2
    assert "outside the artifact's folder" in result.err
    assert not (tmp_path.parent / "outside.txt").exists()


def test_a_pack_that_fills_the_disk_leaves_nothing_behind(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "head -c 6000000 /dev/urandom > /out/noise"])  # zstd cannot shrink it
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    disk = tmp_path / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)  # tests run as root
    try:
        earlier = disk / "artifact.tar.zst"
        earlier.write_bytes(b"yesterday's artifact")

        packed = project.repro("pack", "--all", "-o", str(earlier))

        assert packed.code == 3, packed.err
        (line,) = packed.err.strip().splitlines()[-1:]
        assert "No space left on device" in line
        assert "nothing was left there" in line
        assert "Traceback" not in packed.err
        assert [path.name for path in disk.iterdir()] == ["artifact.tar.zst"], "no partial artifact is left"
        assert earlier.read_bytes() == b"yesterday's artifact"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
