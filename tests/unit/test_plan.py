"""Plan building: points and keys, what already succeeded, the git state, pinning, the plan file."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

import repro.workflow
from repro.manifest.load import load_manifest
from repro.manifest.points import parse_sets
from repro.plan import build_plan, load_plan, new_plan_id
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
    assert b"uncommitted" in Path(plan.diff_blob).read_bytes()


def test_plan_ids_sort_by_time_and_differ() -> None:
    first, second = new_plan_id(), new_plan_id()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", first)
    assert first != second
    assert first[:8] == f"{datetime.now(UTC):%Y%m%d}"


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


def test_a_plan_file_round_trips_and_write_once_keeps_the_first(project: Project) -> None:
    store = Store(project.store)
    plan = build_plan(load_manifest(sweep_manifest(project)), store, dry_run=True)
    path = plan.write(store)
    assert path == store.layout.plan(plan.id)
    assert load_plan(path) == plan
    other = plan.model_copy(update={"force": True})
    assert other.write(store, once=True) == path
    assert json.loads(path.read_text())["force"] is False
    other.write(store)
    assert load_plan(path).force is True


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
