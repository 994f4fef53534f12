"""Outputs belong to the user who ran the experiment, not to root."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project
from tests.e2e.conftest import User

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_outputs_are_owned_by_the_invoking_non_root_user(nonroot_project: Project, nonroot_user: User) -> None:
    project = nonroot_project
    project.manifest(command=["sh", "-c", "id -u > /out/uid; mkdir /out/sub; echo x > /out/sub/file; touch $HOME/ok"])
    nonroot_user.own(project.root)  # the manifest was written as root
    result = nonroot_user.run([str(nonroot_user.repro), "run", "exp.yaml"], cwd=project.root)
    assert result.returncode == 0, result.stderr
    (folder,) = (project.store / "runs").iterdir()
    record = json.loads((folder / "record.json").read_text())
    assert record["container"]["user"] == f"{nonroot_user.uid}:{nonroot_user.gid}"
    assert (folder / "outputs" / "uid").read_text().strip() == str(nonroot_user.uid)
    for path in [folder, *folder.rglob("*")]:
        owner = path.stat()
        assert (owner.st_uid, owner.st_gid) == (nonroot_user.uid, nonroot_user.gid), path
