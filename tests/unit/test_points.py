"""Points: the grid, --set, labels, and keys that depend on content only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from repro.errors import UsageError
from repro.manifest.model import Manifest
from repro.manifest.points import count_points, expand_points, parse_sets
from tests.conftest import Image, Project

DIGEST = "sha256:" + "c" * 64


def manifest(**fields: Any) -> Manifest:
    data: dict[str, Any] = {
        "version": 1,
        "name": "sweep",
        "image": f"lab/sim@{DIGEST}",
        "command": ["sim", "--size={size}", "--assoc={assoc}"],
        "params": {"assoc": 4},
        "sweep": {"size": [1024, 2048], "policy": ["lru", "random"]},
    }
    data.update(fields)
    return Manifest.model_validate(data)


def test_the_grid_is_the_cartesian_product_in_file_order() -> None:
    points = list(expand_points(manifest()))
    assert [p.label for p in points] == [
        "size=1024,policy=lru",
        "size=1024,policy=random",
        "size=2048,policy=lru",
        "size=2048,policy=random",
    ]
    assert points[1].params == {"assoc": 4, "size": 1024, "policy": "random"}
    assert points[1].command == ("sim", "--size=1024", "--assoc=4")
    assert count_points(manifest()) == 4


def test_set_overrides_a_default_pins_an_axis_or_makes_a_new_axis() -> None:
    model = manifest()
    pinned = list(expand_points(model, parse_sets(["size=4096", "assoc=8"])))
    assert [p.label for p in pinned] == ["policy=lru", "policy=random"]
    assert {p.params["size"] for p in pinned} == {4096}
    assert {p.params["assoc"] for p in pinned} == {8}
    widened = list(expand_points(model, parse_sets(["assoc=[2,4]", "policy=lru"])))
    assert [p.label for p in widened] == [
        "size=1024,assoc=2",
        "size=1024,assoc=4",
        "size=2048,assoc=2",
        "size=2048,assoc=4",
    ]


def test_set_reads_values_as_yaml_scalars() -> None:
    assert parse_sets(["n=5", "x=0.5", "flag=true", "name=lru", "empty="]) == {
        "n": 5,
        "x": 0.5,
        "flag": True,
        "name": "lru",
        "empty": "",
    }


@pytest.mark.parametrize("pair", ["novalue", "=3", "x=[]", "x={a: 1}"])
def test_malformed_set_is_a_usage_error(pair: str) -> None:
    with pytest.raises(UsageError, match="--set"):
        parse_sets([pair])


def test_set_of_an_unknown_parameter_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"--set sise: no such parameter in sweep \(parameters: assoc, policy, size\)"):
        list(expand_points(manifest(), parse_sets(["sise=1"])))


def test_a_manifest_without_sweep_has_one_point_labelled_by_its_params() -> None:
    (point,) = expand_points(manifest(sweep={}, command=["sim", "{assoc}"]))
    assert point.label == "assoc=4"
    assert point.command == ("sim", "4")


def test_booleans_and_literal_braces_in_commands() -> None:
    model = manifest(params={"fast": True}, sweep={}, command=["sh", "-c", "echo ${{HOME}} {fast}"])
    (point,) = expand_points(model)
    assert point.command == ("sh", "-c", "echo ${HOME} true")


def test_keys_are_stable_and_depend_on_content_only() -> None:
    inputs: dict[str, str] = {}
    first = [p.key(manifest(), inputs) for p in expand_points(manifest())]
    # The same content under another manifest name, description and resources: same keys.
    renamed = manifest(name="other", description="moved", resources={"timeout": "1h"})
    assert [p.key(renamed, inputs) for p in expand_points(renamed)] == first
    assert len(set(first)) == 4
    # The key of size=1024,policy=lru as computed when key version 1 was defined. Keys are
    # stored in records and compared across machines and releases: if this changes, every
    # store reruns everything, so a change must come with a new KEY_VERSION.
    assert first[0] == "e20ecdb19af5a2f3a4de1d79a6cbfe3c556c042a8d9f3756b63fa58053f324d3"


@pytest.mark.parametrize(
    "change",
    [
        {"image": "lab/sim@sha256:" + "d" * 64},
        {"command": ["sim", "--size={size}", "--assoc={assoc}", "-v"]},
        {"env": {"OMP_NUM_THREADS": "1"}},
        {"workdir": "/work"},
        {"user": "root"},
        {"network": "bridge"},
        {"outputs": "/results"},
        {"params": {"assoc": 8}},
    ],
)
def test_anything_that_decides_the_result_changes_the_key(change: dict[str, Any]) -> None:
    base = next(iter(expand_points(manifest())))
    changed_manifest = manifest(**change)
    changed = next(iter(expand_points(changed_manifest)))
    assert changed.key(changed_manifest, {}) != base.key(manifest(), {})


def test_input_content_changes_the_key() -> None:
    model = manifest(mounts=[{"source": ".", "target": "/data"}])
    point = next(iter(expand_points(model)))
    assert point.key(model, {"/data": "sha256:1"}) != point.key(model, {"/data": "sha256:2"})


def test_secret_values_do_not_enter_the_key_but_their_source_does() -> None:
    model = manifest(env={"TOKEN": {"from_host": "LAB_TOKEN"}})
    other = manifest(env={"TOKEN": {"from_host": "OTHER_TOKEN"}})
    point = next(iter(expand_points(model)))
    assert point.key(model, {}) != next(iter(expand_points(other))).key(other, {})


def test_exclusions_drop_grid_points_matching_every_given_value() -> None:
    model = manifest(exclude=[{"size": 2048, "policy": "random"}, {"policy": "lru", "size": 1024}])
    assert [p.label for p in expand_points(model)] == ["size=1024,policy=random", "size=2048,policy=lru"]


def test_explicit_points_join_the_grid_without_repeats() -> None:
    model = manifest(points=[{"size": 512, "assoc": 1}, {"size": 1024, "policy": "lru"}])
    points = list(expand_points(model))
    assert [p.label for p in points] == [
        "size=1024,policy=lru,assoc=4",
        "size=1024,policy=random,assoc=4",
        "size=2048,policy=lru,assoc=4",
        "size=2048,policy=random,assoc=4",
        "size=512,policy=lru,assoc=1",
    ]
    assert points[-1].params == {"assoc": 1, "size": 512, "policy": "lru"}
    assert count_points(model) == 5


def test_explicit_points_alone_for_an_irregular_design() -> None:
    model = manifest(
        params={"assoc": 4, "size": 1024, "policy": "lru"},
        sweep={},
        points=[{"size": 512}, {"size": 4096, "policy": "random"}],
    )
    assert [p.label for p in expand_points(model)] == ["size=512,policy=lru", "size=4096,policy=random"]


def test_a_scalar_set_pins_explicit_points_too() -> None:
    model = manifest(sweep={}, params={"assoc": 4, "size": 1, "policy": "lru"}, points=[{"size": 2}, {"size": 3}])
    points = list(expand_points(model, parse_sets(["assoc=16"])))
    assert [p.params["assoc"] for p in points] == [16, 16]


def test_the_same_experiment_has_the_same_keys_in_another_folder(tmp_path: Path) -> None:
    from tests.conftest import Project, make_repo

    keys = []
    for place in ("here", "somewhere/else"):
        root = tmp_path / place
        make_repo(root)
        project = Project(root=root)
        project.write("data/input.txt", "the same input\n")
        project.write(
            "exp.yaml",
            f"version: 1\nname: moved\nimage: lab/sim@{DIGEST}\ncommand: [run, '{{n}}']\n"
            "sweep: {n: [1, 2]}\nmounts:\n  - {source: ./data, target: /data}\n",
        )
        project.commit()
        plan = project.repro("run", "exp.yaml", "--dry-run", "--json")
        assert plan.code == 0, plan.err
        keys.append([point["key"] for point in plan.json["points"]])
    assert keys[0] == keys[1]


FIXED_IMAGE = "sha256:35966d3a8e3cc6e4d6fd61917a83116422ed7c1748d26d1abefae3e7f919760e"
"""The busybox image of the machine that wrote tests/golden/run.json with its keys (and the
records of tests/data/store-v1): with it, the keys below are the ones that file held."""


def test_the_golden_runs_keys_computed_from_fixed_inputs_never_change(project: Project) -> None:
    """tests/golden/run.json leaves its keys out: they follow the test image's ID, so the bytes of
    the machine's busybox. The same experiment pinned to a fixed image ID has fixed keys, so a
    change to how a key is computed (manifest, parameters, the mounts' digests) is still caught
    — and, as keys are compared across machines and releases, must come with a new KEY_VERSION."""
    project.image = Image("repro-test/busybox:1", FIXED_IMAGE)
    project.write("data/input.txt", "42\n")
    project.manifest(  # as tests/e2e/test_golden_verify.py writes it
        command=[
            "sh",
            "-c",
            "cat /data/input.txt > /out/copy.txt; echo {size} > /out/point.txt; echo $RANDOM >/out/when",
        ],
        sweep={"size": [1, 2]},
        mounts=[{"source": "./data", "target": "/data"}],
        nondeterministic=["when"],
    )
    project.commit("experiment")
    plan = project.repro("run", "exp.yaml", "--dry-run", "--json")
    assert plan.code == 0, plan.err
    assert {point["label"]: point["key"] for point in plan.json["points"]} == {
        "size=1": "37b43b75eae9e70b7032aff67110039fbcb168bea7ae99bed269caf5acbbe6d3",
        "size=2": "12075d572761b5401bb90f6703f68c896a3af60ce7daf92f2eaf7e948a63b7d9",
    }
