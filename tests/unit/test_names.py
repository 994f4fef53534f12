"""The shapes of a store's names (repro.store.names): what may become part of a path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from repro.store.names import (
    is_commit,
    is_digest,
    is_hex64,
    is_plan_id,
    is_run_id,
    safe_relative,
    stored_path_problem,
)
from repro.store.record import RunRecord

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("text", ["20261128-082149-7bc0ac59", "20260101-000000-00000000"])
def test_run_ids_of_the_shape_repro_makes_pass(text: str) -> None:
    assert is_run_id(text)


@pytest.mark.parametrize(
    "text", ["../store", "20261128-082149-7bc0ac5", "20261128-082149-7bc0ac59/x", "20261128-082149-7BC0AC59", ""]
)
def test_anything_else_is_not_a_run_id(text: str) -> None:
    assert not is_run_id(text)


def test_keys_and_digests_are_lower_case_hex_of_64() -> None:
    assert is_hex64("a" * 64)
    assert not is_hex64("../" + "a" * 61)
    assert not is_hex64("A" * 64)
    assert is_digest("sha256:" + "0" * 64)
    assert not is_digest("sha256:" + "0" * 63 + "/")


@pytest.mark.parametrize("text", ["a", "a/b.txt", "m5out/cpt.1/m5.cpt", "x..y"])
def test_relative_paths_that_stay_put_pass(text: str) -> None:
    assert str(safe_relative(text)) == text


@pytest.mark.parametrize("text", ["", "/etc/shadow", "../x", "a/../../b", "a//b", "./a", "a/.", "a\x00b", "a\nb"])
def test_paths_that_leave_or_hide_are_refused(text: str) -> None:
    assert safe_relative(text) is None


@pytest.mark.parametrize("check", [is_run_id, is_hex64, is_digest, is_plan_id, is_commit])
def test_a_trailing_newline_never_passes_for_a_name(check: Callable[[str], bool]) -> None:
    good = {
        is_run_id: "20261128-082149-7bc0ac59",
        is_hex64: "a" * 64,
        is_digest: "sha256:" + "0" * 64,
        is_plan_id: "b" * 64,
        is_commit: "c" * 40,
    }[check]
    assert check(good)
    assert not check(good + "\n"), "`$` alone lets a trailing newline through"
    assert not check(good + "/..")


@pytest.mark.parametrize(
    "text", ["e" * 64, "20261128-082149-7bc0ac59", "pipeline-0123456789abcdef"], ids=["content", "time", "pipeline"]
)
def test_plan_ids_of_this_repro_and_of_older_records_pass(text: str) -> None:
    assert is_plan_id(text)


@pytest.mark.parametrize("text", ["a", "a/b.txt", "name with\nnewline", "\x1b[2J", "é/ü", "x..y"])
def test_output_paths_may_hold_any_name_a_container_gives_inside_the_folder(text: str) -> None:
    assert stored_path_problem(text) is None


@pytest.mark.parametrize(
    "text", ["", "/etc/shadow", "../x", "a/../../b", "a//b", "./a", "a/.", "a/", "a\x00b", "a" * 5000]
)
def test_output_paths_that_leave_their_folder_are_refused(text: str) -> None:
    assert stored_path_problem(text) is not None


RECORDS = sorted((DATA / "store-v1").glob("runs/*/record.json")) + sorted(
    (DATA / "archive-v1" / "store").glob("runs/*/record.json")
)


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.parent.name)
def test_records_of_older_repros_still_pass_every_check(path: Path) -> None:
    record = RunRecord.model_validate_json(path.read_bytes())
    assert record.schema_version in (1, 2)
    data = json.loads(path.read_bytes())
    # Schema 3 added the plan a run belonged to: named by time, or in a pipeline by its declaration.
    for plan in ("20261128-082149-0b7a1c2d", "pipeline-0123456789abcdef", "f" * 64):
        RunRecord.model_validate({**data, "schema_version": 3, "plan": plan, "user": {"name": "a", "uid": 1}})


HOSTILE_FIELDS = {
    ("id",): "../store",
    ("point", "key"): "../runs/20261128-082149-7bc0ac59/record",
    ("plan",): "../../etc/passwd",
    ("reproduces",): "20261128-082149-7bc0ac59\n",
    ("outputs", "folder"): "../../../../../../etc",
    ("outputs", "files", 0, "path"): "../../x",
    ("logs", "stdout"): "/etc/shadow",
    ("logs", "stderr"): "../record.json",
    ("git", "diff"): "/etc/shadow",
    ("git", "commit"): "--upload-pack=touch /tmp/x",
    ("git", "root"): "relative/root",
    ("image", "id"): "sha256:../../x",
    ("inputs", 0, "digest"): "sha256:" + "0" * 63 + "/",
    ("manifest", "sha256"): "x" * 64,
}


@pytest.mark.parametrize("where", list(HOSTILE_FIELDS), ids=lambda w: ".".join(map(str, w)))
def test_a_record_naming_a_way_out_of_the_store_is_not_a_record(where: tuple[str | int, ...]) -> None:
    (dirty,) = [path for path in RECORDS if json.loads(path.read_bytes())["git"]["diff"] == "git.diff"]
    data = json.loads(dirty.read_bytes())
    RunRecord.model_validate(data)
    data["outputs"]["files"] = data["outputs"]["files"] or [{"path": "x", "kind": "dir"}]
    target: Any = data
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = HOSTILE_FIELDS[where]
    with pytest.raises(ValidationError):
        RunRecord.model_validate(data)
