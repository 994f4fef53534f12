"""What gem5 users need of a run's judgement: a simulated kernel panic is a failure even when
the simulator exits 0, and host timing statistics do not make a rerun "differ"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repro.store import Status, Store
from tests.conftest import CHECKOUT, Project, made_resources, make_repo

pytestmark = pytest.mark.docker

STATS = (
    "---------- Begin Simulation Statistics ----------\\n"
    "simSeconds 0.000050 # Number of seconds simulated\\n"
    "simInsts 12345 # Number of instructions simulated\\n"
    "hostSeconds $(head -c 2 /dev/urandom | od -An -tu2 | tr -d ' ') # Real time elapsed on the host\\n"
    "---------- End Simulation Statistics   ----------\\n"
)


def test_a_kernel_panic_in_the_simulated_terminal_fails_the_run_despite_exit_0(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=[
            "sh",
            "-c",
            "mkdir -p /out/m5out; printf 'Linux version 6.8\\nKernel panic - not syncing: VFS: no root\\n'"
            " > /out/m5out/board.pc.com_1.device; exit 0",
        ],
        fail_on=[{"file": "m5out/board.pc.com_1.device", "pattern": "Kernel panic"}],
    )
    result = project.repro("run", "exp.yaml")
    assert result.code == 1
    (row,) = Store(project.store).runs()
    record = Store(project.store).load(row.id)
    assert record.status is Status.FAILED
    assert record.exit_code == 0
    assert record.error is not None
    assert record.error.startswith("m5out/board.pc.com_1.device:2 matches fail_on 'Kernel panic'")
    assert not (project.store / "points" / f"{record.point.key}.json").exists(), "a failed point is not done"


def test_host_statistics_declared_nondeterministic_do_not_make_a_rerun_differ(docker_project: Project) -> None:
    project = docker_project
    command = ["sh", "-c", f'mkdir -p /out/m5out; printf "{STATS}" > /out/m5out/stats.txt']
    project.manifest(
        "strict.yaml", name="strict", command=command, metrics={"file": "m5out/stats.txt", "format": "gem5-stats"}
    )
    project.manifest(
        "lenient.yaml",
        name="lenient",
        command=command,
        metrics={"file": "m5out/stats.txt", "format": "gem5-stats"},
        nondeterministic=[{"metrics": ["host*"]}],
    )
    project.commit()
    assert project.repro("run", "strict.yaml").code == 0
    assert project.repro("run", "lenient.yaml", "--force").code == 0
    runs = {row.name: row.id for row in Store(project.store).runs()}

    strict = project.repro("verify", runs["strict"], "--json")
    lenient = project.repro("verify", runs["lenient"], "--json")

    assert strict.code == 1
    file = {f["path"]: f for f in strict.json[0]["files"]}["m5out/stats.txt"]
    assert file["state"] == "differs"
    assert lenient.code == 0, lenient.out
    file = {f["path"]: f for f in lenient.json[0]["files"]}["m5out/stats.txt"]
    assert file["state"] == "identical"
    assert file["expected"] != file["found"], "the bytes differ; the judged metrics do not"
    assert file["note"] == "same metrics; not judged: host*"


def test_the_gem5_example_manifests_validate_and_plan_offline(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    shutil.copytree(CHECKOUT / "examples" / "gem5", lab, ignore=made_resources)
    make_repo(lab)
    # The full-system manifests mount what build-fs-resources.sh makes.
    (lab / "resources" / "vmlinux").write_bytes(b"\x7fELF stand-in kernel")
    (lab / "resources" / "disk.img").write_bytes(b"\0" * 4096)
    (lab / "resources" / "chase").write_bytes(b"\x7fELF stand-in chase")
    project = Project(root=lab)
    project.commit("the gem5 example")

    validated = project.repro("validate", "se-sweep.yaml", "fs-boot.yaml", "restore-sweep.yaml")
    assert validated.code == 0, validated.err
    assert "se-sweep.yaml: gem5-se-cache, 9 points" in validated.err
    assert "fs-boot.yaml: gem5-fs-boot, 1 point" in validated.err
    assert "restore-sweep.yaml: gem5-fs-restore, 9 points" in validated.err
    se = project.repro("run", "se-sweep.yaml", "--dry-run", "--json")
    assert se.code == 0, se.err
    labels = [point["label"] for point in se.json["points"]]
    assert labels[:2] == ["cpu=timing,l1d=16KiB", "cpu=timing,l1d=32KiB"]
    assert len({point["key"] for point in se.json["points"]}) == 9
    fs = project.repro("run", "fs-boot.yaml", "--dry-run")
    assert fs.code == 0, fs.err
    assert "1 would run" in fs.err
    restore = project.repro("run", "restore-sweep.yaml", "--set", "cpu=[timing,o3]", "--dry-run")
    assert restore.code == 0, restore.err
    assert "6 would run after 1 upstream point (fs-boot.yaml" in restore.err
    assert restore.out.count("waits on fs-boot.yaml") == 6, restore.out
