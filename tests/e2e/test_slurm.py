"""Beyond one machine: a sweep through a real one-node SLURM cluster (slurmctld, slurmd, munge
from Debian's packages) and Snakemake's SLURM executor plugin. Not a fake sbatch."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import docker
import pytest

from repro.store import Status, Store
from tests.conftest import CHECKOUT, Project, wait_for
from tests.e2e.conftest import repro_containers, venv_with_repro

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="session")
def slurm_node() -> str:
    """The node of a running one-node cluster (brought up here if it is not running)."""
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.fail("SLURM is needed: sudo scripts/setup-host (installs slurm-wlm and munge)")
    subprocess.run(["bash", str(Path(__file__).parent / "slurm" / "up.sh")], check=True)

    def idle_node() -> str | None:
        listing = subprocess.run(["sinfo", "-h", "-o", "%N %t"], capture_output=True, text=True)
        for line in listing.stdout.splitlines():
            node, state = line.split()
            if state in ("idle", "mix"):
                return node
        return None

    node = wait_for(idle_node, timeout=60, interval=0.5)
    assert isinstance(node, str)
    return node


@pytest.fixture(scope="session")
def slurm_repro(test_venvs: Path) -> Path:
    """repro with Snakemake's SLURM executor plugin, in a venv of its own: installed next to
    the tests' repro, the plugin would make every local Snakemake start ask for a cluster."""
    return venv_with_repro(test_venvs / "slurm-venv", f"{CHECKOUT}[slurm]")


def test_a_sweep_through_slurm_is_recorded_like_a_local_one(
    docker_project: Project, docker_client: docker.DockerClient, slurm_node: str, slurm_repro: Path
) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo {n} > /out/n.txt"],
        sweep={"n": [1, 2, 3]},
        resources={"cpus": 1, "memory": "100m", "timeout": "5m"},
    )
    project.commit()
    result = subprocess.run(
        [
            str(slurm_repro),
            "run",
            "exp.yaml",
            "-j",
            "3",
            "--executor",
            "slurm",
            "--executor-option",
            "status_command=squeue",  # no accounting database on this cluster: sacct cannot answer
            "--executor-option",
            "init_seconds_before_status_checks=1",
            "--json",
        ],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert len(summary["runs"]) == 3
    store = Store(project.store)
    records = [store.load(row.id) for row in store.runs()]
    assert sorted(r.point.params["n"] for r in records) == [1, 2, 3]
    for record in records:
        assert record.status is Status.SUCCEEDED
        assert record.host.hostname == slurm_node
        assert record.host.scheduler_job is not None
        assert record.host.scheduler_job.startswith("slurm:")
        assert (store.run_folder(record.id).outputs / "n.txt").read_text() == f"{record.point.params['n']}\n"
    assert len({r.host.scheduler_job for r in records}) == 3, "one SLURM job per point"
    assert repro_containers(docker_client, project.store) == []


def test_an_unknown_executor_is_bad_input(docker_project: Project) -> None:
    project = docker_project
    project.manifest()
    result = project.repro("run", "exp.yaml", "--executor", "nosuchcluster")
    assert result.code == 2
    assert "--executor nosuchcluster: no such Snakemake executor plugin" in result.err


def _fingerprint(path: Path) -> tuple[int, int, str]:
    """What would change if anything wrote ``path``: its inode, mtime and content."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def test_twenty_slurm_jobs_write_only_files_and_the_next_command_folds_them_in(
    docker_project: Project, slurm_node: str, slurm_repro: Path
) -> None:
    """Jobs on a cluster node never open the index (an NFS store's SQLite would not survive
    hundreds of them): each leaves its records and journal entries; `repro log` then folds them."""
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo {n} > /out/n.txt"],
        sweep={"n": list(range(20))},
        resources={"cpus": 1, "memory": "50m", "timeout": "5m"},
    )
    project.commit()
    assert project.repro("init").code == 0
    index = project.store / "index.sqlite"
    before = _fingerprint(index)

    result = subprocess.run(
        [
            str(slurm_repro),
            "run",
            "exp.yaml",
            "-j",
            "20",
            "--executor",
            "slurm",
            "--executor-option",
            "status_command=squeue",
            "--executor-option",
            "init_seconds_before_status_checks=1",
            "--json",
        ],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=1200,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert len(json.loads(result.stdout)["runs"]) == 20, "the driver learnt every job's run from the leases"
    assert _fingerprint(index) == before, "a job (or the driver) wrote the index"
    assert not [p.name for p in project.store.iterdir() if p.name.startswith("index.sqlite-")]
    store = Store(project.store)
    assert {entry.run_id for entry in store.journal.pending()} == {p.name for p in store.layout.runs.iterdir()}
    records = list(store.records())
    assert len(records) == 20
    assert all(r.status is Status.SUCCEEDED and r.host.hostname == slurm_node for r in records)
    assert len({r.host.scheduler_job for r in records}) == 20, "one SLURM job per point"

    listed = project.repro("log", "--json")
    assert listed.code == 0, listed.err
    assert sorted(run["point"]["params"]["n"] for run in listed.json) == list(range(20))
    assert _fingerprint(index) != before
    assert store.journal.pending() == []
