"""Finding and comparing results on a real store made by real runs: `repro log` filters,
`repro compare`, metric deltas in `repro diff`, `repro report -o -`, shell completion."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from repro.store import Store
from tests.conftest import CHECKOUT, Project

pytestmark = pytest.mark.docker

# Parameters of every type; metrics written as JSON; size=16 fails (exit 1) before writing them.
COMMAND = [
    "sh",
    "-c",
    "[ {size} -ne 16 ] && echo '{{\"ipc\": '$(({size} * 3))', \"misses\": '$((64 / {size}))', "
    '"model": "{cpu}"}}\' > /out/m.json',
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, busybox: object) -> Project:
    from tests.conftest import Image, make_repo

    assert isinstance(busybox, Image)
    root = tmp_path_factory.mktemp("query") / "lab"
    make_repo(root)
    project = Project(root=root, image=busybox)
    project.manifest(
        "a.yaml",
        name="alpha",
        command=COMMAND,
        params={"scale": 0.5, "cpu": "o3"},
        sweep={"size": [4, 8, 16], "flag": [True, False]},
        metrics={"file": "m.json", "format": "json"},
    )
    project.manifest(
        "b.yaml",
        name="beta",
        command=COMMAND,
        params={"cpu": "timing", "flag": False, "scale": 1.5},
        sweep={"size": [2]},
        metrics={"file": "m.json", "format": "json"},
    )
    project.commit("two experiments")
    assert project.repro("run", "a.yaml", "-j", "2").code == 1  # the size=16 points fail
    assert project.repro("run", "b.yaml").code == 0
    return project


def ids(result: object) -> list[str]:
    return [r["id"] for r in json.loads(result.out)]  # type: ignore[attr-defined]


def test_log_filters_by_value_status_manifest_and_time(lab: Project) -> None:
    every = lab.repro("log", "--json")
    assert every.code == 0
    assert len(every.json) == 7
    size4 = lab.repro("log", "--where", "size=4", "--json")
    assert sorted(r["point"]["params"]["flag"] for r in size4.json) == [False, True]
    assert ids(lab.repro("log", "--where", "size=4.0", "--json")) == ids(size4), "compared by value"
    assert len(lab.repro("log", "--where", "flag=true", "--json").json) == 3
    assert len(lab.repro("log", "--where", "scale>1", "--json").json) == 1
    assert len(lab.repro("log", "--where", "ipc>20", "--json").json) == 2, "metrics too: 24 for both size=8"
    assert len(lab.repro("log", "--where", "cpu!=o3", "--json").json) == 1
    assert len(lab.repro("log", "--where", "size<8", "--where", "flag=false", "--json").json) == 2
    failed = lab.repro("log", "--status", "failed", "--json").json
    assert [r["status"] for r in failed] == ["failed", "failed"]
    assert len(lab.repro("log", "--manifest", "b.yaml", "--json").json) == 1
    assert len(lab.repro("log", "--since", "1h", "--json").json) == 7
    assert lab.repro("log", "--until", "2000-01-01", "--json").json == []
    assert len(lab.repro("log", "--since", "2000-01-01T00:00+00:00", "--json").json) == 7
    assert every.json[0].keys() == Store(lab.store).load(every.json[0]["id"]).model_dump(mode="json").keys()
    table = lab.repro("log", "--where", "size=2")
    header, row = table.out.splitlines()
    assert header.split() == ["RUN", "STARTED", "NAME", "STATUS", "DURATION", "PARAMS"]
    assert "beta" in row
    assert "cpu=timing flag=false scale=1.5 size=2" in row
    for bad, message in (
        (("--where", "size"), "expected NAME=VALUE"),
        (("--where", "cpu>o3"), "compares numbers"),
        (("--since", "last week"), "not a date or time"),
        (("--status", "done"), "invalid choice"),
    ):
        result = lab.repro("log", *bad)
        assert result.code == 2, bad
        assert message in result.err


def test_compare_gives_one_row_per_point_in_every_format(lab: Project) -> None:
    table = lab.repro("compare")
    assert table.code == 0, table.err
    assert "alpha" in table.out
    assert "beta" in table.out
    assert lab.repro("compare", "--format", "json").json == lab.repro("compare", "--format", "json").json
    rows = lab.repro("compare", "--format", "json").json
    assert len(rows) == 5, "the newest succeeded run of every point: 4 of alpha, 1 of beta"
    first = next(r for r in rows if r["manifest"] == "alpha" and r["params"]["size"] == 8 and r["params"]["flag"])
    assert first["params"] == {"scale": 0.5, "cpu": "o3", "size": 8, "flag": True}
    assert first["metrics"] == {"ipc": 24, "misses": 8, "model": "o3"}
    parsed = list(csv.DictReader(io.StringIO(lab.repro("compare", "--format", "csv").out)))
    assert list(parsed[0]) == ["id", "manifest", "scale", "cpu", "size", "flag", "ipc", "misses", "model"]
    assert {row["ipc"] for row in parsed if row["manifest"] == "alpha"} == {"12", "24"}
    every = lab.repro("compare", "--all-runs", "--manifest", "a.yaml", "--format", "json").json
    assert len(every) == 6, "with --all-runs, the failed runs too"
    changed = lab.repro("compare", "--manifest", "a.yaml", "--only-changed", "--format", "csv").out
    assert changed.splitlines()[0] == "id,manifest,size,flag,ipc,misses", "scale, cpu and model are equal in every row"
    ordered = lab.repro("compare", "--manifest", "a.yaml", "--sort", "misses", "--format", "json").json
    assert [r["metrics"]["misses"] for r in ordered] == [8, 8, 16, 16]
    narrow = lab.repro("compare", "--metric", "i*", "--format", "json").json
    assert all(set(r["metrics"]) == {"ipc"} for r in narrow)
    markdown = lab.repro("compare", "--manifest", "b.yaml", "--format", "md").out
    assert markdown.startswith("## beta\n\n| id | cpu | flag | scale | size | ipc | misses | model |")
    for bad in (("--sort", "nope"), ("--metric", "nope"), ("--format", "xml")):
        assert lab.repro("compare", *bad).code == 2, bad


def test_diff_shows_each_metric_with_its_change(lab: Project) -> None:
    store = Store(lab.store)
    by_size = {(r.params["size"], r.params.get("flag")): r.id for r in store.runs(name="alpha")}
    result = lab.repro("diff", by_size[(4, True)], by_size[(8, True)], "--json")
    assert result.code == 1, "the exit code rule is unchanged: outputs differ"
    metrics = {m["name"]: m for m in result.json["metrics"]}
    assert metrics["ipc"] == {"name": "ipc", "a": 12.0, "b": 24.0, "delta": 12.0, "relative": 1.0}
    assert metrics["misses"]["relative"] == -0.5
    text = lab.repro("diff", by_size[(4, True)], by_size[(8, True)]).out
    assert "  ipc: 12 → 24  (+12, +100.0%)" in text


def test_report_to_stdout_leaves_no_file_and_plots_every_metric(lab: Project) -> None:
    before = sorted(p.name for p in lab.root.iterdir())
    result = lab.repro("report", "--manifest", "a.yaml", "-o", "-")
    assert result.code == 0, result.err
    assert sorted(p.name for p in lab.root.iterdir()) == before, "no file named '-', no .svg beside it"
    assert result.out.startswith("# repro report: alpha")
    assert result.out.count("](data:image/svg+xml;base64,") == 2, "ipc and misses, each plotted"
    failed = [line for line in result.out.splitlines() if "| failed |" in line]
    assert failed
    assert all("failed (exit code 1)" in line for line in failed), "a failed run's cell says why, briefly"
    assert str(lab.store) not in result.out


def test_shell_completion_offers_commands_and_run_ids(lab: Project) -> None:
    assert "_python_argcomplete" in lab.repro("completion", "bash").out
    assert "complete" in lab.repro("completion", "fish").out
    assert lab.repro("completion", "zsh").out.startswith("#compdef repro")
    run = Store(lab.store).runs()[0].id

    answers = lab.root / "completions.out"
    for line, expected in ((f"repro show {run[:10]}", run), ("repro comp", "compare"), ("repro run a.", "a.yaml")):
        env = {
            **os.environ,
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answers),  # argcomplete's own way to answer into a file
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "PYTHONPATH": str(CHECKOUT),
        }
        subprocess.run([sys.executable, "-m", "repro"], cwd=lab.root, env=env, timeout=60, check=False)
        offered = answers.read_text().split("\x0b")
        assert any(candidate.strip().startswith(expected) for candidate in offered), (line, offered)
    answers.unlink()
