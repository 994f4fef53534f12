"""Bad input through `repro run`: exit 2, one line per problem naming file:line: field, and
no container is ever created."""

from __future__ import annotations

import time

import docker
import pytest

from tests.conftest import Project

pytestmark = pytest.mark.docker

CASES = {
    "unknown key": ({"colour": "blue"}, "colour: unknown key"),
    "wrong type": ({"resources": {"cpus": "many"}}, "resources.cpus: "),
    "bare tag": ({"image": "repro-test/busybox:1"}, "image: image 'repro-test/busybox:1' is not pinned"),
    "unknown placeholder": ({"command": ["echo", "{nope}"]}, "command[1]: unknown placeholder {nope}"),
    "missing source": (
        {"mounts": [{"source": "./absent", "target": "/a"}]},
        "mounts[0].source: ./absent does not exist",
    ),
    "escaping source": ({"mounts": [{"source": "../", "target": "/a"}]}, "mounts[0].source: ../ escapes"),
    "sensitive mount": (
        {"mounts": [{"source": "/etc", "target": "/a"}]},
        "mounts[0].source: /etc is sensitive",
    ),
    "docker socket": (
        {"mounts": [{"source": "/var/run/docker.sock", "target": "/a"}]},
        "mounts[0].source: /var/run/docker.sock is sensitive",
    ),
    "two mounts on one target": (
        {"mounts": [{"source": ".", "target": "/a"}, {"source": ".", "target": "/a"}]},
        "mounts[1].target: /a is already the target of mounts[0]",
    ),
}


def test_invalid_manifests_exit_2_name_the_line_and_start_no_container(
    docker_project: Project, docker_client: docker.DockerClient
) -> None:
    project = docker_project
    since = int(time.time()) - 1
    for name, (fields, expected) in CASES.items():
        path = project.manifest(f"{name.replace(' ', '-')}.yaml", **fields)
        result = project.repro("run", path.name)
        assert result.code == 2, (name, result.err)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, (name, lines)
        assert lines[0].startswith(f"repro: error: {path.name}:"), (name, lines)
        line_and_field = lines[0].removeprefix(f"repro: error: {path.name}:")
        assert line_and_field.split(":", 1)[0].isdigit(), (name, lines)
        assert expected in line_and_field, (name, lines)
        assert "Traceback" not in result.err
    text = project.manifest().read_text() + "name: again\n"
    duplicate = project.write("duplicate.yaml", text)
    result = project.repro("run", duplicate.name)
    assert result.code == 2
    last = len(text.splitlines())
    assert f"duplicate.yaml:{last}: name: key given twice (first on line 2)" in result.err
    bad_set = project.repro("run", "exp.yaml", "--set", "nosuch=1")
    assert bad_set.code == 2
    assert "--set nosuch: no such parameter" in bad_set.err
    events = docker_client.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"org.repro.store={project.store}"},
    )
    assert list(events) == []


def test_a_verbose_error_shows_the_traceback(docker_project: Project) -> None:
    project = docker_project
    project.manifest(colour="blue")
    quiet = project.repro("run", "exp.yaml")
    verbose = project.repro("run", "exp.yaml", "-v")
    assert "Traceback" not in quiet.err
    assert "Traceback" in verbose.err
    assert quiet.code == verbose.code == 2


def test_a_missing_host_secret_is_named_before_anything_runs(
    docker_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAB_TOKEN", raising=False)
    project = docker_project
    project.manifest(env={"TOKEN": {"from_host": "LAB_TOKEN"}})
    result = project.repro("run", "exp.yaml")
    assert result.code == 2
    assert "env.TOKEN takes $LAB_TOKEN from your shell, but it is not set" in result.err
    assert not (project.store / "runs").exists()
