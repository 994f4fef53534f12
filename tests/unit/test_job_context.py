"""What repro's Snakemake rules read from the workflow's config, and the mistakes they name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from repro.errors import EXIT_INPUT, UsageError
from repro.manifest.load import load_manifest
from repro.plan import build_plan, load_plan
from repro.store import Store
from repro.workflow.jobs import KEY_PATTERN, context, rules_file
from repro.workflow.session import Session, activate
from tests.conftest import Project


def plan_file(project: Project, name: str, store: Path, **fields: object) -> Path:
    manifest = load_manifest(project.manifest(f"{name}.yaml", name=name, **fields))
    chosen = Store(store)
    return build_plan(manifest, chosen, dry_run=True).write(chosen)


def test_repro_run_config_gives_the_plan_store_and_resources(project: Project) -> None:
    path = plan_file(
        project, "a", project.store, sweep={"n": [1, 2]}, resources={"cpus": 1.5, "memory": "2g", "timeout": "90m"}
    )
    with activate(Session()):
        ctx = context({"repro": {"plan": str(path)}})
        assert ctx.plans == (path,)
        assert ctx.store.root == project.store
        assert ctx.threads == 2
        assert ctx.resources == {"mem_mb": 2048, "runtime": 90}
        assert ctx.marker_pattern == str(project.store / "points" / "{key}.json")
        second = load_plan(path).points[1]
        assert ctx.lookup(second.key) == (path, second)


def test_a_snakefile_with_several_experiments_takes_the_largest_resources(project: Project) -> None:
    small = plan_file(project, "small", project.store, resources={"memory": "1g"})
    large = plan_file(project, "large", project.store, resources={"memory": "3g", "cpus": 4})
    with activate(Session()):
        ctx = context({"repro": {"plans": [str(small), str(large), str(small)]}})
    assert ctx.plans == (small, large)
    assert ctx.resources == {"mem_mb": 3072}
    assert ctx.threads == 4


def test_a_config_without_plans_is_a_usage_error_naming_the_fix() -> None:
    with pytest.raises(UsageError, match=r"repro\.workflow\.experiment\(MANIFEST, config\)") as caught:
        context({})
    assert caught.value.exit_code == EXIT_INPUT


def test_experiments_on_two_stores_are_a_usage_error(project: Project) -> None:
    one = plan_file(project, "one", project.root / "store-1")
    two = plan_file(project, "two", project.root / "store-2")
    with activate(Session()), pytest.raises(UsageError, match="must share a store"):
        context({"repro": {"plans": [str(one), str(two)]}})


def test_an_unknown_point_key_is_a_usage_error(project: Project) -> None:
    path = plan_file(project, "a", project.store)
    with activate(Session()):
        ctx = context({"repro": {"plan": str(path)}})
        with pytest.raises(UsageError, match="no plan of this workflow has a point with key"):
            ctx.lookup("f" * 64)


def test_the_rules_file_is_found_and_its_key_pattern_takes_every_point_key_and_nothing_else(
    project: Project,
) -> None:
    assert rules_file().name == "repro.smk"
    assert "rule repro_point" in rules_file().read_text()
    plan = load_plan(plan_file(project, "a", project.store, sweep={"n": [1, 2, 3]}))
    assert len(plan.points) == 3
    for point in plan.points:  # the wildcard Snakemake matches marker files with
        assert re.fullmatch(KEY_PATTERN, point.key), point.key
    for other in ("a" * 63, "a" * 65, "A" * 64, "g" * 64, "../" + "a" * 61):
        assert not re.fullmatch(KEY_PATTERN, other), other
