"""The README's example, end to end: the image built with debootstrap, pinned, swept; then the
pipeline example as a lab would keep it (its own committed repository) — clean records, and
Snakemake's reading, dry runs, no-op runs and report costing the store nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repro.store import Status, Store
from tests.conftest import Project, make_repo
from tests.e2e.conftest import CACHESIM

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def snakemake(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def test_the_example_sweep_runs_pinned_and_its_results_make_sense(tmp_path: Path, cachesim_image: str) -> None:
    lab = tmp_path / "lab"
    shutil.copytree(
        CACHESIM.parent, lab, ignore=shutil.ignore_patterns(".repro", ".snakemake", "results", "demo.yaml", "gem5")
    )
    root = lab / "cachesim"
    manifest = "cachesim/exp.yaml"
    pipeline = lab / "pipeline"
    make_repo(lab)
    (lab / ".gitignore").write_text(".repro/\n")
    project = Project(root=lab)
    project.commit("the examples, as a lab would keep them")

    unpinned = project.repro("run", manifest)
    assert unpinned.code == 2
    assert "not pinned by content" in unpinned.err

    locked = project.repro("lock", manifest)
    assert locked.code == 0, locked.err
    assert cachesim_image in (root / "exp.yaml").read_text()
    project.commit("pin the image")

    # Reading the Snakefile needs neither an engine nor a store.
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    for args in (["-n"], ["--summary"], ["--list-changes", "input"]):
        looked = snakemake(pipeline, *args, env=nowhere)
        assert looked.returncode == 0, (args, looked.stderr[-2000:])
        if args == ["-n"]:
            assert re.search(r"^repro_point\s+6$", looked.stdout + looked.stderr, re.MULTILINE), looked.stdout
    assert not project.store.exists(), "reading a Snakefile created the store"

    # The pipeline runs the points (one recorded container each), the table and the plot.
    ran = snakemake(pipeline, "--cores", "2", "--quiet")
    assert ran.returncode == 0, ran.stderr[-3000:]
    store = Store(project.store)
    records = [store.load(row.id) for row in store.runs()]
    assert len(records) == 6
    assert all(r.status is Status.SUCCEEDED for r in records)
    assert all(r.git is not None and not r.git.dirty and r.git.diff is None for r in records), [r.git for r in records]
    assert len({r.plan for r in records}) == 1
    assert records[0].plan is not None
    assert [p.name for p in store.layout.plans.iterdir()] == [f"{records[0].plan}.json"]
    table = (pipeline / "results" / "d1-misses.csv").read_text().splitlines()
    assert table[0] == "d1_size,assoc,d1_refs,d1_misses,miss_rate"
    assert len(table) == 7
    assert (pipeline / "results" / "d1-misses.svg").read_text().count("<polyline") == 2
    assert project.git("status", "--porcelain") == "", "the examples' .gitignore keeps what the pipeline makes"

    # A no-op run and a dry run write nothing into the store.
    before = snapshot(project.store)
    for args in (["--cores", "2"], ["-n"]):
        again = snakemake(pipeline, *args)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "Nothing to be done" in again.stdout + again.stderr
    assert snapshot(project.store) == before

    # The report shows each point as a job of the repro_point rule.
    report = snakemake(pipeline, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-2000:]
    page = (pipeline / "report.html").read_text()
    assert "repro_point" in page
    for record in records:
        assert f"points/{record.point.key}.json" in page

    words = (root / "workload" / "words.txt").read_bytes().split(b"\n")[:-1]
    misses: dict[tuple[int, int], int] = {}
    for record in records:
        outputs = store.run_folder(record.id).outputs
        assert (outputs / "sorted.txt").read_bytes() == b"".join(w + b"\n" for w in sorted(words))
        events, summary = (outputs / "summary.txt").read_text().splitlines()
        counts = dict(zip(events.split()[1:], map(int, summary.split()[1:]), strict=True))
        misses[(int(record.point.params["d1_size"]), int(record.point.params["assoc"]))] = counts["D1mr"]
        metrics = store.metrics_of(record.id)  # the manifest's metrics, from cachegrind's summary
        assert metrics is not None
        assert metrics["instructions"] == counts["Ir"]
        accesses, missed = counts["Dr"] + counts["Dw"], counts["D1mr"] + counts["D1mw"]
        assert metrics["d1_miss_rate"] == pytest.approx(missed / accesses, abs=1e-6)
    for assoc in (2, 8):
        assert misses[(4096, assoc)] > misses[(16384, assoc)] > misses[(65536, assoc)], misses

    # `repro run` sees the pipeline's points as done; forced, a point's outputs are byte-identical.
    nothing = project.repro("run", manifest)
    assert nothing.code == 0, nothing.err
    assert len(store.runs()) == 6
    again = project.repro("run", manifest, "--force", "--set", "d1_size=4096", "--set", "assoc=2")
    assert again.code == 0, again.err
    same_point = [
        r for r in (store.load(row.id) for row in store.runs()) if r.point.params == {"d1_size": 4096, "assoc": 2}
    ]
    assert len(same_point) == 2
    assert len({r.point.key for r in same_point}) == 1
    assert len({r.outputs.digest for r in same_point if r.outputs}) == 1
