"""push and pull with a store that is not to be trusted, over a real sshd on 127.0.0.1.

Each case is one an attacker (or a damaged disk, or a cut connection) would try: a remote
folder whose record names a run this store has, names no run id can have, a hostile image
index, a tampered blob, outputs that differ from their record, a record that is a symlink, a
transfer killed at each of its stages. What comes in lands in ``staging/`` and becomes visible
only when complete and checked; whatever is refused is one line, exit 3, and the rest comes in.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.conftest import Image, Project, Result, make_repo
from tests.e2e.conftest import Sshd, build_variant, remove_image, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@dataclass(frozen=True)
class Source:
    """A store with three ended runs and their image archived (never changed: tests copy it)."""

    store: Path
    runs: list[str]
    image_id: str


@pytest.fixture(scope="module")
def source(
    docker_client: docker.DockerClient, busybox: Image, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    root = tmp_path_factory.mktemp("source") / "project"
    make_repo(root)
    project = Project(root=root, image=busybox)
    tag = f"repro-test/{unique('hostile')}:1"
    image_id = build_variant(docker_client, busybox, tag, "hostile\n")
    project.write("data/in.txt", "input\n")
    project.manifest(
        image={"name": tag, "id": image_id},
        command=["sh", "-c", "cat /content.txt /data/in.txt > /out/result.txt; echo {n} > /out/n.txt"],
        mounts=[{"source": "./data", "target": "/data"}],
        sweep={"n": [1, 2, 3]},
    )
    project.commit("the experiment")
    ran = project.repro("run", "exp.yaml", "--archive")
    assert ran.code == 0, ran.err
    runs = sorted(p.name for p in (project.store / "runs").iterdir())
    yield Source(store=project.store, runs=runs, image_id=image_id)
    remove_image(docker_client, image_id)


@pytest.fixture
def cli(tmp_path: Path, sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The repro command, run from a folder of no repository, with rsync speaking to the sshd."""
    monkeypatch.setenv("RSYNC_RSH", sshd.rsh)
    folder = tmp_path / "cwd"
    folder.mkdir()
    return Project(root=folder)


def copy_store(store: Path, to: Path) -> Path:
    shutil.copytree(store, to, symlinks=True)
    return to


def record_of(store: Path, folder: str) -> dict:
    return json.loads((store / "runs" / folder / "record.json").read_text())


def plant_record(store: Path, folder: str, record: dict) -> Path:
    """A record.json in ``runs/FOLDER`` of ``store`` (the folder made if missing)."""
    path = store / "runs" / folder / "record.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.chmod(0o644)
    path.write_text(json.dumps(record))
    return path


def listed(cli: Project, store: Path) -> list[str]:
    shown = cli.repro("--store", str(store), "log", "--json")
    assert shown.code == 0, shown.err
    return sorted(row["id"] for row in shown.json)


def fsck_clean(cli: Project, store: Path) -> None:
    checked = cli.repro("--store", str(store), "fsck")
    assert checked.code == 0, checked.out + checked.err


def error_lines(result: Result) -> list[str]:
    assert "Traceback" not in result.err, result.err
    return [line for line in result.err.splitlines() if line.startswith("repro: error:")]


def image_blobs(store: Path, image_id: str) -> list[Path]:
    """The blobs of an archived image, as the archive's index names them: manifest, config, layers."""
    index = json.loads((store / "images" / "index.json").read_text())
    (descriptor,) = [
        d for d in index["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == image_id[7:]
    ]
    blobs = store / "images" / "blobs" / "sha256"
    manifest = json.loads((blobs / descriptor["digest"][7:]).read_text())
    digests = [descriptor["digest"], manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
    return [blobs / digest[7:] for digest in digests]


def indexed_images(store: Path) -> set[str]:
    index = store / "images" / "index.json"
    if not index.is_file():
        return set()
    return {
        d["annotations"].get("org.opencontainers.image.ref.name") for d in json.loads(index.read_text())["manifests"]
    }


# -- a run this store has is never written into -------------------------------------------------------------


def test_pull_never_writes_into_a_run_this_store_has(source: Source, cli: Project, sshd: Sshd, tmp_path: Path) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    local = tmp_path / "local"
    first = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")
    assert first.code == 0, first.err
    assert sorted(first.json["runs"]) == source.runs
    target, edited = source.runs[0], source.runs[1]
    before = sorted(p.relative_to(local) for p in (local / "runs").rglob("*"))
    # A new folder there whose record says it is a run this store has, and files added to that run there.
    planted = "20991231-235959-0badc0de"
    plant_record(remote, planted, record_of(remote, target))
    (remote / "runs" / target / "outputs" / "planted.txt").write_text("planted\n")
    (remote / "runs" / target / "metrics.json").write_text(json.dumps({"values": {"ipc": 99.5}}))
    # The same id there, with a record that differs from this store's.
    changed = record_of(remote, edited)
    changed["notes"] = ["edited on the other side"]
    plant_record(remote, edited, changed)
    own = (local / "runs" / edited / "record.json").read_bytes()

    again = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert again.code == 3, again.err
    assert again.json["runs"] == []
    lines = error_lines(again)
    assert len(lines) == 2, lines
    assert any(planted in line and target in line for line in lines), lines
    assert any(edited in line and "differ" in line for line in lines), lines
    assert sorted(p.relative_to(local) for p in (local / "runs").rglob("*")) == before, "nothing was added to a run"
    assert (local / "runs" / edited / "record.json").read_bytes() == own
    assert listed(cli, local) == source.runs
    fsck_clean(cli, local)


def test_push_never_writes_into_a_run_the_other_store_has(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    local = copy_store(source.store, tmp_path / "local")
    remote = copy_store(source.store, tmp_path / "remote")
    missing, edited = source.runs[0], source.runs[1]
    shutil.rmtree(remote / "runs" / missing)
    changed = record_of(remote, edited)
    changed["notes"] = ["edited on the other side"]
    plant_record(remote, edited, changed)
    theirs = (remote / "runs" / edited / "record.json").read_bytes()

    pushed = cli.repro("--store", str(local), "push", sshd.url(remote), "--json")

    assert pushed.code == 3, pushed.err
    assert pushed.json["runs"] == [missing]
    (line,) = error_lines(pushed)
    assert edited in line
    assert "differ" in line
    assert (remote / "runs" / edited / "record.json").read_bytes() == theirs
    assert missing in listed(cli, remote), "the receiver's next command took the pushed run in"


# -- one bad name skips its run; the rest come ---------------------------------------------------------------


def test_pull_skips_each_bad_remote_name_and_takes_the_rest(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    model = record_of(remote, source.runs[0])
    bad: dict[str, dict] = {
        "20991231-235959-0badc0de\nx": model,  # a folder named with a newline
        "not-a-run": model,
        "20991231-235959-00000001": {**model, "id": "../x"},
        "20991231-235959-00000002": {
            **model,
            "id": "20991231-235959-00000002",
            "git": {**model["git"], "commit": "../../x"},
        },
        "20991231-235959-00000003": {
            **model,
            "id": "20991231-235959-00000003",
            "inputs": [{**model["inputs"][0], "digest": "sha256:../../../x"}],
        },
        "20991231-235959-00000004": {
            **model,
            "id": "20991231-235959-00000004",
            "image": {**model["image"], "id": "sha256:../../x"},
        },
    }
    for folder, record in bad.items():
        plant_record(remote, folder, record)
    (remote / "runs" / "20991231-235959-00000005").symlink_to("/etc")  # a folder that leads out
    local = tmp_path / "local"

    pulled = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert pulled.code == 3, pulled.err
    assert sorted(pulled.json["runs"]) == source.runs
    lines = error_lines(pulled)
    assert len(lines) == len(bad), lines
    assert all("\n" not in line and "\x1b" not in line for line in lines)
    assert listed(cli, local) == source.runs
    fsck_clean(cli, local)
    assert not (tmp_path / "x").exists()
    assert not (local / "x").exists()
    assert sorted(p.name for p in (local / "runs").iterdir()) == source.runs


# -- malformed remote files: one line, exit 3 -----------------------------------------------------------------

HOSTILE_INDEXES = {
    "a list": "[]",
    "not JSON": "not json {",
    "manifests not a list": '{"manifests": 7}',
    "a descriptor without digest": None,  # made from the real index
    "a digest that leads out": None,
}


def _hostile_index(kind: str, real: dict) -> str:
    text = HOSTILE_INDEXES[kind]
    if text is not None:
        return text
    for descriptor in real["manifests"]:
        if kind == "a descriptor without digest":
            del descriptor["digest"]
        else:
            descriptor["digest"] = "sha256:../../../../x"
    return json.dumps(real)


@pytest.mark.parametrize("kind", sorted(HOSTILE_INDEXES))
def test_pull_from_a_hostile_image_index_is_one_line(
    kind: str, source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    index = remote / "images" / "index.json"
    index.write_text(_hostile_index(kind, json.loads(index.read_text())))
    local = tmp_path / "local"

    pulled = cli.repro("--store", str(local), "pull", sshd.url(remote))

    assert pulled.code == 3
    assert len(error_lines(pulled)) == 1, pulled.err
    assert len(pulled.err.strip().splitlines()) == 1, pulled.err
    assert not (local / "runs").is_dir() or not list((local / "runs").iterdir())


@pytest.mark.parametrize("kind", ["a list", "not JSON", "a descriptor without digest"])
def test_push_to_a_hostile_image_index_is_one_line(
    kind: str, source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    local = copy_store(source.store, tmp_path / "local")
    remote = tmp_path / "remote"
    assert cli.repro("init", str(remote)).code == 0
    real = json.loads((source.store / "images" / "index.json").read_text())
    (remote / "images").mkdir()
    (remote / "images" / "index.json").write_text(_hostile_index(kind, real))

    pushed = cli.repro("--store", str(local), "push", sshd.url(remote))

    assert pushed.code == 3
    assert len(error_lines(pushed)) == 1, pushed.err
    assert len(pushed.err.strip().splitlines()) == 1, pushed.err


@pytest.mark.parametrize("command", ["pull", "push"])
def test_an_unreadable_remote_store_json_is_one_line(
    command: str, source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    (remote / "store.json").write_text("[1, 2")
    local = copy_store(source.store, tmp_path / "local") if command == "push" else tmp_path / "local"

    moved = cli.repro("--store", str(local), command, sshd.url(remote))

    assert moved.code == 3
    (line,) = error_lines(moved)
    assert "store.json" in line
    assert len(moved.err.strip().splitlines()) == 1


def test_pull_refuses_a_record_that_is_a_symlink_and_reads_nothing_through_it(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    secret = tmp_path / "secret.json"
    secret.write_text('{"id": "hunter2"}')
    link = remote / "runs" / "20991231-235959-0badc0de" / "record.json"
    link.parent.mkdir()
    link.symlink_to(secret)
    local = tmp_path / "local"

    pulled = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert pulled.code == 3
    (line,) = error_lines(pulled)
    assert "20991231-235959-0badc0de" in line
    assert "hunter2" not in pulled.err + pulled.out
    assert sorted(pulled.json["runs"]) == source.runs


def test_pull_refuses_a_run_whose_outputs_differ_from_its_record(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    tampered = source.runs[2]
    result = remote / "runs" / tampered / "outputs" / "result.txt"
    result.chmod(0o644)
    result.write_text("forged\n")
    local = tmp_path / "local"

    pulled = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert pulled.code == 3
    (line,) = error_lines(pulled)
    assert tampered in line
    assert "result.txt" in line
    assert sorted(pulled.json["runs"]) == source.runs[:2]
    assert listed(cli, local) == source.runs[:2]
    fsck_clean(cli, local)
    assert not (local / "staging" / "runs" / tampered).exists(), "a refused run is not kept half-taken"


# -- a tampered blob holds its runs back; a rerun completes ---------------------------------------------------


def test_a_tampered_image_blob_holds_its_runs_back_until_a_rerun_completes_the_pull(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    layer = image_blobs(remote, source.image_id)[-1]  # the layer only this image has
    original = layer.read_bytes()
    layer.chmod(0o644)
    layer.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    local = tmp_path / "local"

    pulled = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert pulled.code == 3
    (line,) = error_lines(pulled)
    assert layer.name[:12] in line
    assert pulled.json["runs"] == []
    assert listed(cli, local) == []
    assert not (local / "images" / "blobs" / "sha256" / layer.name).exists(), "a bad blob never joins the archive"
    fsck_clean(cli, local)

    layer.write_bytes(original)  # mended there
    again = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert again.code == 0, again.err
    assert sorted(again.json["runs"]) == source.runs
    assert again.json["images"] == [source.image_id]
    assert listed(cli, local) == source.runs
    assert indexed_images(local) >= {source.image_id[7:]}
    fsck_clean(cli, local)


# -- a transfer killed at any stage is completed by running it again -----------------------------------------

CUTTER = textwrap.dedent(
    """\
    import glob, os, signal, sys

    # $RSYNC_RSH for a cut transfer: once a path matching $CUT_WHEN exists, the next connection
    # kills the rsync that asked for it and the repro that started that rsync (SIGKILL: no clean-up).
    if glob.glob(os.environ["CUT_WHEN"]):
        rsync = os.getppid()
        with open(f"/proc/{rsync}/stat") as stat:
            repro = int(stat.read().rsplit(")", 1)[1].split()[1])
        os.kill(repro, signal.SIGKILL)
        os.kill(rsync, signal.SIGKILL)
        sys.exit(255)
    os.execvp(sys.argv[1], sys.argv[1:])
    """
)


def cut(cli: Project, sshd: Sshd, tmp_path: Path, when: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``repro ARGS``, killed at the first connection after a path matching ``when`` exists."""
    cutter = tmp_path / "cutter.py"
    cutter.write_text(CUTTER)
    env = {**os.environ, "RSYNC_RSH": f"{sys.executable} {cutter} {sshd.rsh}", "CUT_WHEN": when}
    process = subprocess.run(
        [sys.executable, "-m", "repro", *args], cwd=cli.root, env=env, capture_output=True, text=True, timeout=600
    )
    assert process.returncode == -signal.SIGKILL, f"not cut at {when}: {process.stderr}"
    return process


PULL_STAGES = {
    "after the records": "staging/runs/*/record.json",
    "after the image's blobs": "staging/images/blobs/sha256/*",
}


@pytest.mark.parametrize("stage", sorted(PULL_STAGES))
def test_a_pull_killed_at_any_stage_shows_nothing_then_completes_on_rerun(
    stage: str, source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    local = tmp_path / "local"
    cut(cli, sshd, tmp_path, str(local / PULL_STAGES[stage]), "--store", str(local), "pull", sshd.url(remote))
    assert listed(cli, local) == [], "nothing half-pulled is visible"
    assert indexed_images(local) == set()
    # What an rsync killed in the middle of a file leaves: its temporary file.
    leftover = local / "staging" / "runs" / source.runs[0] / "outputs" / ".result.txt.Xy12Ab"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_text("half a fi")

    again = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert again.code == 0, again.err
    assert sorted(again.json["runs"]) == source.runs
    assert listed(cli, local) == source.runs
    assert indexed_images(local) >= {source.image_id[7:]}
    fsck_clean(cli, local)
    assert not (local / "runs" / source.runs[0] / "outputs" / leftover.name).exists()


def test_a_push_killed_before_its_journal_entries_is_completed_by_the_next_push(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    local = copy_store(source.store, tmp_path / "local")
    remote = tmp_path / "remote"
    cut(
        cli,
        sshd,
        tmp_path,
        str(remote / "staging" / "runs" / "*" / "record.json"),
        "--store",
        str(local),
        "push",
        sshd.url(remote),
    )
    assert listed(cli, remote) == [], "the receiver shows no half-pushed run"
    assert not (remote / "images" / "index.json").exists()

    again = cli.repro("--store", str(local), "push", sshd.url(remote), "--json")

    assert again.code == 0, again.err
    assert sorted(again.json["runs"]) == source.runs
    assert listed(cli, remote) == source.runs, "the receiver's next command took the push in"
    assert indexed_images(remote) >= {source.image_id[7:]}
    fsck_clean(cli, remote)
    assert not list((remote / "staging" / "runs").iterdir())


def test_a_pushed_run_appears_with_its_image_at_the_receivers_next_command(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    local = copy_store(source.store, tmp_path / "local")
    remote = tmp_path / "remote"
    pushed = cli.repro("--store", str(local), "push", sshd.url(remote), "--json")
    assert pushed.code == 0, pushed.err
    assert not (remote / "runs").is_dir() or not list((remote / "runs").iterdir()), "pushed runs wait in staging/"

    again = cli.repro("--store", str(local), "push", sshd.url(remote), "--json")
    assert again.code == 0
    assert again.json["runs"] == [], "runs waiting there are not sent twice"

    assert listed(cli, remote) == source.runs
    assert indexed_images(remote) >= {source.image_id[7:]}
    fsck_clean(cli, remote)


def test_a_tampered_blob_pushed_waits_and_the_next_push_completes_it(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    local = copy_store(source.store, tmp_path / "local")
    remote = tmp_path / "remote"
    layer = image_blobs(local, source.image_id)[-1]
    original = layer.read_bytes()
    layer.chmod(0o644)
    layer.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # damaged on this side's disk
    pushed = cli.repro("--store", str(local), "push", sshd.url(remote), "--json")
    assert pushed.code == 0, pushed.err

    shown = cli.repro("--store", str(remote), "log", "--json")

    assert shown.code == 0
    assert shown.json == []
    assert any(layer.name[:12] in line for line in shown.err.splitlines()), shown.err
    assert not (remote / "images" / "blobs" / "sha256" / layer.name).exists()

    layer.write_bytes(original)
    again = cli.repro("--store", str(local), "push", sshd.url(remote), "--json")
    assert again.code == 0, again.err
    assert listed(cli, remote) == source.runs
    assert indexed_images(remote) >= {source.image_id[7:]}
    fsck_clean(cli, remote)


def test_a_run_still_running_there_is_left_behind_then_pulled_once_it_ends(
    source: Source, cli: Project, sshd: Sshd, tmp_path: Path
) -> None:
    remote = copy_store(source.store, tmp_path / "remote")
    late = source.runs[0]
    final = (remote / "runs" / late / "record.json").read_text()
    plant_record(remote, late, {**json.loads(final), "status": "running", "ended_at": None})
    local = tmp_path / "local"

    first = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert first.code == 0, first.err
    assert first.json["running"] == [late]
    assert sorted(first.json["runs"]) == source.runs[1:]
    assert not (local / "staging" / "runs" / late).exists(), "nothing of it waits to be taken as it was"

    (remote / "runs" / late / "record.json").write_text(final)  # it ended there
    again = cli.repro("--store", str(local), "pull", sshd.url(remote), "--json")

    assert again.code == 0, again.err
    assert again.json["runs"] == [late]
    assert json.loads((local / "runs" / late / "record.json").read_text())["status"] == "succeeded"
    fsck_clean(cli, local)
