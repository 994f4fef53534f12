"""examples/gem5 on a real gem5: the image built offline from the gem5 kit in the machine's
shared folder ($REPRO_SHARED, else ../shared beside the checkout: CI has it), a smoke test, the CPU
{timing, o3} x L1D {16KiB, 64KiB} sweep with the physics checked, a failing workload, and
`repro verify --all`. Without a kit they fail and say where to put one, as the tests of every
other component do: a skip would let a suite pass that never ran gem5. Everything runs on a copy
of the example."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from repro.results.metrics import read_metrics
from repro.store import Status, Store
from tests.conftest import CHECKOUT, SHARED, Project, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow]

KITS = sorted((SHARED / "gem5").glob("gem5-v24.0.0.1-x86*.tar.xz"))
TAG = "repro-example/gem5:v24.0.0.1"
IPC = "board.processor.cores.core.ipc"
MISS = "board.cache_hierarchy.l1d-cache-0.overallMissRate::total"


def build_image(folder: Path, kit: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(folder / "build-image.sh"), kit], cwd=folder, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def gem5_lab(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Project:
    """A lab repository holding a copy of examples/gem5, its image built from the kit and pinned."""
    if not KITS:
        pytest.fail(
            f"no gem5 kit (gem5-v24.0.0.1-x86*.tar.xz) in {SHARED / 'gem5'}: these tests run a real gem5 "
            "built from one; put it there, or set $REPRO_SHARED to the folder holding gem5/",
            pytrace=False,
        )
    lab = tmp_path_factory.mktemp("gem5") / "lab"
    shutil.copytree(CHECKOUT / "examples" / "gem5", lab, ignore=shutil.ignore_patterns("results", ".snakemake"))
    make_repo(lab)
    tracked = {p: p.read_bytes() for p in (CHECKOUT / "examples" / "gem5").glob("*.yaml")}
    built = build_image(lab, str(KITS[0]))
    assert built.returncode == 0, built.stdout + built.stderr
    assert {p: p.read_bytes() for p in tracked} == tracked, "the checkout's manifests are never touched"
    project = Project(root=lab)
    project.commit("the gem5 example, pinned")
    return project


def test_the_image_is_built_from_the_kit_labelled_and_pinned(
    gem5_lab: Project, docker_client: docker.DockerClient
) -> None:
    import hashlib

    image = docker_client.images.get(TAG)
    kit_sum = hashlib.sha256(KITS[0].read_bytes()).hexdigest()
    assert image.labels["org.repro.example.gem5-kit"] == kit_sum
    for name in ("smoke.yaml", "se-sweep.yaml", "fs-boot.yaml"):
        assert f'id: "{image.id}"' in (gem5_lab.root / name).read_text(), name
    again = build_image(gem5_lab.root, str(KITS[0]))
    assert again.returncode == 0, again.stderr
    assert "already built from this kit" in again.stdout
    assert docker_client.images.get(TAG).id == image.id, "run again, it pins to the image that is there"


def test_without_a_kit_the_build_says_what_to_do(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    shutil.copytree(CHECKOUT / "examples" / "gem5", lab)
    built = build_image(lab, str(tmp_path / "no-such-kit.tar.xz"))
    assert built.returncode == 3
    assert "no gem5 kit found" in built.stderr
    assert "Dockerfile" in built.stderr


def test_the_smoke_test_runs_gems_hello(gem5_lab: Project) -> None:
    result = gem5_lab.repro("run", "smoke.yaml")
    assert result.code == 0, result.err
    store = Store(gem5_lab.store)
    (row,) = [r for r in store.runs() if r.name == "gem5-smoke"]
    assert "Hello world!" in store.run_folder(row.id).stdout.read_text()


def test_the_sweep_shows_the_cache_and_the_cpu_and_verifies(gem5_lab: Project) -> None:
    sets = ("--set", "cpu=[timing,o3]", "--set", "l1d=[16KiB,64KiB]")
    result = gem5_lab.repro("run", "se-sweep.yaml", *sets, "-j", "2")
    assert result.code == 0, result.err
    store = Store(gem5_lab.store)
    stats = {}
    for row in store.runs():
        if row.name == "gem5-se-cache":
            dump = read_metrics(store.run_folder(row.id).outputs / "m5out" / "stats.txt", "gem5-stats")[-1]
            stats[(row.params["cpu"], row.params["l1d"])] = dump
    assert len(stats) == 4
    assert len({dump["simInsts"] for dump in stats.values()}) == 1, "every point ran the same program"
    for cpu in ("timing", "o3"):
        small, large = stats[(cpu, "16KiB")][MISS], stats[(cpu, "64KiB")][MISS]
        assert isinstance(small, float)
        assert isinstance(large, float)
        assert large <= small, f"{cpu}: a larger L1D never raises the miss rate"
        assert large < 0.5 * small, f"{cpu}: the 32 KiB chase fits in 64 KiB, not in 16 KiB"
    for l1d in ("16KiB", "64KiB"):
        o3, timing = stats[("o3", l1d)][IPC], stats[("timing", l1d)][IPC]
        assert isinstance(o3, float)
        assert isinstance(timing, float)
        assert o3 > timing, f"{l1d}: the out-of-order CPU overlaps what the timing CPU waits for"

    verified = gem5_lab.repro("verify", "--all", "-j", "2", "--json")

    assert verified.code == 0, verified.err
    assert {v["verdict"] for v in verified.json} == {"reproduced"}
    sweep = [v for v in verified.json if v["point"].startswith("cpu=")]
    assert len(sweep) == 4
    for verdict in sweep:
        stats_file = {f["path"]: f for f in verdict["files"]}["m5out/stats.txt"]
        assert stats_file["state"] == "identical"  # by its metrics: host* left out


def test_the_sweeps_claims_hold_on_the_corner_and_reproduce(gem5_lab: Project) -> None:
    """examples/gem5/claims.yaml on the CPU {timing, o3} x L1D {16KiB, 64KiB} corner."""
    sets = ("--set", "cpu=[timing,o3]", "--set", "l1d=[16KiB,64KiB]")
    assert gem5_lab.repro("run", "se-sweep.yaml", *sets, "-j", "2").code == 0

    judged = gem5_lab.repro("claims", "--format", "json")

    assert judged.code == 0, judged.err
    assert {claim["id"]: claim["verdict"] for claim in judged.json} == {
        "l1d-fits": "holds",
        "l1d-cuts-misses": "holds",
        "miss-rate-never-rises": "holds",
        "o3-beats-timing": "holds",
    }
    assert {len(claim["runs"]) for claim in judged.json} == {2, 4}, "l1d-fits: the 64 KiB points; the rest: all four"
    table = gem5_lab.repro("claims")
    assert table.code == 0
    print(table.out)  # the example's claims table, for the log

    quick = gem5_lab.repro("verify", "--quick", "--json")
    assert quick.code == 0, quick.err
    assert {check["verdict"] for check in quick.json["quick"]} == {"reproduced"}
    assert len(quick.json["runs"]) == len({check["run"] for check in quick.json["quick"]})

    verified = gem5_lab.repro("verify", "--claims", "-j", "2", "--json")
    assert verified.code == 0, verified.err
    assert all(check["reproduced"] for check in verified.json["claims"])
    assert len(verified.json["runs"]) == 4


def test_a_failing_workload_is_a_failed_run(gem5_lab: Project) -> None:
    text = (gem5_lab.root / "smoke.yaml").read_text()
    failing = text.replace("name: gem5-smoke", "name: gem5-fails").replace(
        "  - --cpu=atomic\n", "  - --cpu=atomic\n  - --binary=/workloads/chase\n  - --arg=1\n  - --arg=3\n"
    )
    gem5_lab.write("fails.yaml", failing)
    result = gem5_lab.repro("run", "fails.yaml")
    assert result.code == 1
    store = Store(gem5_lab.store)
    (row,) = [r for r in store.runs() if r.name == "gem5-fails"]
    record = store.load(row.id)
    assert record.status is Status.FAILED
    assert record.exit_code == 3, "gem5 exits with the simulated program's exit code"


def test_the_pipeline_makes_the_table_and_a_report_with_both_plots(gem5_lab: Project) -> None:
    sets = '["cpu=[timing,o3]","l1d=[16KiB,64KiB]"]'
    snakemake = Path(sys.executable).parent / "snakemake"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    ran = subprocess.run(
        [str(snakemake), "--cores", "2", "--config", f"sets={sets}"],
        cwd=gem5_lab.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    rows = (gem5_lab.root / "results" / "se-cache.csv").read_text().splitlines()
    assert rows[0] == "cpu,l1d,simInsts,ipc,l1d_miss_rate"
    assert sorted(row.split(",")[0] + "/" + row.split(",")[1] for row in rows[1:]) == [
        "o3/16KiB",
        "o3/64KiB",
        "timing/16KiB",
        "timing/64KiB",
    ]
    page = (gem5_lab.root / "results" / "se-cache.html").read_text()
    assert '<figure id="plot">' in page
    assert '<figure id="plot-2">' in page
    assert 'aria-label="board.processor.cores.core.ipc by l1d"' in page
    assert 'aria-label="board.cache_hierarchy.l1d-cache-0.overallMissRate::total by l1d"' in page
