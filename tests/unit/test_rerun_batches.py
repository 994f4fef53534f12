"""Which runs are rerun together: one rebuilt tree and one Snakemake invocation per batch."""

from __future__ import annotations

from repro.ops.rerun import rerun_batches
from repro.store.record import GitRecord, InputRecord, RunRecord
from tests.conftest import make_record, run_id_of


def run(label: str, key: str, commit: str = "c1", digest: str = "aa") -> RunRecord:
    """A record of run ``label`` of the point ``key``, at ``commit`` with an input of content
    ``digest`` (short names here, real shapes in the record)."""
    record = make_record(run_id_of(label), key=key * 64)
    return record.model_copy(
        update={
            "git": GitRecord(root="/repo", commit=commit * 20, branch="main", dirty=False, manifest_path="exp.yaml"),
            "inputs": [
                InputRecord(
                    target="/data", source="/repo/data", readonly=True, digest=f"sha256:{digest * 32}", files=1, bytes=2
                )
            ],
        }
    )


def ids(batches: list[list[RunRecord]]) -> list[list[str]]:
    return [[r.id[-1] for r in batch] for batch in batches]


def test_the_points_of_one_sweep_are_one_batch() -> None:
    runs = [run("a", "1"), run("b", "2"), run("c", "3")]
    assert ids(list(rerun_batches(runs))) == [["a", "b", "c"]]


def test_another_commit_or_other_inputs_make_another_batch() -> None:
    runs = [run("a", "1"), run("b", "2", commit="c2"), run("c", "3", digest="bb"), run("d", "4")]
    assert ids(list(rerun_batches(runs))) == [["a", "d"], ["b"], ["c"]]


def test_a_point_given_twice_is_rerun_twice_in_separate_batches() -> None:
    runs = [run("a", "1"), run("b", "1"), run("c", "2")]
    assert ids(list(rerun_batches(runs))) == [["a"], ["b", "c"]]


def test_runs_outside_git_group_by_manifest_path() -> None:
    outside = [make_record(run_id_of("a"), key="1" * 64), make_record(run_id_of("b"), key="2" * 64)]
    elsewhere = make_record(run_id_of("c"), key="3" * 64)
    elsewhere = elsewhere.model_copy(update={"manifest": elsewhere.manifest.model_copy(update={"path": "/y/exp.yaml"})})
    assert ids(list(rerun_batches([*outside, elsewhere]))) == [["a", "b"], ["c"]]
