"""The README's example, end to end: the image built with debootstrap, pinned, swept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from repro.store import Status, Store
from tests.conftest import CHECKOUT, Project, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLE = CHECKOUT / "examples" / "cachesim"
TAG = "repro-example/cachesim:bookworm"


@pytest.fixture(scope="session")
def cachesim_image(docker_client: docker.DockerClient) -> str:
    if shutil.which("debootstrap") is None:
        pytest.fail("the example's image needs debootstrap: sudo scripts/setup-host --example")
    subprocess.run([str(EXAMPLE / "build-image.sh"), TAG], check=True, capture_output=True)
    return str(docker_client.images.get(TAG).id)


def test_the_example_sweep_runs_pinned_and_its_results_make_sense(tmp_path: Path, cachesim_image: str) -> None:
    lab = tmp_path / "lab"
    shutil.copytree(EXAMPLE.parent, lab, ignore=shutil.ignore_patterns(".repro", ".snakemake", "results"))
    root = lab / "cachesim"
    manifest = "cachesim/exp.yaml"
    make_repo(lab)
    project = Project(root=lab)
    project.commit("the example, as a lab would keep it")

    unpinned = project.repro("run", manifest)
    assert unpinned.code == 2
    assert "not pinned by content" in unpinned.err

    locked = project.repro("lock", manifest)
    assert locked.code == 0, locked.err
    assert cachesim_image in (root / "exp.yaml").read_text()

    result = project.repro("run", manifest, "-j", "2")
    assert result.code == 0, result.err
    store = Store(project.store)
    records = [store.load(row.id) for row in store.runs()]
    assert len(records) == 6
    assert all(r.status is Status.SUCCEEDED for r in records)
    assert all(r.git is not None and r.git.dirty for r in records), "the lock is an uncommitted change"

    words = (root / "workload" / "words.txt").read_bytes().split(b"\n")[:-1]
    misses: dict[tuple[int, int], int] = {}
    for record in records:
        outputs = store.run_folder(record.id).outputs
        assert (outputs / "sorted.txt").read_bytes() == b"".join(w + b"\n" for w in sorted(words))
        events, summary = (outputs / "summary.txt").read_text().splitlines()
        counts = dict(zip(events.split()[1:], map(int, summary.split()[1:]), strict=True))
        misses[(int(record.point.params["d1_size"]), int(record.point.params["assoc"]))] = counts["D1mr"]
    for assoc in (2, 8):
        assert misses[(4096, assoc)] > misses[(16384, assoc)] > misses[(65536, assoc)], misses

    # Deterministic: running a point again gives byte-identical outputs.
    again = project.repro("run", manifest, "--force", "--set", "d1_size=4096", "--set", "assoc=2")
    assert again.code == 0, again.err
    same_point = [
        r for r in (store.load(row.id) for row in store.runs()) if r.point.params == {"d1_size": 4096, "assoc": 2}
    ]
    assert len(same_point) == 2
    assert len({r.point.key for r in same_point}) == 1
    assert len({r.outputs.digest for r in same_point if r.outputs}) == 1

    # The pipeline example starts from the same points (their markers exist) and only adds the
    # table and the plot.
    pipeline = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet"],
        cwd=lab / "pipeline",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pipeline.returncode == 0, pipeline.stderr[-3000:]
    table = (lab / "pipeline" / "results" / "d1-misses.csv").read_text().splitlines()
    assert table[0] == "d1_size,assoc,d1_refs,d1_misses,miss_rate"
    assert len(table) == 7
    svg = (lab / "pipeline" / "results" / "d1-misses.svg").read_text()
    assert svg.count("<polyline") == 2
    assert len(Store(project.store).runs()) == 7, "the pipeline ran no point again"
