"""devices: [/dev/kvm] — the one host device a container may be given (gem5's KVM CPU): opened
inside a busybox container when the manifest asks for it, recorded, not in the point key, and
refused in one line for a user who cannot open it on the host (it is root's alone here)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from repro.store import Status, Store
from tests.conftest import Project
from tests.e2e.conftest import User

pytestmark = pytest.mark.docker

KVM = Path("/dev/kvm")
OPEN = "test -c /dev/kvm && exec 3<>/dev/kvm && echo opened > /out/kvm.txt"


def kvm_is_roots_alone() -> None:
    if not KVM.exists():
        pytest.fail("these tests need /dev/kvm on the host (a CPU with KVM, or nested virtualisation)")
    mode = KVM.stat()
    assert stat.S_ISCHR(mode.st_mode)
    assert (mode.st_uid, stat.S_IMODE(mode.st_mode) & 0o066) == (0, 0), "the refusal test needs a root-only /dev/kvm"


def test_a_container_opens_kvm_when_the_manifest_asks_for_it(docker_project: Project) -> None:
    assert os.geteuid() == 0, "the suite runs as root (as CI does); /dev/kvm is root's alone"
    kvm_is_roots_alone()
    project = docker_project
    project.manifest("kvm.yaml", command=["sh", "-c", OPEN], devices=["/dev/kvm"])
    project.manifest("plain.yaml", command=["sh", "-c", OPEN + " # without the device"])
    project.commit()

    assert project.repro("run", "kvm.yaml").code == 0
    assert project.repro("run", "plain.yaml").code == 1  # no device node in a container by default

    store = Store(project.store)
    # Told apart by what they are: two runs in one second have ids in no time order.
    loaded = [store.load(row.id) for row in store.runs()]
    (kvm,) = [r for r in loaded if r.container.devices]
    (plain,) = [r for r in loaded if not r.container.devices]
    assert (kvm.status, plain.status) == (Status.SUCCEEDED, Status.FAILED)
    assert (project.store / "runs" / kvm.id / "outputs" / "kvm.txt").read_text() == "opened\n"
    assert kvm.container.devices == ["/dev/kvm"]
    raw = json.loads((project.store / "runs" / plain.id / "record.json").read_text())
    assert "devices" not in raw["container"], "a record without devices reads as before"
    # Recorded, not keyed: the same experiment with or without the device is the same point.
    project.manifest("kvm.yaml", command=["sh", "-c", OPEN])
    project.commit("no device")
    assert "0 would run, 1 already succeeded" in project.repro("run", "kvm.yaml", "--dry-run").err


def test_kvm_is_refused_in_one_line_for_a_user_who_cannot_open_it(nonroot_project: Project, nonroot_user: User) -> None:
    kvm_is_roots_alone()
    project = nonroot_project
    project.manifest("kvm.yaml", command=["sh", "-c", OPEN], devices=["/dev/kvm"])
    nonroot_user.own(project.root)  # the manifest was written as root

    result = nonroot_user.run([str(nonroot_user.repro), "run", "kvm.yaml"], cwd=project.root)

    assert result.returncode == 2, result.stderr
    line = (project.root / "kvm.yaml").read_text().splitlines().index("devices:") + 2
    assert result.stderr.strip().splitlines() == [
        f"repro: error: kvm.yaml:{line}: devices[0]: /dev/kvm: you (uid {nonroot_user.uid}) cannot open it "
        "(crw------- root:root); ask an administrator for access, or leave devices out"
    ]
    assert not (project.store / "runs").exists() or not any((project.store / "runs").iterdir())
