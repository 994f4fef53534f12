"""scripts/clean-engine empties an engine of what the tests, examples and benchmarks made, and
of nothing else. Run here on an engine of the test's own (root Podman with a private storage,
answering as `docker`): the machine's engine is shared, and this removes things."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT
from tests.e2e.conftest import Podman
from tests.images import busybox_image

pytestmark = pytest.mark.docker

SCRIPT = CHECKOUT / "scripts" / "clean-engine"


def plain_image(podman: Podman, tmp_path: Path, *names: str) -> str:
    """An image without labels (as `docker import` makes one), with these names; its ID."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = len(names[0])
        tar.addfile(info, io.BytesIO(names[0].encode()))
    archive = tmp_path / f"{len(list(tmp_path.iterdir()))}.tar"
    archive.write_bytes(buffer.getvalue())
    imported = podman.run("import", "--quiet", str(archive), names[0])
    assert imported.returncode == 0, imported.stderr
    for name in names[1:]:
        assert podman.run("tag", names[0], name).returncode == 0
    return imported.stdout.strip().removeprefix("sha256:")


def clean(podman: Podman, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script, with `docker` on its PATH being ``podman`` (and no test users to visit)."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    docker = fake / "docker"
    docker.write_text(
        f'#!/bin/sh\nexec podman --root {podman.root}/storage --runroot {podman.root}/run --storage-driver vfs "$@"\n'
    )
    docker.chmod(0o755)
    env = {"PATH": f"{fake}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "REPRO_CLEAN_USERS": ""}
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300)


def names(podman: Podman, what: str) -> set[str]:
    listed = podman.run(*what.split(), "--format", "{{.Names}}" if what.startswith("ps") else "{{.Name}}")
    assert listed.returncode == 0, listed.stderr
    return set(listed.stdout.split())


def test_clean_engine_removes_what_the_tests_made_and_nothing_else(private_podman: Podman, tmp_path: Path) -> None:
    podman = private_podman
    archive = tmp_path / "busybox.tar"
    archive.write_bytes(busybox_image().archive("repro-test/busybox:1"))
    assert podman.run("load", "--quiet", "--input", str(archive)).returncode == 0
    example = plain_image(podman, tmp_path, "repro-example/made:1")
    pushed = plain_image(podman, tmp_path, "127.0.0.1:5000/lab/pushed:v1")
    shared = plain_image(podman, tmp_path, "repro-test/also-mine:1", "mine/keep:1")
    theirs = plain_image(podman, tmp_path, "mine/other:1")
    for args in (
        ["--name", "point", "--label", "org.repro.run=r1", theirs],  # a point's (labels say so)
        ["--name", "from-example", example],  # made from an image that goes
        ["--name", "user-own", theirs],
    ):
        assert podman.run("create", "--network", "none", *args, "true").returncode == 0
    for args in (["--label", "org.repro.store=/s", "repro-volume"], ["user-volume"]):
        assert podman.run("volume", "create", *args).returncode == 0
    before = podman.image_ids()

    dry = clean(podman, tmp_path, "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert podman.image_ids() == before, "a dry run removes nothing"
    assert "clean-engine: dry run: nothing was removed" in dry.stdout
    for shown in ("would remove container", "point", "from-example", "repro-test/busybox:1", example, "repro-volume"):
        assert shown in dry.stdout

    done = clean(podman, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("  removed ") == dry.stdout.count("  would remove ")
    assert podman.image_ids() == {f"sha256:{shared}", f"sha256:{theirs}"}
    assert f"removed image {pushed} 127.0.0.1:5000/lab/pushed:v1" in done.stdout
    assert "removed tag localhost/repro-test/also-mine:1 (the image keeps its other tags)" in done.stdout
    tags = podman.run("image", "inspect", "--format", "{{range .RepoTags}}{{.}} {{end}}", shared).stdout.split()
    assert tags == ["localhost/mine/keep:1"], "a user's tag on an image of the tests stays"
    assert names(podman, "ps --all") == {"user-own"}
    assert names(podman, "volume ls") == {"user-volume"}
    again = clean(podman, tmp_path)
    assert "nothing of the tests', examples' or benchmarks' is here" in again.stdout
