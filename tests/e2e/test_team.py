"""A lab's store: two unprivileged users of one group, each on rootless Podman, running into one
shared store (`repro init --shared`) and reading each other's runs."""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import yaml

from repro.store import Status, Store
from tests.conftest import Image, make_repo, wait_for
from tests.e2e.conftest import Output, User, gated, load_into_podman, make_user, podman_gates_opened

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GROUP = "repro-lab"


@dataclass(frozen=True)
class Lab:
    ann: User
    bob: User
    store: Path
    folder: Path
    image_id: str

    def project(self, user: User, sweep: list[int]) -> Path:
        """``user``'s own clone of the lab's experiment (committed), with this sweep."""
        root = self.folder / user.name
        make_repo(root)
        (root / "exp.yaml").write_text(yaml.safe_dump(self.manifest(sweep), sort_keys=False))
        for args in (["add", "-A"], ["commit", "-q", "-m", f"sweep {sweep}"]):
            subprocess.run(["git", *args], cwd=root, check=True)
        user.own(root)
        return root

    def manifest(self, sweep: list[int]) -> dict[str, object]:
        return {
            "version": 1,
            "name": "lab-sweep",
            "image": {"name": "repro-test/busybox:1", "id": self.image_id},
            "command": gated(after="echo {n} > /out/n; echo ran {n}"),  # ends when the test lets it
            "sweep": {"n": sweep},
        }


def repro(user: User, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return user.run([str(user.repro), "--runtime", "podman", *args], cwd=cwd, timeout=600)


@pytest.fixture
def lab(nonroot_user: User, busybox: Image, docker_client: docker.DockerClient) -> Iterator[Lab]:
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", GROUP], check=True)
    ann, bob = (make_user(name, nonroot_user.repro, (GROUP,)) for name in ("repro-ann", "repro-bob"))
    for user in (ann, bob):
        load_into_podman(user, docker_client, busybox.id)
    folder = Path(tempfile.mkdtemp(prefix="repro-lab-", dir="/tmp"))
    folder.chmod(0o1777)  # like /tmp: each makes their own things in it
    shared = folder / "store"
    yield Lab(ann=ann, bob=bob, store=shared, folder=folder, image_id=busybox.id)
    for user in (ann, bob):
        user.run(["podman", "rm", "--all", "--force"], cwd=user.runtime_dir)
    shutil.rmtree(folder, ignore_errors=True)


def test_two_users_of_a_group_share_one_store_and_each_point_runs_once(lab: Lab) -> None:
    made = repro(lab.ann, lab.folder, "init", str(lab.store), "--shared", GROUP)
    assert made.returncode == 0, made.stderr
    again = repro(lab.bob, lab.folder, "init", str(lab.store), "--shared", GROUP)
    assert again.returncode == 2
    assert "a store is already at" in again.stderr

    # Both start the same sweep at once: each point runs once, whoever takes its lease.
    ann_project, bob_project = lab.project(lab.ann, [1, 2]), lab.project(lab.bob, [1, 2])
    started = [
        Output(
            user.spawn(
                [str(user.repro), "--runtime", "podman", "--store", str(lab.store), "run", "exp.yaml", "-j", "2"], cwd
            )
        )
        for user, cwd in ((lab.ann, ann_project), (lab.bob, bob_project))
    ]
    try:
        # Four jobs for two points, none of which ends before the test lets it: whoever comes
        # second finds a point's lease held by the other, and says so.
        wait_for(lambda: any("runs elsewhere (pid" in process.err for process in started), 300)
        with podman_gates_opened(lab.ann, lab.store), podman_gates_opened(lab.bob, lab.store):
            for process in started:
                assert process.wait() == 0, process.err
    finally:
        for process in started:
            process.stop()
    store = Store(lab.store)
    first = list(store.records())
    assert len(first) == 2, "a point ran twice"
    assert all(record.status is Status.SUCCEEDED for record in first)
    members = {("repro-ann", lab.ann.uid), ("repro-bob", lab.bob.uid)}
    for record in first:  # whoever took a point's lease ran it, and its record says so
        assert record.user is not None, f"{record.id} does not say who ran it"
        assert (record.user.name, record.user.uid) in members, record.user

    # Bob widens the sweep: only the new point runs, in his name.
    (bob_project / "exp.yaml").write_text(yaml.safe_dump(lab.manifest([1, 2, 3]), sort_keys=False))
    lab.bob.run(["git", "commit", "-q", "-am", "sweep [1, 2, 3]"], cwd=bob_project)
    with podman_gates_opened(lab.bob, lab.store):
        widened = repro(lab.bob, bob_project, "--store", str(lab.store), "run", "exp.yaml")
    assert widened.returncode == 0, widened.stderr
    assert "2 already succeeded" in widened.stderr

    # Ann reads everything, Bob's new run included, and finds runs by who ran them.
    listed = repro(lab.ann, ann_project, "--store", str(lab.store), "log", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert sorted(run["point"]["params"]["n"] for run in runs) == [1, 2, 3]
    (bobs_new,) = [run for run in runs if run["point"]["params"]["n"] == 3]
    assert bobs_new["user"] == {"name": "repro-bob", "uid": lab.bob.uid}
    by_bob = repro(lab.ann, ann_project, "--store", str(lab.store), "log", "--user", "repro-bob", "--json")
    assert bobs_new["id"] in [run["id"] for run in json.loads(by_bob.stdout)]
    shown = repro(lab.ann, ann_project, "--store", str(lab.store), "show", bobs_new["id"])
    assert shown.returncode == 0, shown.stderr
    assert f"user       repro-bob (uid {lab.bob.uid})" in shown.stdout
    logs = repro(lab.ann, ann_project, "--store", str(lab.store), "logs", bobs_new["id"])
    assert logs.stdout == "ran 3\n"
    read = lab.ann.run(["cat", str(lab.store / "runs" / bobs_new["id"] / "outputs" / "n")], cwd=ann_project)
    assert read.stdout == "3\n"
    fsck = repro(lab.ann, ann_project, "--store", str(lab.store), "fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr

    # Everything in the store is the group's, and stays writable by it where it must be.
    gid = grp.getgrnam(GROUP).gr_gid
    for path in [lab.store, *lab.store.rglob("*")]:
        facts = path.lstat()
        if stat.S_ISDIR(facts.st_mode) and "outputs" not in path.parts:
            assert facts.st_gid == gid, path
            assert facts.st_mode & 0o2070 == 0o2070, f"{path}: {oct(facts.st_mode)}"
        elif stat.S_ISREG(facts.st_mode) and "outputs" not in path.parts:
            assert facts.st_mode & 0o040, f"{path} is not readable by the group"
    for writable in [lab.store / "index.sqlite", *(lab.store / "leases").iterdir(), *(lab.store / "points").iterdir()]:
        assert os.stat(writable).st_mode & 0o020, f"{writable} is not writable by the group"
