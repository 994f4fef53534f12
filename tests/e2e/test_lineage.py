"""Checkpoint lineage with real containers (busybox, no gem5): an upstream point writes a
"checkpoint", downstream points mount it read-only (``from:``), and each record names the run
it came from. A changed upstream makes new downstream keys; an unchanged one does not; a
downstream with no upstream run runs it first; verify, pack and pull follow the lineage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest

from repro.store import Status, Store
from repro.store.record import RunRecord
from tests.conftest import Image, Project
from tests.e2e.conftest import build_variant

pytestmark = pytest.mark.docker

BOOT = "mkdir -p /out/m5out/cpt.1 && (cat /content.txt 2>/dev/null || echo plain) > /out/m5out/cpt.1/m5.cpt"
"""The upstream's "boot": a checkpoint folder whose content depends on the image."""

RESTORE = "cat /cpt/m5.cpt > /out/read.txt && echo {n} >> /out/read.txt"


def boot(project: Project, command: str = BOOT, **fields: Any) -> None:
    project.manifest("up.yaml", name="boot", command=["sh", "-c", command], **fields)


def restore(project: Project, path: str = "m5out/cpt.*", name: str = "down.yaml", upstream: str = "up.yaml") -> None:
    project.manifest(
        name,
        name="restore",
        command=["sh", "-c", RESTORE],
        sweep={"n": [1, 2]},
        mounts=[{"from": {"manifest": upstream, "path": path}, "target": "/cpt"}],
    )


def records(project: Project, name: str | None = None) -> list[RunRecord]:
    store = Store(project.store)
    return sorted((store.load(row.id) for row in store.runs() if name is None or row.name == name), key=lambda r: r.id)


def read(project: Project, record: RunRecord) -> str:
    return (project.store / "runs" / record.id / "outputs" / "read.txt").read_text()


def test_a_downstream_with_no_upstream_run_runs_it_first_and_reads_its_outputs(docker_project: Project) -> None:
    project = docker_project
    boot(project)
    restore(project)
    project.commit("boot and restore")

    dry = project.repro("run", "down.yaml", "--dry-run")
    assert dry.code == 0
    assert "waits on up.yaml (point -, key " in dry.out
    assert records(project) == []

    ran = project.repro("run", "down.yaml")

    assert ran.code == 0, ran.err
    (up,) = records(project, "boot")
    downs = records(project, "restore")
    assert [r.status for r in [up, *downs]] == [Status.SUCCEEDED] * 3
    assert all(up.ended_at and down.started_at >= up.ended_at for down in downs), "the upstream ran first"
    assert sorted(read(project, r) for r in downs) == ["plain\n1\n", "plain\n2\n"]
    for down in downs:
        (entry,) = down.inputs
        assert (entry.target, entry.upstream_run, entry.upstream_path) == ("/cpt", up.id, "m5out/cpt.1")
        assert entry.source == str(project.store / "runs" / up.id / "outputs" / "m5out" / "cpt.1")
        assert (entry.readonly, entry.files) == (True, 1)
        assert down.schema_version == 5
    assert "after 1 upstream point ran" in ran.err
    shown = project.repro("show", downs[0].id)
    assert f"lineage    /cpt ← {up.id} m5out/cpt.1 (boot, point -, succeeded)" in shown.out
    # The mount is read-only: a downstream point cannot change its upstream's outputs.
    project.manifest(
        "write.yaml",
        name="write",
        command=["sh", "-c", "echo x > /cpt/m5.cpt"],
        mounts=[{"from": {"manifest": "up.yaml", "path": "m5out/cpt.1"}, "target": "/cpt"}],
    )
    project.commit("a downstream that writes")
    assert project.repro("run", "write.yaml").code == 1
    assert (project.store / "runs" / up.id / "outputs" / "m5out" / "cpt.1" / "m5.cpt").read_text() == "plain\n"


def test_a_changed_upstream_reruns_the_downstream_and_an_unchanged_one_does_not(
    docker_project: Project, docker_client: docker.DockerClient, busybox: Image
) -> None:
    project = docker_project
    boot(project)
    restore(project)
    project.commit("boot and restore")
    assert project.repro("run", "down.yaml").code == 0
    first = {r.point.key for r in records(project, "restore")}

    # Unchanged: nothing runs.
    again = project.repro("run", "down.yaml")
    assert again.code == 0
    assert "2 already succeeded" in again.err
    # The upstream run again (--force), making the same outputs: the same keys, still done.
    assert project.repro("run", "up.yaml", "--force").code == 0
    assert "0 would run, 2 already succeeded" in project.repro("run", "down.yaml", "--dry-run").err
    # A changed upstream command that makes the same checkpoint: the downstream waits on the new
    # upstream point, which runs, and then finds its points already succeeded.
    boot(project, command="true && " + BOOT)
    project.commit("the same boot, said differently")
    assert "waits on up.yaml" in project.repro("run", "down.yaml", "--dry-run").out
    same = project.repro("run", "down.yaml", "--json")
    assert same.code == 0, same.err
    assert [run["status"] for run in same.json["upstream"]] == ["succeeded"]
    assert len(records(project, "restore")) == 2, "no downstream point ran again"
    assert len(records(project, "boot")) == 3

    # A changed command: a new checkpoint, new keys, the downstream runs again.
    boot(project, command=BOOT.replace("plain", "plain, rebooted"))
    project.commit("a new boot")
    known = {r.id for r in records(project, "restore")}
    assert project.repro("run", "down.yaml").code == 0
    second = [r for r in records(project, "restore") if r.id not in known]  # ids sort by second only
    assert sorted(read(project, r) for r in second) == ["plain, rebooted\n1\n", "plain, rebooted\n2\n"]
    assert not {r.point.key for r in second} & first

    # A changed image: a new checkpoint again.
    tag = f"repro-test/lineage-{uuid.uuid4().hex[:8]}:1"
    image_id = build_variant(docker_client, busybox, tag, "a kernel of its own\n")
    boot(project, command=BOOT.replace("plain", "plain, rebooted"), image={"name": tag, "id": image_id})
    project.commit("a new image")
    known = {r.id for r in records(project, "restore")}
    assert project.repro("run", "down.yaml").code == 0
    third = [r for r in records(project, "restore") if r.id not in known]
    assert sorted(read(project, r) for r in third) == ["a kernel of its own\n1\n", "a kernel of its own\n2\n"]
    assert len({r.point.key for r in records(project, "restore")}) == 6


def test_an_upstream_that_fails_leaves_its_downstream_not_started(docker_project: Project) -> None:
    project = docker_project
    boot(project, command="echo no kernel >&2; exit 3")
    restore(project)
    project.commit()

    ran = project.repro("run", "down.yaml")

    assert ran.code == 1
    (up,) = records(project)
    assert (up.manifest.name, up.status, up.exit_code) == ("boot", Status.FAILED, 3)
    assert f"2 not started (they wait on an upstream point: boot failed (run {up.id}))" in ran.err


def test_a_glob_matching_two_entries_or_none_is_refused_saying_what_it_found(docker_project: Project) -> None:
    project = docker_project
    boot(project, command=BOOT + " && mkdir /out/m5out/cpt.2 && echo b > /out/m5out/cpt.2/m5.cpt")
    restore(project)
    restore(project, path="m5out/nothing.*", name="none.yaml")
    project.commit()
    # The upstream has not run: its run is looked at when each downstream point's job starts.
    waited = project.repro("run", "none.yaml")
    assert waited.code == 1
    (up,) = records(project)
    assert f"cannot run: from: m5out/nothing.* matches nothing in the outputs of run {up.id}" in waited.err
    assert "which hold: m5out, m5out/cpt.1, m5out/cpt.1/m5.cpt, m5out/cpt.2, m5out/cpt.2/m5.cpt" in waited.err
    # It has run: the plan refuses, naming the manifest's line, before anything starts.
    two = project.repro("run", "down.yaml")
    assert two.code == 2
    line = (project.root / "down.yaml").read_text().splitlines().index("    path: m5out/cpt.*") + 1
    assert two.err.strip().splitlines() == [
        f"repro: error: down.yaml:{line}: mounts[0].from.path: m5out/cpt.* matches 2 entries of run {up.id} "
        "(boot, point -) (m5out/cpt.1, m5out/cpt.2): make it match one"
    ]
    assert len(records(project)) == 1


def test_a_chain_of_three_runs_in_order_in_one_run(docker_project: Project) -> None:
    project = docker_project
    project.manifest("a.yaml", name="a", command=["sh", "-c", "echo 1 > /out/x"])
    project.manifest(
        "b.yaml",
        name="b",
        command=["sh", "-c", "echo $(( $(cat /in/x) + 1 )) > /out/x"],
        mounts=[{"from": {"manifest": "a.yaml"}, "target": "/in"}],
    )
    project.manifest(
        "c.yaml",
        name="c",
        command=["sh", "-c", "echo $(( $(cat /in/x) * 10 )) > /out/x"],
        mounts=[{"from": {"manifest": "b.yaml", "path": "x"}, "target": "/in/x"}],
    )
    project.commit("a chain")
    assert "waits on b.yaml" in project.repro("run", "c.yaml", "--dry-run").out

    assert project.repro("run", "c.yaml").code == 0

    a, b, c = (records(project, name)[0] for name in "abc")
    assert (project.store / "runs" / c.id / "outputs" / "x").read_text() == "20\n"
    assert (c.inputs[0].upstream_run, b.inputs[0].upstream_run) == (b.id, a.id)
    assert b.inputs[0].upstream_path is None  # all of a's outputs
    shown = project.repro("show", c.id).out
    assert f"lineage    /in/x ← {b.id} x (b, point -, succeeded)" in shown
    assert f"             /in ← {a.id} outputs (a, point -, succeeded)" in shown
    assert "0 would run, 1 already succeeded" in project.repro("run", "c.yaml", "--dry-run").err


def test_verify_reruns_against_the_stored_upstream_and_upstream_reruns_the_chain(docker_project: Project) -> None:
    project = docker_project
    boot(project)
    restore(project)
    project.commit()
    assert project.repro("run", "down.yaml").code == 0
    (up,) = records(project, "boot")
    down = records(project, "restore")[0]

    verified = project.repro("verify", down.id, "--json")
    assert verified.code == 0, verified.err
    (verdict,) = verified.json
    assert verdict["verdict"] == "reproduced"
    rerun = Store(project.store).load(verdict["rerun"])
    assert (rerun.reproduces, rerun.inputs[0].upstream_run) == (down.id, up.id)

    chain = project.repro("verify", "--upstream", down.id, "--json")
    assert chain.code == 0, chain.err
    first, second = chain.json
    assert (first["run"], first["verdict"], second["run"], second["verdict"]) == (
        up.id,
        "reproduced",
        down.id,
        "reproduced",
    )
    assert Store(project.store).load(second["rerun"]).inputs[0].upstream_run == first["rerun"]

    # A damaged checkpoint is named, not mounted.
    stored = project.store / "runs" / up.id / "outputs" / "m5out" / "cpt.1" / "m5.cpt"
    stored.chmod(0o644)
    stored.write_text("damaged\n")
    damaged = project.repro("verify", down.id, "--json")
    assert damaged.code == 3
    (verdict,) = damaged.json
    assert verdict["verdict"] == "error"
    assert f"the stored outputs of run {up.id} differ from its record" in verdict["error"]


def test_a_pack_of_a_downstream_run_carries_its_upstream_and_verifies_on_a_fresh_store(
    docker_project: Project, tmp_path: Path
) -> None:
    project = docker_project
    boot(project)
    restore(project)
    project.commit()
    assert project.repro("run", "down.yaml").code == 0
    (up,) = records(project, "boot")
    down = records(project, "restore")[0]
    artifact = tmp_path / "artifact.tar"

    packed = project.repro("pack", down.id, "-o", str(artifact))

    assert packed.code == 0, packed.err
    assert "packed 2 runs" in packed.err
    shutil.move(project.root, tmp_path / "gone")  # the evaluator has neither the store nor the repository
    evaluation = tmp_path / "evaluation"
    assert Project(root=tmp_path).repro("unpack", str(artifact), "-C", str(evaluation)).code == 0
    assert json.loads((evaluation / "artifact.json").read_text())["runs"] == sorted([up.id, down.id])
    verified = Project(root=evaluation).repro("verify", down.id, "--json")
    assert verified.code == 0, verified.err
    assert verified.json[0]["verdict"] == "reproduced"


def test_pull_and_push_carry_the_upstream_of_a_downstream_run(docker_project: Project, tmp_path: Path) -> None:
    project = docker_project
    boot(project)
    restore(project)
    project.commit()
    assert project.repro("run", "down.yaml").code == 0
    (up,) = records(project, "boot")
    down = records(project, "restore")[0]

    pulled_store = tmp_path / "pulled"
    pulled = project.repro("--store", str(pulled_store), "pull", str(project.store), "--runs", down.id)
    assert pulled.code == 0, pulled.err
    assert {row.id for row in Store(pulled_store).runs()} == {up.id, down.id}
    verified = project.repro("--store", str(pulled_store), "verify", down.id, "--json")
    assert verified.code == 0, verified.err
    assert verified.json[0]["verdict"] == "reproduced"

    pushed_store = tmp_path / "pushed"
    assert project.repro("push", str(pushed_store), "--runs", down.id).code == 0
    assert {row.id for row in Store(pushed_store).runs()} == {up.id, down.id}, "taken in by the receiver's next command"


SNAKEFILE = textwrap.dedent(
    """\
    import repro.workflow

    sweep = repro.workflow.experiment("down.yaml", config)

    rule all:
        input: "table.csv"

    include: repro.workflow.rules()

    rule table:
        input: sweep.markers
        output: "table.csv"
        run:
            with open(output[0], "w") as table:
                for point, marker in zip(sweep.points, input):
                    table.write((repro.workflow.outputs(marker) / "read.txt").read_text().replace("\\n", " ") + "\\n")
    """
)


def test_a_users_snakefile_runs_the_upstream_point_before_the_points_that_need_it(docker_project: Project) -> None:
    project = docker_project
    boot(project)
    restore(project)
    project.write("Snakefile", SNAKEFILE)
    project.commit("a pipeline around a restored sweep")
    plan = project.repro("run", "down.yaml", "--dry-run", "--json").json
    upstream_marker = str(project.store / "points" / f"{plan['waits_on'][0]['key']}.json")

    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run", "all"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert dry.returncode == 0, dry.stderr[-3000:]
    # The upstream's job makes its marker; each downstream job takes it as input.
    blocks = re.split(r"^\[.*\]$", dry.stdout + dry.stderr, flags=re.MULTILINE)  # a job: its time, then its rule
    jobs = [block for block in blocks if "rule repro_point:" in block]
    assert len(jobs) == 3, dry.stdout
    (upstream_job,) = [job for job in jobs if f"output: {upstream_marker}" in job]
    downstream = [job for job in jobs if job is not upstream_job]
    assert all(f"input: {upstream_marker}" in job for job in downstream), downstream
    assert records(project) == [], "a dry run runs nothing"

    ran = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "all"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (project.root / "table.csv").read_text() == "plain 1 \nplain 2 \n"
    (up,) = records(project, "boot")
    assert {r.inputs[0].upstream_run for r in records(project, "restore")} == {up.id}
    assert "0 would run, 2 already succeeded" in project.repro("run", "down.yaml", "--dry-run").err
