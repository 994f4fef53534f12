"""Time travel: a result recorded today is reproduced, and proven identical, after tags moved,
images were deleted, registries went away, and the code moved on. Each case ends in `repro
verify` with the verdict the situation calls for. Real engine, real registry, real git."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import docker
import pytest

from repro.store import Store
from repro.store.images import ImageArchive
from tests.conftest import Image, Project
from tests.e2e.conftest import Registry, build_variant, push, remove_image

pytestmark = pytest.mark.docker


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def only_run(project: Project) -> str:
    rows = Store(project.store).runs()
    assert len(rows) == 1, rows
    return rows[0].id


@pytest.fixture
def pushed(docker_client: docker.DockerClient, busybox: Image, registry: Registry) -> tuple[str, str, str]:
    """A fresh image pushed to the loopback registry: (reference with tag, digest, image id)."""
    reference = f"{registry.host}/lab/{unique('tt')}:v1"
    image_id = build_variant(docker_client, busybox, reference, "version one\n")
    digest = push(docker_client, reference)
    return reference, digest, image_id


def test_a_deleted_image_is_pulled_back_by_digest(
    docker_project: Project, docker_client: docker.DockerClient, pushed: tuple[str, str, str]
) -> None:
    project = docker_project
    reference, digest, image_id = pushed
    project.manifest(image=f"{reference}@{digest}", command=["cp", "/content.txt", "/out/content.txt"])
    project.commit("pinned by registry digest")
    assert project.repro("run", "exp.yaml").code == 0
    original = only_run(project)

    remove_image(docker_client, image_id)
    verified = project.repro("verify", original)

    assert verified.code == 0, verified.err
    assert "reproduced" in verified.out
    assert "pulling" in verified.err
    assert docker_client.images.get(image_id).id == image_id


def test_an_archived_image_is_loaded_when_the_registry_is_gone(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, private_registry: Registry
) -> None:
    project = docker_project
    reference = f"{private_registry.host}/lab/{unique('archived')}:v1"
    image_id = build_variant(docker_client, busybox, reference, "kept in the store\n")
    digest = push(docker_client, reference)
    project.manifest(image=f"{reference}@{digest}", command=["cp", "/content.txt", "/out/content.txt"])
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    original = only_run(project)
    archived = project.repro("archive", original)
    assert archived.code == 0, archived.err

    private_registry.stop()
    remove_image(docker_client, image_id)
    verified = project.repro("verify", original, "--json")

    assert verified.code == 0, verified.err
    (verdict,) = verified.json
    assert verdict["verdict"] == "reproduced"
    assert "from the store's archive" in verified.err
    assert docker_client.images.get(image_id).id == image_id
    rerun = Store(project.store).load(verdict["rerun"])
    assert rerun.reproduces == original
    assert rerun.image.id == image_id


def test_a_moved_tag_changes_nothing_the_pin_wins(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image, registry: Registry
) -> None:
    project = docker_project
    reference = f"{registry.host}/lab/{unique('moving')}:v1"
    first = build_variant(docker_client, busybox, reference, "version one\n")
    push(docker_client, reference)
    project.manifest(image=reference, command=["cp", "/content.txt", "/out/content.txt"])
    assert project.repro("lock", "exp.yaml").code == 0
    assert "@sha256:" in (project.root / "exp.yaml").read_text()

    second = build_variant(docker_client, busybox, reference, "version two\n")
    push(docker_client, reference)  # the tag now names other content, in the registry and locally
    remove_image(docker_client, first)
    result = project.repro("run", "exp.yaml")

    assert result.code == 0, result.err
    run_id = only_run(project)
    output = Store(project.store).run_folder(run_id).outputs / "content.txt"
    assert output.read_text() == "version one\n"
    assert Store(project.store).load(run_id).image.id == first != second


def test_a_dirty_tree_reruns_identically_after_the_code_and_inputs_moved_on(
    docker_project: Project,
) -> None:
    project = docker_project
    project.write("data/input.txt", "committed input\n")
    project.write("scale.txt", "2\n")
    project.manifest(
        command=["sh", "-c", "cat /data/input.txt /data/extra.txt /code/scale.txt > /out/result.txt"],
        mounts=[{"source": "./data", "target": "/data"}, {"source": "./code", "target": "/code"}],
    )
    project.write("code/scale.txt", "committed scale\n")
    project.commit("experiment")
    # Uncommitted when the run happens: a tracked change and an untracked input file.
    project.write("code/scale.txt", "uncommitted scale\n")
    project.write("data/extra.txt", "untracked input\n")
    assert project.repro("run", "exp.yaml").code == 0
    original = only_run(project)
    record = Store(project.store).load(original)
    assert record.git is not None
    assert record.git.dirty

    # The code moves on, and the working tree's inputs change.
    project.write("code/scale.txt", "a later scale\n")
    project.write("data/input.txt", "a later input\n")
    project.commit("later work")
    project.write("data/extra.txt", "changed again, uncommitted\n")

    verified = project.repro("verify", original)
    assert verified.code == 0, verified.err + verified.out
    rows = Store(project.store).runs()
    rerun = next(r for r in rows if r.reproduces == original)
    output = Store(project.store).run_folder(rerun.id).outputs / "result.txt"
    assert output.read_text() == "committed input\nuntracked input\nuncommitted scale\n"
    # The user's working tree was not touched.
    assert (project.root / "data" / "extra.txt").read_text() == "changed again, uncommitted\n"
    assert project.git("status", "--porcelain") == "M data/extra.txt"  # committed with the later work
    assert project.git("worktree", "list").count("\n") == 0


def test_random_output_differs_unless_declared_nondeterministic(docker_project: Project) -> None:
    project = docker_project
    command = ["sh", "-c", "echo fixed > /out/fixed.txt; head -c 16 /dev/urandom | od -x > /out/random.txt"]
    project.manifest(command=command)
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    original = only_run(project)

    differs = project.repro("verify", original, "--json")
    assert differs.code == 1
    (verdict,) = differs.json
    assert verdict["verdict"] == "differs"
    states = {f["path"]: f["state"] for f in verdict["files"]}
    assert states == {"fixed.txt": "identical", "random.txt": "differs"}

    project.manifest("timed.yaml", name="timed", command=command, nondeterministic=["random.txt"])
    project.commit("declare the random file")
    # Same experiment, same key: only --force runs it again (nondeterministic globs judge, not decide).
    assert project.repro("run", "timed.yaml", "--force").code == 0
    timed = next(r.id for r in Store(project.store).runs() if r.name == "timed")
    identical = project.repro("verify", timed)
    assert identical.code == 0, identical.out
    assert "not judged" in identical.out
    assert "random.txt" in identical.out


def test_a_tampered_archive_is_refused_and_nothing_is_loaded(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    tag = f"repro-test/{unique('tamper')}:1"
    image_id = build_variant(docker_client, busybox, tag, "do not trust a flipped byte\n")
    project.manifest(image={"name": tag, "id": image_id}, command=["cp", "/content.txt", "/out/"])
    project.commit()
    assert project.repro("run", "exp.yaml", "--archive").code == 0
    original = only_run(project)
    entry = ImageArchive(Store(project.store).layout).get(image_id)
    assert entry is not None
    layer = ImageArchive(Store(project.store).layout).blobs / entry.layers[-1].removeprefix("sha256:")
    layer.chmod(0o644)
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0x01
    layer.write_bytes(bytes(data))
    remove_image(docker_client, image_id)

    refused = project.repro("verify", original)

    assert refused.code == 3
    assert "is corrupt" in refused.out + refused.err
    assert "refusing to load it" in refused.out + refused.err
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)


def test_lock_changes_the_image_value_and_nothing_else(
    project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    text = (
        "# An experiment, written by hand.\n"
        "version:   1          # odd spacing stays\n"
        "name: 'locked'\n"
        "image: repro-test/busybox:1   # the tag we build\n"
        "command:\n"
        "    - sh           # indented more than usual\n"
        '    - "-c"\n'
        "    - |\n"
        "        echo hi > /out/hi\n"
        "\n"
        "params: {  a: 1 }\n"
    )
    path = project.write("exp.yaml", text)
    locked = project.repro("lock", "exp.yaml")
    assert locked.code == 0, locked.err
    after = path.read_text()
    before_lines, after_lines = text.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(before_lines) == len(after_lines)
    changed = [i for i, (b, a) in enumerate(zip(before_lines, after_lines, strict=True)) if b != a]
    assert changed == [3]
    expected = f'image: {{name: "repro-test/busybox:1", id: "{busybox.id}"}}   # the tag we build\n'
    assert after_lines[3] == expected
    assert project.repro("lock", "--check", "exp.yaml").code == 0
    project.write("unpinned.yaml", text)
    check = project.repro("lock", "--check", "exp.yaml", "unpinned.yaml")
    assert check.code == 1
    assert "unpinned unpinned.yaml" in check.err
    assert (project.root / "unpinned.yaml").read_text() == text


def test_a_rerun_whose_repository_is_gone_says_so(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    project.manifest()
    project.commit()
    store = tmp_path / "elsewhere-store"
    assert project.repro("run", "exp.yaml", "--store", str(store)).code == 0
    (row,) = Store(store).runs()
    shutil.move(project.root, tmp_path / "moved")
    project.root = tmp_path / "moved"

    result = project.repro("rerun", row.id, "--store", str(store))

    assert result.code == 3
    (line,) = result.err.strip().splitlines()
    assert f"the repository {tmp_path / 'project'} that run {row.id} came from is gone" in line


def test_a_rerun_whose_outside_input_changed_says_what_changed(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    shared = tmp_path / "shared-data"
    shared.mkdir()
    (shared / "disk.img").write_text("original disk image\n")
    project.manifest(mounts=[{"source": str(shared), "target": "/images"}], command=["ls", "/images"])
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    original = only_run(project)
    (shared / "disk.img").write_text("someone rebuilt the disk image\n")

    result = project.repro("verify", original, "--json")

    assert result.code == 3
    (verdict,) = result.json
    assert verdict["verdict"] == "error"
    assert f"input /images of run {original} changed" in verdict["error"]
    assert str(shared) in verdict["error"]


def test_diff_names_what_differs_between_two_runs(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n.txt; echo same > /out/same.txt"], sweep={"n": [1, 2]})
    project.commit()
    assert project.repro("run", "exp.yaml").code == 0
    first, second = sorted(Store(project.store).runs(), key=lambda r: r.label)
    result = project.repro("diff", first.id, second.id, "--json")
    assert result.code == 1
    report = result.json
    changes = {(c["section"], c["field"]): (c["a"], c["b"]) for c in report["changes"]}
    assert changes[("params", "n")] == (1, 2)
    assert changes[("container", "command")][0] != changes[("container", "command")][1]
    assert ("image", "id") not in changes
    outputs = {o["path"]: o["state"] for o in report["outputs"]}
    assert outputs == {"n.txt": "differs", "same.txt": "identical"}
    text = project.repro("diff", first.id, second.id)
    assert "params:" in text.out
    assert "  n: 1 → 2" in text.out
    assert json.loads(project.repro("diff", first.id, first.id, "--json").out)["outputs"]


def test_a_layer_shared_by_two_archived_images_is_stored_once(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    for name in ("one", "two"):
        tag = f"repro-test/{unique('shared-' + name)}:1"
        image_id = build_variant(docker_client, busybox, tag, f"{name}\n")
        project.manifest(f"{name}.yaml", name=name, image={"name": tag, "id": image_id})
    project.commit()
    for name in ("one", "two"):
        assert project.repro("run", f"{name}.yaml").code == 0
    result = project.repro("archive", "--all", "--json")
    assert result.code == 0, result.err
    report = result.json
    assert len(report["images"]) == 2
    layers = [set(image["layers"]) for image in report["images"]]
    shared = layers[0] & layers[1]
    assert shared, "both images sit on the busybox layers"
    archive = ImageArchive(Store(project.store).layout)
    shared_bytes = sum((archive.blobs / d.removeprefix("sha256:")).stat().st_size for d in shared)
    assert report["disk_bytes"] == report["image_bytes"] - shared_bytes
    # Archiving again adds nothing.
    again = project.repro("archive", "--all", "--json").json
    assert again["added_bytes"] == 0


def test_verify_all_reruns_a_sweep_together_and_reports_each_point(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", "echo {n} > /out/n.txt"], sweep={"n": [1, 2, 3]})
    project.commit()
    assert project.repro("run", "exp.yaml", "-j", "2").code == 0
    plans_before = len(list((project.store / "plans").iterdir()))

    result = project.repro("verify", "--all", "-j", "2", "--json")

    assert result.code == 0, result.err
    verdicts = result.json
    assert sorted(v["point"] for v in verdicts) == ["n=1", "n=2", "n=3"]
    assert {v["verdict"] for v in verdicts} == {"reproduced"}
    assert len(list((project.store / "plans").iterdir())) == plans_before + 1, "one rebuilt tree, one plan"
    reruns = [r for r in Store(project.store).runs() if r.reproduces]
    assert sorted(r.reproduces for r in reruns) == sorted(v["run"] for v in verdicts)
