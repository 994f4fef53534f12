"""What repro prints stays what it printed: help texts and the outputs scripts parse.

The store under ``tests/data/store-v1`` was written by real runs of repro 0.1.0; these tests
read it through the CLI and compare with ``tests/golden/`` (see its README)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from repro.cli.main import build_parser, main
from tests.conftest import check_golden

RUNS = ("20261128-082149-7bc0ac59", "20261128-082149-cbcae64e", "20261128-082150-13c7ae7c")


def command_names() -> list[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]  # the subparsers action
    return sorted(commands.choices)  # type: ignore[arg-type]


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", ["repro", *command_names()])
def test_help_text_is_unchanged(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    args = ["--help"] if command == "repro" else [command, "--help"]
    code, out, _ = cli(*args)
    assert code == 0
    check_golden(f"help/{command}.txt", out)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Tables show local time: the golden files are in UTC."""
    import os
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_log_output_is_unchanged(fixed_store: Path) -> None:
    assert cli("--store", str(fixed_store), "reindex")[0] == 0
    code, out, _ = cli("--store", str(fixed_store), "log", "--json")
    assert code == 0
    check_golden("log.json", out)
    code, out, _ = cli("--store", str(fixed_store), "log")
    assert code == 0
    check_golden("log.txt", out)


@pytest.mark.parametrize("run", RUNS)
def test_show_output_is_unchanged(fixed_store: Path, run: str) -> None:
    assert cli("--store", str(fixed_store), "reindex")[0] == 0
    code, out, _ = cli("--store", str(fixed_store), "show", run[:17], "--json")
    assert code == 0
    check_golden(f"show-{run}.json", out)
    code, out, _ = cli("--store", str(fixed_store), "show", run)
    assert code == 0
    check_golden(f"show-{run}.txt", out.replace(str(fixed_store), "<STORE>"))


def test_diff_output_is_unchanged(fixed_store: Path) -> None:
    assert cli("--store", str(fixed_store), "reindex")[0] == 0
    for a, b, name in ((RUNS[0], RUNS[2], "diff-input-changed"), (RUNS[0], RUNS[1], "diff-points")):
        code, out, _ = cli("--store", str(fixed_store), "diff", a, b, "--json")
        check_golden(f"{name}.json", f"exit {code}\n{out}")
        code, out, _ = cli("--store", str(fixed_store), "diff", a, b)
        check_golden(f"{name}.txt", f"exit {code}\n{out}")


def test_rewriting_a_golden_file_fails_the_test_that_rewrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tests.conftest.GOLDEN", tmp_path)
    (tmp_path / "same.txt").write_text("same\n")
    (tmp_path / "old.txt").write_text("old\n")
    monkeypatch.setenv("REPRO_UPDATE_GOLDEN", "1")

    check_golden("same.txt", "same\n")  # nothing to rewrite: nothing to review
    for name in ("old.txt", "new/made.txt"):
        with pytest.raises(pytest.fail.Exception, match=rf"rewrote {tmp_path / name}: review .*rerun without"):
            check_golden(name, "new\n")
        assert (tmp_path / name).read_text() == "new\n"

    monkeypatch.delenv("REPRO_UPDATE_GOLDEN")
    check_golden("old.txt", "new\n")
    with pytest.raises(AssertionError, match="output differs"):
        check_golden("old.txt", "newer\n")
