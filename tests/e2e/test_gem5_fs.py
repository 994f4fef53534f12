"""examples/gem5's full system on the real gem5 kit, as labs run it: the example's own script makes
the kernel, initramfs and disk image offline; fs-boot.yaml boots once to a checkpoint; the 2x2
corner of restore-sweep.yaml restores it through `repro run` (each point naming the boot run),
with the physics checked; `repro verify` reproduces a restored point; a checkpoint that lacks
one of gem5's version tags fails its restore; a kernel panic fails its boot.

Time is what these cost (a boot is minutes of gem5 at -O0), so the session boots once and every
test here reuses that boot; the panicking boot runs beside it. Select them with `-m gem5_fs`.
Without the gem5 kit they fail and say where to put one, as test_gem5.py does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import yaml

from repro.provenance.hashing import hash_tree
from repro.results.metrics import read_metrics
from repro.store import Status, Store
from repro.store.record import RunRecord
from tests.conftest import CHECKOUT, SHARED, Project, made_resources, make_repo

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.gem5_fs]

KITS = sorted((SHARED / "gem5").glob("gem5-v24.0.0.1-x86*.tar.xz"))
IPC = "board.processor.switch.core.ipc"
INSTS = "board.processor.switch.core.commitStats0.numInsts"
L1D = "board.cache_hierarchy.l1d-cache-0"
CORNER = ("--set", "cpu=[timing,o3]", "--set", "l1d=[16KiB,64KiB]")


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _script(lab: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(lab / args[0]), *args[1:]], cwd=lab, env=_env(), capture_output=True, text=True, timeout=3600
    )


def _miss_rate(dump: Mapping[str, object]) -> float:
    """The L1D's miss rate in the region (gem5 leaves out a statistic that is zero: no misses)."""
    misses, accesses = dump.get(f"{L1D}.overallMisses::total", 0.0), dump[f"{L1D}.overallAccesses::total"]
    assert isinstance(misses, int | float)
    assert isinstance(accesses, int | float)
    assert accesses > 0
    return misses / accesses


def _only(store: Store, name: str) -> RunRecord:
    (row,) = [row for row in store.runs() if row.name == name]
    return store.load(row.id)


@dataclass
class Boot:
    lab: Project
    boot: RunRecord
    panic: RunRecord


@pytest.fixture(scope="session")
def fs_lab(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Project:
    """A lab repository holding a copy of examples/gem5: the image built from the kit and pinned,
    the full-system resources made by the example's script."""
    if not KITS:
        pytest.fail(
            f"no gem5 kit (gem5-v24.0.0.1-x86*.tar.xz) in {SHARED / 'gem5'}: these tests run a real gem5 "
            "built from one; put it there, or set $REPRO_SHARED to the folder holding gem5/",
            pytrace=False,
        )
    lab = tmp_path_factory.mktemp("gem5-fs") / "lab"
    shutil.copytree(CHECKOUT / "examples" / "gem5", lab, ignore=made_resources)
    make_repo(lab)
    built = _script(lab, "build-image.sh", str(KITS[0]))
    assert built.returncode == 0, built.stdout + built.stderr
    made = _script(lab, "build-fs-resources.sh")
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    shutil.rmtree(lab / "resources" / "build")  # the kernel's build tree: a gigabyte, not needed again
    project = Project(root=lab)
    project.commit("the gem5 example, pinned, with its full-system resources made")
    return project


@pytest.fixture(scope="session")
def fs_boot(fs_lab: Project) -> Boot:
    """The boot to a checkpoint, and beside it a boot whose init program does not exist."""
    text = (fs_lab.root / "fs-boot.yaml").read_text()
    # Without the initramfs's program the kernel would try its default ones (/bin/sh is busybox);
    # an init= that does not exist either is a panic: "Requested init /no-such-init failed".
    panic = text.replace("name: gem5-fs-boot", "name: gem5-fs-panic").replace(
        "  - --mem=64MiB", "  - --rdinit=/no-such-init\n  - --kernel-arg=init=/no-such-init\n  - --mem=64MiB"
    )
    assert panic != text
    fs_lab.write("panic.yaml", panic)
    fs_lab.commit("a boot that panics")
    runs = [fs_lab.spawn("run", name) for name in ("fs-boot.yaml", "panic.yaml")]
    for process in runs:
        _, err = process.communicate(timeout=7200)
        assert process.returncode in (0, 1), err
    store = Store(fs_lab.store)
    return Boot(lab=fs_lab, boot=_only(store, "gem5-fs-boot"), panic=_only(store, "gem5-fs-panic"))


@pytest.fixture(scope="session")
def fs_sweep(fs_boot: Boot) -> dict[tuple[str, str], RunRecord]:
    """The CPU {timing, o3} x L1D {16KiB, 64KiB} corner of the restored sweep, two at a time."""
    assert fs_boot.boot.status is Status.SUCCEEDED, fs_boot.boot.error
    result = fs_boot.lab.repro("run", "restore-sweep.yaml", *CORNER, "-j", "2")
    assert result.code == 0, result.err
    store = Store(fs_boot.lab.store)
    records = [store.load(row.id) for row in store.runs() if row.name == "gem5-fs-restore"]
    return {(str(r.point.params["cpu"]), str(r.point.params["l1d"])): r for r in records}


def test_the_resources_are_made_offline_once_and_hashed_as_the_boots_inputs(fs_boot: Boot) -> None:
    resources = fs_boot.lab.root / "resources"
    lines = (resources / "SHA256SUMS").read_text().splitlines()
    sums = {name: digest for digest, name in (line.split() for line in lines)}
    assert set(sums) == {"vmlinux", "disk.img", "chase", "kernel.config"}
    for name, digest in sums.items():
        assert hash_tree(resources / name).files[0].sha256 == digest, name
    assert (resources / "disk.img").read_bytes() == bytes(1 << 20), "the board's disk: 1 MiB of zeros"
    vmlinux = (resources / "vmlinux").read_bytes()
    assert vmlinux[:4] == b"\x7fELF"
    assert re.search(rb"Linux version 6\.1\.\d+ \(repro@repro\) .* #1 2024-01-01 00:00:00 UTC", vmlinux)
    inputs = {entry.target: entry for entry in fs_boot.boot.inputs}
    for name in ("vmlinux", "disk.img"):
        assert inputs[f"/resources/{name}"].digest == hash_tree(resources / name).digest, name

    before = (resources / "vmlinux").stat().st_mtime_ns
    again = _script(fs_boot.lab.root, "build-fs-resources.sh")

    assert again.returncode == 0, again.stderr
    assert "resources/ is up to date" in again.stdout
    assert (resources / "vmlinux").stat().st_mtime_ns == before, "nothing was rebuilt"


def test_the_boot_ends_with_a_checkpoint_its_console_and_its_statistics(fs_boot: Boot) -> None:
    record = fs_boot.boot
    assert record.status is Status.SUCCEEDED, record.error
    assert record.outputs is not None
    paths = {entry.path for entry in record.outputs.files}
    (checkpoint,) = {p.split("/")[1] for p in paths if re.fullmatch(r"m5out/cpt\.\d+/m5\.cpt", p)}
    assert any(p.startswith(f"m5out/{checkpoint}/") and p.endswith(".pmem") for p in paths), "the memory"
    outputs = Store(fs_boot.lab.store).run_folder(record.id).outputs
    console = (outputs / "m5out" / "board.pc.com_1.device").read_text()
    assert "Linux version 6.1" in console
    assert "repro-gem5-fs: checkpoint" in console
    assert "Kernel panic" not in console
    (dump,) = read_metrics(outputs / "m5out" / "stats.txt", "gem5-stats")
    assert isinstance(dump["simInsts"], float)
    assert dump["simInsts"] > 1_000_000


def test_a_kernel_panic_fails_the_boot_on_its_console_line_not_at_the_timeout(fs_boot: Boot) -> None:
    record = fs_boot.panic
    assert record.status is Status.FAILED, "not TIMEOUT: the config ended the simulation on the panic"
    assert record.exit_code == 0, "gem5 exits 0, as after its own kernel-panic exit"
    assert record.error is not None
    assert record.error.startswith("m5out/board.pc.com_1.device:")
    assert "matches fail_on 'Kernel panic'" in record.error
    assert "Kernel panic - not syncing: Requested init /no-such-init failed" in record.error
    assert not (fs_boot.lab.store / "points" / f"{record.point.key}.json").exists()


def test_the_restored_sweep_names_its_boot_and_shows_the_cache_and_the_cpu(
    fs_boot: Boot, fs_sweep: dict[tuple[str, str], RunRecord]
) -> None:
    assert set(fs_sweep) == {(cpu, l1d) for cpu in ("timing", "o3") for l1d in ("16KiB", "64KiB")}
    store = Store(fs_boot.lab.store)
    stats = {}
    for point, record in fs_sweep.items():
        assert record.status is Status.SUCCEEDED, (point, record.error)
        (checkpoint,) = [entry for entry in record.inputs if entry.target == "/cpt"]
        assert checkpoint.upstream_run == fs_boot.boot.id, "the record names the boot it restored"
        dumps = read_metrics(store.run_folder(record.id).outputs / "m5out" / "stats.txt", "gem5-stats")
        assert len(dumps) == 1, "one dump, the region's: the simulation ends right after it"
        stats[point] = dumps[0]
        console = (store.run_folder(record.id).outputs / "m5out" / "board.pc.com_1.device").read_text()
        assert "repro-gem5-fs: after the checkpoint" in console, "the guest went on from its checkpoint"
    regions = [dump[INSTS] for dump in stats.values()]
    assert all(isinstance(n, float) and 80_000 < n < 84_000 for n in regions), "the region: 40 laps of 512 steps"
    assert max(regions) - min(regions) <= 2, "every point measured the same region, on whichever CPU"  # type: ignore[operator]
    for cpu in ("timing", "o3"):
        small, large = _miss_rate(stats[(cpu, "16KiB")]), _miss_rate(stats[(cpu, "64KiB")])
        assert large <= small, f"{cpu}: a larger L1D never raises the miss rate"
    assert _miss_rate(stats[("timing", "64KiB")]) < 0.5 * _miss_rate(stats[("timing", "16KiB")]), (
        "the 32 KiB chase fits in 64 KiB, not in 16 KiB"
    )
    for l1d in ("16KiB", "64KiB"):
        o3, timing = stats[("o3", l1d)][IPC], stats[("timing", l1d)][IPC]
        assert isinstance(o3, float)
        assert isinstance(timing, float)
        assert o3 > timing, f"{l1d}: the out-of-order CPU overlaps what the timing CPU waits for"


def test_the_restored_sweeps_claims_hold(fs_boot: Boot, fs_sweep: dict[tuple[str, str], RunRecord]) -> None:
    assert len(fs_sweep) == 4

    claims = fs_boot.lab.repro("claims", "--claims-file", "fs-claims.yaml")

    assert claims.code == 0, claims.out + claims.err
    assert "3 claims: 3 hold" in claims.err


def test_verify_reproduces_a_restored_point(fs_boot: Boot, fs_sweep: dict[tuple[str, str], RunRecord]) -> None:
    record = fs_sweep[("timing", "16KiB")]

    verified = fs_boot.lab.repro("verify", record.id, "--json")

    assert verified.code == 0, verified.err
    (verdict,) = verified.json
    assert verdict["verdict"] == "reproduced"
    files = {f["path"]: f for f in verdict["files"]}
    assert files["m5out/stats.txt"]["state"] == "identical"
    assert files["m5out/board.pc.com_1.device"]["state"] == "identical"


def _tags(m5_cpt: Path) -> list[str]:
    """The version tags a checkpoint says its gem5 had."""
    match = re.search(r"^version_tags=(.*)$", m5_cpt.read_text(), re.MULTILINE)
    assert match is not None, m5_cpt
    return match[1].split()


def test_a_checkpoint_missing_a_version_tag_fails_its_restore(fs_boot: Boot) -> None:
    lab = fs_boot.lab
    # An upstream run whose checkpoint a gem5 without one of its version tags would have written:
    # the boot's checkpoint, copied, with the last tag taken off its [Globals] version_tags.
    boot = yaml.safe_load((lab.root / "fs-boot.yaml").read_text())
    copy = (
        "mkdir -p /out/m5out && cp -r /boot /out/m5out/cpt.1 && chmod -R u+w /out/m5out/cpt.1 && "
        "sed -i -E '/^version_tags=/s/ [^ ]+$//' /out/m5out/cpt.1/m5.cpt"
    )
    planted = {
        "version": 1,
        "name": "gem5-fs-planted",
        "image": boot["image"],
        "command": ["sh", "-c", copy],
        "mounts": [{"from": {"manifest": "fs-boot.yaml", "path": "m5out/cpt.*"}, "target": "/boot"}],
    }
    lab.write("planted.yaml", yaml.safe_dump(planted, sort_keys=False))
    restore = (lab.root / "restore-sweep.yaml").read_text()
    lab.write(
        "planted-restore.yaml",
        restore.replace("name: gem5-fs-restore", "name: gem5-fs-planted-restore").replace(
            "manifest: fs-boot.yaml", "manifest: planted.yaml"
        ),
    )
    lab.commit("a checkpoint missing a version tag")

    result = lab.repro("run", "planted-restore.yaml", "--set", "cpu=timing", "--set", "l1d=16KiB")

    assert result.code == 1
    store = Store(lab.store)
    planted_run = _only(store, "gem5-fs-planted")
    assert planted_run.status is Status.SUCCEEDED, planted_run.error
    (original,) = (store.run_folder(fs_boot.boot.id).outputs / "m5out").glob("cpt.*/m5.cpt")
    assert _tags(store.run_folder(planted_run.id).outputs / "m5out" / "cpt.1" / "m5.cpt") == _tags(original)[:-1]
    record = _only(store, "gem5-fs-planted-restore")
    assert record.status is Status.FAILED
    (checkpoint,) = [entry for entry in record.inputs if entry.target == "/cpt"]
    assert checkpoint.upstream_run == planted_run.id
    assert record.error is not None
    assert record.error.startswith("stderr:")
    assert "matches fail_on 'missing the following version tags'" in record.error
