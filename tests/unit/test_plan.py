"""Plan building: points and keys, what already succeeded, the git state, pinning, the plan file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import repro.workflow
from repro.errors import StoreError
from repro.manifest.load import load_manifest
from repro.manifest.points import parse_sets
from repro.plan import build_plan, load_plan, plan_id
from repro.provenance.git import git_state
from repro.store import Status, Store
from repro.store.record import ImageRecord
from repro.workflow.session import Session, activate
from tests.conftest import Project, make_record


def sweep_manifest(project: Project) -> Path:
    project.write("data/input.txt", "1\n")
    return project.manifest(
        command=["sh", "-c", "echo {size} {policy}"],
        params={"policy": "lru"},
        sweep={"size": [1, 2, 3]},
        mounts=[{"source": "./data", "target": "/data"}],
    )


def test_a_plan_has_one_keyed_point_per_combination_and_names_its_axes(project: Project) -> None:
    manifest = load_manifest(sweep_manifest(project))
    plan = build_plan(manifest, Store(project.store), dry_run=True)
    assert [p.label for p in plan.points] == ["size=1", "size=2", "size=3"]
    assert next(p.params for p in plan.points) == {"policy": "lru", "size": 1}
    assert len({p.key for p in plan.points}) == 3
    assert plan.axes == ["size"]
    (mount,) = plan.inputs
    assert mount.target == "/data"
    assert mount.files == 1
    assert plan.manifest_sha256 == manifest.sha256
    assert plan.image is None, "a plan is pinned to its image only when something runs"


def test_a_dry_run_reads_no_git_state_and_creates_no_store(project: Project) -> None:
    store = Store(project.store)
    plan = build_plan(load_manifest(sweep_manifest(project)), store, dry_run=True)
    assert plan.git is None
    assert not project.store.exists()


def test_points_that_succeeded_are_done_and_only_force_runs_them(project: Project) -> None:
    manifest = load_manifest(sweep_manifest(project))
    store = Store(project.store)
    store.create()
    first = build_plan(manifest, store, dry_run=True)
    done = first.points[1]
    store.layout.run("20261101-000001-aaaaaaaa").mkdir(parents=True)
    store.write_record(make_record("20261101-000001-aaaaaaaa", key=done.key, status=Status.SUCCEEDED))
    plan = build_plan(manifest, store, dry_run=True)
    assert plan.points[1].done_by == "20261101-000001-aaaaaaaa"
    assert [p.label for p in plan.to_run] == ["size=1", "size=3"]
    forced = build_plan(manifest, store, dry_run=True, force=True)
    assert len(forced.to_run) == 3


def test_a_dirty_tree_stores_its_diff_once_and_the_plan_points_at_it(project: Project) -> None:
    path = sweep_manifest(project)
    project.commit("sweep")
    project.write("notes.txt", "uncommitted\n")
    store = Store(project.store)
    plan = build_plan(load_manifest(path), store, parse_sets(["size=1"]))
    assert plan.git is not None
    assert plan.git.dirty
    assert plan.git.commit == project.git("rev-parse", "HEAD")
    assert plan.git.manifest_path == "exp.yaml"
    assert plan.diff_blob is not None
    assert b"uncommitted" in store.layout.blob(plan.diff_blob).read_bytes()


def test_a_plan_is_named_by_its_content_and_any_change_names_another(project: Project) -> None:
    plan = build_plan(load_manifest(sweep_manifest(project)), Store(project.store), dry_run=True)
    assert re.fullmatch(r"[0-9a-f]{64}", plan.id)
    content = json.loads(plan.to_json())
    claimed = content.pop("id")
    assert claimed == plan.id == plan_id(content)
    forced = plan.model_copy(update={"force": True})
    assert forced.id != plan.id, "a copy with other content has another id, never the original's"
    assert plan.model_copy().id == plan.id


def test_pinning_stamps_the_image_and_the_engine_that_jobs_connect_to(project: Project) -> None:
    plan = build_plan(load_manifest(sweep_manifest(project)), Store(project.store), dry_run=True)
    image = ImageRecord(
        reference="lab/x", pin_kind="id", pinned="sha256:" + "1" * 64, id="sha256:" + "1" * 64,
        repo_digests=[], os="linux", architecture="amd64",
    )  # fmt: skip
    engine = SimpleNamespace(host="unix:///run/x.sock", api_version="1.41", runtime="podman")
    pinned = plan.pinned_to(image, engine)  # type: ignore[arg-type]  # only these three are read
    assert (pinned.image, pinned.engine_host, pinned.engine_api, pinned.engine_runtime) == (
        image,
        "unix:///run/x.sock",
        "1.41",
        "podman",
    )
    assert plan.image is None, "plans are values: pinning makes a new one"


def test_a_plan_file_round_trips_under_its_id(project: Project) -> None:
    store = Store(project.store)
    plan = build_plan(load_manifest(sweep_manifest(project)), store, dry_run=True)
    path = plan.write(store)
    assert path == store.layout.plan(plan.id)
    loaded = load_plan(path, plan.id)
    assert loaded == plan
    assert loaded.id == plan.id
    assert plan.write(store) == path, "the same content, the same file"


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data.update(manifest_path="/home/mallory/exp.yaml", manifest_sha256="e" * 64),
        lambda data: data.update(force=True),
        lambda data: data["points"][0].update(params={"size": 99, "policy": "lru"}),
        lambda data: data.update(id="0" * 64),
        lambda data: data.update(plan_version=1),
    ],
    ids=["manifest", "force", "a point", "the id", "the version"],
)
def test_a_plan_file_changed_after_it_was_planned_is_refused_in_one_line(
    project: Project, change: Callable[[dict[str, Any]], None]
) -> None:
    store = Store(project.store)
    plan = build_plan(load_manifest(sweep_manifest(project)), store, dry_run=True)
    path = plan.write(store)
    data = json.loads(path.read_text())
    change(data)
    path.chmod(0o644)
    path.write_text(json.dumps(data))
    with pytest.raises(StoreError) as refused:
        load_plan(path, plan.id)
    assert len(str(refused.value).splitlines()) == 1


def test_a_valid_plan_under_another_name_is_not_the_plan_asked_for(project: Project) -> None:
    store = Store(project.store)
    mine = build_plan(load_manifest(sweep_manifest(project)), store, dry_run=True)
    theirs = mine.model_copy(update={"force": True})
    path = mine.write(store)
    path.write_bytes(theirs.to_json())  # a whole, valid plan: but not the one named
    with pytest.raises(StoreError, match="is not plan"):
        load_plan(path, mine.id)
    with pytest.raises(StoreError, match="is not plan"):
        load_plan(store.layout.plan(theirs.id).parent / f"{mine.id}.json")
    assert mine.write(store) == path
    assert load_plan(path, mine.id) == mine, "writing the plan again replaces a changed file"


def test_snakemake_bookkeeping_at_any_depth_never_makes_a_tree_dirty(project: Project) -> None:
    sweep_manifest(project)
    project.commit("sweep")
    for folder in (".snakemake/metadata", "pipeline/.snakemake/log", "a/b/.snakemake/locks"):
        project.write(f"{folder}/entry", "churn\n")
    state = git_state(project.root)
    assert state is not None
    assert not state.dirty
    assert state.diff == b""
    project.write("pipeline/results/table.csv", "1,2\n")  # a pipeline's own output is a change
    state = git_state(project.root)
    assert state is not None
    assert state.dirty
    assert b"results/table.csv" in state.diff
    assert b".snakemake" not in state.diff


def test_a_snakefile_plans_without_engine_or_store_and_names_the_plan_by_its_state(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sweep_manifest(project)
    project.commit("sweep")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with activate(Session()):
        first = repro.workflow.experiment(path, {})
    project.write(".snakemake/metadata/x", "churn\n")
    with activate(Session()):
        again = repro.workflow.experiment(path, {})
    assert not project.store.exists(), "reading a Snakefile writes nothing into the store"
    assert first.plan_path == again.plan_path, "the same committed state, the same plan"
    assert first.plan_path.name.startswith("pipeline-")
    project.write("notes.txt", "uncommitted\n")
    with activate(Session()):
        changed = repro.workflow.experiment(path, {})
    assert changed.plan_path != first.plan_path, "uncommitted changes name another plan"
    assert not project.store.exists()
