"""repro shell: a terminal in a point's environment, driven here through a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import docker
import pytest

from repro.store import Store
from tests.conftest import Project
from tests.e2e.conftest import repro_containers

pytestmark = pytest.mark.docker


def read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {marker!r} in {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_a_shell_runs_in_the_points_environment_and_leaves_nothing(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    project.write("data/hello.txt", "from the mount\n")
    project.manifest(
        command=["sh", "-c", "true"],
        params={"size": 7},
        env={"SIZE": "{size}"},
        mounts=[{"source": "./data", "target": "/data"}],
        workdir="/data",
    )
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "repro", "shell", "exp.yaml"],
        cwd=project.root,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        banner = read_until(main, b"# " if os.getuid() == 0 else b"$ ")  # the shell's prompt
        if b"\x1b[6n" in banner:  # busybox asks the terminal where the cursor is: answer like one
            os.write(main, b"\x1b[1;1R")
        os.write(main, b"echo size=$SIZE uid=$(id -u) in=$(pwd); cat hello.txt; echo done-$((40+2))\n")
        output = read_until(main, b"done-42")
        assert b"size=7" in output
        assert f"uid={os.getuid()}".encode() in output
        assert b"in=/data" in output
        assert b"from the mount" in output
        # $((40+2)): the terminal echoes the typed line, which must not be what is found.
        os.write(main, b"touch /data/x 2>/dev/null || echo read-only-$((40+2)); exit 3\n")
        output = read_until(main, b"read-only-42")
        assert b"read-only-42" in output, "the mount is read-only"
        assert process.wait(timeout=60) == 3
    finally:
        process.kill()
        os.close(main)
    assert repro_containers(docker_client, project.store) == []
    assert Store(project.store).runs() == [], "a shell is never a run"
    (session_file,) = (project.store / "shells").glob("*.json")
    session = json.loads(session_file.read_text())
    assert session["kind"] == "shell"
    assert session["exit_code"] == 3
    assert session["params"] == {"size": 7}


def test_a_sweep_needs_a_chosen_point(docker_project: Project) -> None:
    project = docker_project
    project.manifest(sweep={"n": [1, 2]}, command=["echo", "{n}"])
    result = project.repro("shell", "exp.yaml")
    assert result.code == 2
    assert "has 2 points: choose one with --set" in result.err
