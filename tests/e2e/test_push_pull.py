"""repro push / pull between stores over a real sshd on 127.0.0.1 (Debian's openssh-server,
started here with a key of its own): only what the other side lacks travels, and a pushed run
verifies there with its repository, its input and its image gone from where it ran."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest

from repro.store import Status, Store
from repro.store.store import STORE_FORMAT
from tests.conftest import Image, Project, make_record
from tests.e2e.conftest import Sshd, build_variant, free_port, remove_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_push_then_verify_on_the_other_side_then_pull_back(
    docker_project: Project,
    docker_client: docker.DockerClient,
    busybox: Image,
    sshd: Sshd,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = docker_project
    monkeypatch.setenv("RSYNC_RSH", sshd.rsh)
    tag = f"repro-test/pushed-{uuid.uuid4().hex[:8]}:1"
    image_id = build_variant(docker_client, busybox, tag, "pushed\n")
    project.write("data/in.txt", "input\n")
    project.manifest(
        image={"name": tag, "id": image_id},
        command=["sh", "-c", "cat /content.txt /data/in.txt > /out/result.txt; echo {n} >> /out/result.txt"],
        mounts=[{"source": "./data", "target": "/data"}],
        sweep={"n": [1, 2]},
    )
    project.commit("the experiment")
    assert project.repro("run", "exp.yaml").code == 0
    store = Store(project.store)
    ran = sorted(row.id for row in store.runs())
    # A point still running stays behind: only ended runs travel.
    running = store.new_run()
    store.write_record(make_record(running.run_id, status=Status.RUNNING))
    other = tmp_path / "lab" / "store"
    other.parent.mkdir()

    pushed = project.repro("push", sshd.url(other), "--json")

    assert pushed.code == 0, pushed.err
    report = pushed.json
    assert sorted(report["runs"]) == ran
    assert report["images"] == [image_id], "the image was archived and sent with its runs"
    assert len(report["bundles"]) == 1
    assert len(report["inputs"]) == 1
    assert report["running"] == [running.run_id]
    assert not (other / "runs" / running.run_id).exists()
    assert not (other / "points").exists() or not list((other / "points").iterdir()), "markers are not sent"

    again = project.repro("push", sshd.url(other), "--json")
    assert again.code == 0, again.err
    assert again.json["runs"] == []
    assert again.json["bytes_sent"] < 10_000, f"a no-op push sent {again.json['bytes_sent']} bytes"
    print(f"no-op push: {again.json['bytes_sent']} bytes sent, {again.json['bytes_received']} received")

    # The other side as another machine would have it: no repository, no input, no image.
    project.root.rename(project.root.with_name("gone"))
    remove_image(docker_client, image_id)
    here = Project(root=tmp_path / "elsewhere")
    here.root.mkdir()
    listed = here.repro("--store", str(other), "log", "--json")  # its first command folds the push in
    assert sorted(r["id"] for r in listed.json) == ran
    lab = Store(other)
    assert lab.journal.pending() == []
    assert {json.loads(p.read_text())["run"] for p in lab.layout.points.iterdir()} == set(ran), (
        "the receiving side made its own point markers"
    )
    checked = here.repro("--store", str(other), "fsck")  # pushed inputs and bundles included
    assert checked.code == 0, checked.out + checked.err
    verified = here.repro("--store", str(other), "verify", "--all", "--json")
    assert verified.code == 0, verified.err
    assert sorted(v["run"] for v in verified.json) == ran
    assert {v["verdict"] for v in verified.json} == {"reproduced"}

    pushed_input = next((other / "inputs").iterdir())
    (pushed_input / "in.txt").write_text("tampered\n")
    tampered = here.repro("--store", str(other), "fsck")
    assert tampered.code == 1
    assert f"{pushed_input}: differs from its name" in tampered.out
    (pushed_input / "in.txt").write_text("input\n")

    # And back: a third store pulls the original runs (and the reruns) over SSH.
    third = tmp_path / "third"
    pulled = here.repro("--store", str(third), "pull", sshd.url(other), "--runs", *ran, "--json")
    assert pulled.code == 0, pulled.err
    assert sorted(pulled.json["runs"]) == ran
    assert pulled.json["images"] == [image_id]
    listed = here.repro("--store", str(third), "log", "--json")
    assert sorted(r["id"] for r in listed.json) == ran
    checked = here.repro("--store", str(third), "fsck")
    assert checked.code == 0, checked.out + checked.err
    everything = here.repro("--store", str(third), "pull", sshd.url(other), "--json")
    assert len(everything.json["runs"]) == 2, "the reruns made on the other side"


def test_push_refuses_a_folder_that_is_not_a_store_and_an_unreachable_host(
    docker_project: Project, sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = docker_project
    monkeypatch.setenv("RSYNC_RSH", sshd.rsh)
    project.manifest()
    assert project.repro("run", "exp.yaml").code == 0
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"meow")
    refused = project.repro("push", sshd.url(photos))
    assert refused.code == 2
    (line,) = refused.err.strip().splitlines()
    assert "not a repro store" in line
    assert (photos / "cat.jpg").read_bytes() == b"meow"
    assert sorted(p.name for p in photos.iterdir()) == ["cat.jpg"]
    unreachable = project.repro("push", f"ssh://root@127.0.0.1:{free_port()}/srv/store")
    assert unreachable.code == 3
    (line,) = unreachable.err.strip().splitlines()
    assert line.startswith("repro: error: cannot reach ssh://root@127.0.0.1:")
    nothing = project.repro("pull", sshd.url(tmp_path / "nothing-here"))
    assert nothing.code == 2
    assert "no repro store there" in nothing.err


def test_a_push_into_a_store_of_an_older_format_marks_it_this_repros_first(
    docker_project: Project, tmp_path: Path
) -> None:
    """What a push leaves (runs in staging/) is taken in only by a repro that knows the format: an
    older repro must refuse the store, not miss the pushed runs. The other side needs no repro."""
    project = docker_project
    project.manifest()
    assert project.repro("run", "exp.yaml").code == 0
    older = tmp_path / "older"
    assert project.repro("init", str(older)).code == 0
    marker = older / "store.json"
    facts = json.loads(marker.read_text())
    marker.write_text(json.dumps({**facts, "repro_store": 2}))

    pushed = project.repro("push", str(older), "--json")

    assert pushed.code == 0, pushed.err
    assert json.loads(marker.read_text())["repro_store"] == STORE_FORMAT
    listed = project.repro("--store", str(older), "log", "--json")
    assert [r["id"] for r in listed.json] == pushed.json["runs"]
