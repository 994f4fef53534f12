"""Modes a container chooses do not survive into the store, whoever runs what.

A point tries every mode an attacker would leave for others on the host — files ``chmod 666``
and ``777``, a folder made ``mkdir -m 777``, a setgid folder, a sticky world-writable folder,
a setuid program — run by root and by a user who is not, in a container running as the driver's
user and as root. Afterwards nothing in the store is writable by everyone or carries a privilege
bit, fsck finds every file as recorded, and the record names each entry and what was done.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from repro.store import Store
from tests.conftest import Project
from tests.e2e.conftest import User

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HOSTILE = "; ".join(
    [
        "cd /out",
        "echo f > f && chmod 666 f",
        "echo x > x && chmod 777 x",
        "mkdir -m 777 d && echo g > d/g && chmod 666 d/g",
        "mkdir sg && chmod 2775 sg && echo s > sg/s",
        "mkdir t && chmod 1777 t && echo u > t/u",
        "cp /bin/busybox su && chmod 4755 su",
        "mkdir p && cp /bin/busybox p/su && chmod 4755 p/su",
    ]
)
NAMED = {"f", "x", "d/", "t/", "su"}
"""The entries whose modes the record must say something about (a setgid folder only passes on
its group: cleared, and harmless)."""


def reachable(path: Path, store: Path) -> bool:
    """Whether a user who is neither the owner nor in the group can reach ``path``: every folder on
    the way, from the store down, lets others through."""
    return all(
        folder.stat().st_mode & stat.S_IXOTH for folder in [store, *path.parents] if folder.is_relative_to(store)
    )


def unsafe(store: Path) -> list[Path]:
    """Entries of the store writable by everyone or carrying a privilege bit."""
    found = []
    for path in [store, *store.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & stat.S_IWOTH or mode & (stat.S_ISUID | stat.S_ISVTX) or (stat.S_ISREG(mode) and mode & stat.S_ISGID):
            found.append(path)
    return found


def check_store(store: Path) -> list[str]:
    """Nothing in the store that others can reach is writable by everyone or privileged; returns
    what the record says was done."""
    offending = [
        f"{p.relative_to(store)}: {stat.filemode(p.lstat().st_mode)}" for p in unsafe(store) if reachable(p, store)
    ]
    assert not offending, offending
    (run,) = (store / "runs").iterdir()
    record = json.loads((run / "record.json").read_text())
    assert record["status"] == "succeeded", record.get("error")
    said: list[str] = record["outputs"]["privileges_removed"]
    assert {line.split(":")[0] for line in said} >= NAMED, said
    return said


@pytest.mark.parametrize("user", ["host", "root"])
def test_a_root_driver_leaves_nothing_writable_by_everyone(docker_project: Project, user: str) -> None:
    project = docker_project
    project.manifest(user=user, command=["sh", "-c", HOSTILE])
    project.commit("hostile modes")

    ran = project.repro("run", "exp.yaml")

    assert ran.code == 0, ran.err
    said = check_store(project.store)
    assert unsafe(project.store) == []
    assert all(line.endswith("cleared") for line in said), "root changes what it finds"
    (run,) = Store(project.store).runs()
    outputs = Store(project.store).run_folder(run.id).outputs
    assert stat.S_IMODE((outputs / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((outputs / "su").stat().st_mode) == 0o555
    assert project.repro("fsck").code == 0


@pytest.mark.parametrize("user", ["host", "root"])
def test_a_driver_that_is_not_root_leaves_nothing_writable_by_everyone(
    nonroot_project: Project, nonroot_user: User, user: str
) -> None:
    project = nonroot_project
    project.manifest(user=user, command=["sh", "-c", HOSTILE])
    nonroot_user.own(project.root)  # the manifest was written as root

    ran = nonroot_user.run([str(nonroot_user.repro), "run", "exp.yaml"], cwd=project.root)

    assert ran.returncode == 0, ran.stderr
    said = check_store(project.store)
    outputs = next((project.store / "runs").iterdir()) / "outputs"
    if user == "root":  # root's entries are not the driver's to change: the risky ones go, or are closed off
        assert not (outputs / "f").exists()
        assert not (outputs / "d").exists()
        stuck = {p.relative_to(outputs).as_posix() for p in unsafe(project.store)}
        assert stuck == {"t", "p/su"}, "root's, in root's folders: neither changeable nor removable by the driver"
        assert stat.S_IMODE(outputs.stat().st_mode) == 0o700
        assert any(line.startswith("./: closed to all but its owner") for line in said), said
    else:
        assert unsafe(project.store) == []
        assert all(line.endswith("cleared") for line in said), said
        assert all(p.lstat().st_uid == nonroot_user.uid for p in outputs.rglob("*"))
    checked = nonroot_user.run([str(nonroot_user.repro), "fsck"], cwd=project.root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert os.access(project.store, os.R_OK)
