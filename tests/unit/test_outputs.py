"""Comparing two runs' outputs file by file, as verify and diff do."""

from __future__ import annotations

import hashlib
from pathlib import Path

from repro.results.outputs import MetricsRule, compare_outputs, is_nondeterministic, judged_identical
from repro.store.record import OutputEntry, OutputsRecord


def outputs(*entries: OutputEntry) -> OutputsRecord:
    return OutputsRecord(digest="sha256:" + "0" * 64, files=list(entries), total_bytes=0)


def file(path: str, content: str) -> OutputEntry:
    """An output file entry whose digest is that of ``content`` (records hold real digests)."""
    return OutputEntry(path=path, kind="file", size=1, sha256=hashlib.sha256(content.encode()).hexdigest())


def states(comparisons: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {c.path: c.state for c in comparisons}


def test_every_path_of_either_run_is_identical_differs_missing_or_extra() -> None:
    before = outputs(file("same", "1"), file("changed", "2"), file("gone", "3"), OutputEntry(path="d", kind="dir"))
    after = outputs(file("same", "1"), file("changed", "9"), file("new", "4"), OutputEntry(path="d", kind="dir"))
    result = compare_outputs(before, after)
    assert states(result) == {
        "same": "identical",
        "changed": "differs",
        "gone": "missing",
        "new": "extra",
        "d": "identical",
    }
    assert [c.path for c in result] == sorted(c.path for c in result)
    assert not judged_identical(result)


def test_links_compare_by_target_and_never_equal_a_file() -> None:
    before = outputs(OutputEntry(path="l", kind="link", target="a"), OutputEntry(path="m", kind="link", target="a"))
    after = outputs(OutputEntry(path="l", kind="link", target="a"), file("m", "a"))
    assert states(compare_outputs(before, after)) == {"l": "identical", "m": "differs"}


def test_nondeterministic_files_are_listed_but_not_judged() -> None:
    before = outputs(file("log/host.txt", "1"), file("when", "2"), file("result", "3"))
    after = outputs(file("log/host.txt", "8"), file("when", "9"), file("result", "3"))
    result = compare_outputs(before, after, ["when", "log/*.txt"])
    assert states(result) == {"log/host.txt": "not judged", "when": "not judged", "result": "identical"}
    assert judged_identical(result)


def test_a_glob_without_a_slash_matches_names_in_any_folder() -> None:
    assert is_nondeterministic("a/b/timing.txt", ["timing.txt"])
    assert not is_nondeterministic("a/b/timing.txt", ["a/timing.txt"])
    assert is_nondeterministic("a/b/timing.txt", ["a/*/timing.txt"])


def test_a_metrics_file_that_differs_only_in_ignored_metrics_is_identical(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "m.json").write_text('{"ipc": 1.5, "hostSeconds": 3.2}')
    (tmp_path / "b" / "m.json").write_text('{"ipc": 1.5, "hostSeconds": 4.7}')
    rule = MetricsRule("m.json", "json", ("host*",), tmp_path / "a", tmp_path / "b")
    (result,) = compare_outputs(outputs(file("m.json", "1")), outputs(file("m.json", "2")), (), rule)
    assert result.state == "identical"
    assert result.note == "same metrics; not judged: host*"
    (tmp_path / "b" / "m.json").write_text('{"ipc": 2.0, "hostSeconds": 4.7}')
    (result,) = compare_outputs(outputs(file("m.json", "1")), outputs(file("m.json", "3")), (), rule)
    assert (result.state, result.note) == ("differs", "metrics differ: ipc")


def test_a_run_without_outputs_misses_every_file() -> None:
    assert states(compare_outputs(outputs(file("x", "1")), None)) == {"x": "missing"}
