"""repro's rules inside a user's own Snakefile, run by the `snakemake` command itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import docker
import pytest

from repro.store import Status, Store
from tests.conftest import Project
from tests.e2e.conftest import repro_containers

pytestmark = pytest.mark.docker

SNAKEFILE = textwrap.dedent(
    """\
    import repro.workflow

    sweep = repro.workflow.experiment("exp.yaml", config)

    rule all:
        input: "table.csv"

    include: repro.workflow.rules()

    rule table:
        input: sweep.markers
        output: "table.csv"
        run:
            with open(output[0], "w") as table:
                table.write("n,square\\n")
                for point, marker in zip(sweep.points, input):
                    square = (repro.workflow.outputs(marker) / "square.txt").read_text().strip()
                    table.write(f"{point.params['n']},{square}\\n")
    """
)


def test_a_user_snakefile_runs_a_sweep_and_aggregates_its_outputs(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", "echo $(( {n} * {n} )) > /out/square.txt"],
        sweep={"n": [2, 3, 4]},
        resources={"cpus": 1, "memory": "64m", "timeout": "5m"},
    )
    project.write("Snakefile", SNAKEFILE)
    project.commit("a pipeline around a sweep")

    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "all"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert (project.root / "table.csv").read_text() == "n,square\n2,4\n3,9\n4,16\n"
    records = [Store(project.store).load(row.id) for row in Store(project.store).runs()]
    assert sorted(r.point.params["n"] for r in records) == [2, 3, 4]
    assert all(r.status is Status.SUCCEEDED for r in records)
    assert repro_containers(docker_client, project.store) == []
    # The markers are Snakemake's outputs: a second invocation has nothing to do.
    again = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--dry-run", "all"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
    # repro itself agrees: the points already succeeded.
    assert "0 would run, 3 already succeeded" in project.repro("run", "exp.yaml", "--dry-run").err
