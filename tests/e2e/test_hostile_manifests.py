"""A corpus of hostile manifests: each is refused with exit 2 and one line naming the file, the
line and the field, without a traceback, and without a container created. (How long a refusal
takes is the benchmark's to measure, not a test's.)"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

from tests.conftest import Project

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class Case:
    body: str | bytes
    """The manifest after its header (version, name, image, command), or the whole bytes."""
    expected: str
    """What the one error line must say (field and reason)."""
    args: tuple[str, ...] = ()
    whole: bool = False
    """``body`` is the whole file, not what follows the header."""
    setup: Callable[[Path], None] | None = field(default=None, compare=False)


def _bomb() -> str:
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        refs = ",".join(f"*l{level - 1}" for _ in range(9))
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "params:\n" + "".join(f"  {line}\n" for line in lines).replace("l0:", "a0:", 1)


def _nested(depth: int) -> str:
    return "params: {deep: " + "[" * depth + "1" + "]" * depth + "}\n"


def _link(name: str, target: str) -> Callable[[Path], None]:
    def make(root: Path) -> None:
        (root / name).unlink(missing_ok=True)
        (root / name).symlink_to(target)

    return make


def _loop(root: Path) -> None:
    for a, b in (("loop-a", "loop-b"), ("loop-b", "loop-a")):
        (root / a).unlink(missing_ok=True)
        (root / a).symlink_to(root / b)


CASES: dict[str, Case] = {
    "alias bomb": Case(_bomb(), "expands to more than 100,000 values"),
    "recursive alias in a list": Case("params: {a: &a [1, *a]}\n", "an alias that contains itself"),
    "recursive alias in a mapping": Case("x: &x {y: *x}\n", "an alias that contains itself"),
    "nesting 150 deep": Case(_nested(150), "nested more than 100 levels deep"),
    "150,000 values without aliases": Case("sweep: {n: [" + ",".join(["1"] * 150_000) + "]}\n", "more than 100,000"),
    "larger than 1 MiB": Case("description: " + "x" * (1 << 20) + "\n", "a manifest is at most 1,048,576"),
    "NUL byte": Case(b"version: 1\nname: a\x00b\n", "control character U+0000", whole=True),
    "bell character": Case("description: ring\x07\n", "control character U+0007"),
    "escape sequence": Case("description: \x1b[31mred\n", "control character U+001B"),
    "C1 control": Case("description: next\x85line\n", "control character U+0085"),
    "not UTF-8": Case(b"version: 1\nname: \xff\xfe\n", "not UTF-8 text", whole=True),
    "16 values on 10 axes": Case(
        "sweep: {" + ", ".join(f"a{i}: [{','.join(map(str, range(16)))}]" for i in range(10)) + "}\n",
        "sweep: 1,099,511,627,776 points (16 × 16",
    ),
    "more points than --max-points": Case(
        "sweep: {n: [1, 2, 3, 4]}\n", "more than --max-points 3", ("--max-points", "3")
    ),
    "NaN parameter": Case("params: {x: .nan}\n", "params.x: must be a finite number"),
    "infinite parameter": Case("params: {x: .inf}\n", "params.x: must be a finite number"),
    "negative infinity in a sweep": Case("sweep: {x: [1, -.inf]}\n", "sweep.x[1]: must be a finite number"),
    "newline in a parameter": Case('params: {x: "a\\nb"}\n', "params.x: 'a\\nb' holds a newline"),
    "tab in a sweep value": Case('sweep: {x: ["a\\tb", c]}\n', "sweep.x[0]: 'a\\tb' holds a newline or control"),
    "NUL in a command word": Case('command: [sh, -c, "echo a\\0b"]\n', "command[2]: holds a NUL character"),
    "NUL in an environment value": Case('env: {X: "a\\0b"}\n', "env.X: holds a NUL character"),
    "NUL in a secret value": Case('env: {X: {value: "a\\0b", secret: true}}\n', "env.X.value: holds a NUL"),
    "mount target in /proc": Case(
        "mounts: [{source: ., target: /proc/x}]\n", "mounts[0].target: /proc/x is inside /proc"
    ),
    "mount target /sys": Case("mounts: [{source: ., target: /sys}]\n", "mounts[0].target: /sys is inside /sys"),
    "mount target in /dev": Case(
        "mounts: [{source: ., target: /dev/shm}]\n", "mounts[0].target: /dev/shm is inside /dev"
    ),
    "outputs in /proc": Case("outputs: /proc/self/root\n", "outputs: /proc/self/root is inside /proc"),
    "outputs /dev": Case("outputs: /dev\n", "outputs: /dev is inside /dev"),
    "infinite CPUs": Case("resources: {cpus: .inf}\n", "resources.cpus: Input should be a finite number"),
    "more CPUs than the machine": Case(
        "resources: {cpus: 4096}\n", "resources.cpus: 4096 CPUs, but the engine's machine has"
    ),
    "memory below the engine's minimum": Case(
        "resources: {memory: 1m}\n", "resources.memory: 1m is below the engine's minimum"
    ),
    "more memory than the machine": Case(
        "resources: {memory: 64t}\n", "resources.memory: 64t is more than the engine's machine"
    ),
    "mount source through /proc/1/root": Case(
        "mounts: [{source: ./host-root, target: /host}]\n",
        "mounts[0].source: ./host-root",
        setup=_link("host-root", "/proc/1/root"),
    ),
    "mount source in a loop of links": Case(
        "mounts: [{source: ./loop-a, target: /a}]\n", "mounts[0].source: ./loop-a cannot be checked", setup=_loop
    ),
    "absolute metrics file": Case(
        "metrics: {file: /etc/passwd, format: json}\n", "metrics.file: '/etc/passwd' must be relative"
    ),
    "metrics file out of the outputs": Case(
        "metrics: {file: ../record.json, format: json}\n", "metrics.file: '../record.json' must stay inside"
    ),
    "absolute fail_on file": Case("fail_on: [{file: /etc/shadow, pattern: root}]\n", "fail_on[0].file: '/etc/shadow'"),
    "fail_on file out of the outputs": Case(
        "fail_on: [{file: sub/../../x, pattern: a}]\n", "fail_on[0].file: 'sub/../../x' must stay inside"
    ),
    "merge key": Case("base: &b {a: 1}\nparams: {<<: *b}\n", "merge keys (<<) are not supported"),
}


def write_case(project: Project, name: str, case: Case) -> Path:
    assert project.image is not None
    slug = name.replace(" ", "-").replace("/", "-").replace(",", "")
    path = project.root / f"{slug}.yaml"
    if case.setup is not None:
        case.setup(project.root)
    if case.whole:
        assert isinstance(case.body, bytes)
        path.write_bytes(case.body)
        return path
    header = f'version: 1\nname: hostile\nimage: {{name: "{project.image.name}", id: "{project.image.id}"}}\n'
    if name == "NUL in a command word":
        path.write_text(header + 'command: [sh, -c, "echo a\\0b"]\n')
        return path
    path.write_text(header + "command: [true]\n")
    body = case.body
    assert isinstance(body, str)
    with path.open("a") as handle:
        handle.write(body)
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_hostile_manifest_is_refused_in_one_line_with_exit_2(
    docker_project: Project, docker_client: docker.DockerClient, name: str
) -> None:
    project = docker_project
    case = CASES[name]
    path = write_case(project, name, case)
    since = int(time.time()) - 1

    result = project.repro("run", path.name, *case.args)

    assert result.code == 2, (name, result.err[-500:])
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, (name, lines[:3])
    assert lines[0].startswith(f"repro: error: {path.name}:"), (name, lines[0][:300])
    assert case.expected in lines[0], (name, lines[0][:300])
    assert len(lines[0]) < 1000, "the line shows the problem, not the whole value"
    events = docker_client.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"org.repro.store={project.store}"},
    )
    assert list(events) == [], name
    assert not (project.store / "runs").exists() or not any((project.store / "runs").iterdir())


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("x=.nan", "must be a finite number"),
        ("x=[1,.inf]", "must be a finite number"),
        ('x="a\\nb"', "holds a newline"),
    ],
)
def test_hostile_set_values_are_refused(docker_project: Project, setting: str, expected: str) -> None:
    project = docker_project
    project.manifest(command=["echo", "{x}"], params={"x": 1})
    result = project.repro("run", "exp.yaml", "--set", setting)
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith("repro: error: --set ")
    assert expected in line


def test_lock_bounds_an_alias_bomb_in_the_image_value(project: Project) -> None:
    levels = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]'] + [
        f"a{i}: &a{i} [{','.join(f'*a{i - 1}' for _ in range(9))}]" for i in range(1, 10)
    ]
    text = "version: 1\nname: x\nbombs:\n" + "".join(f"  {line}\n" for line in levels) + "image: *a9\ncommand: [true]\n"
    project.write("bomb.yaml", text)
    result = project.repro("lock", "bomb.yaml")
    assert result.code == 2
    assert "expands to more than 100,000 values" in result.err
    assert "Traceback" not in result.err


def test_an_environment_variable_named_like_a_secret_is_never_recorded(docker_project: Project) -> None:
    project = docker_project
    values = {
        "DB_PASS": "Sekrit1",
        "MY_KEY": "Sekrit2",
        "LAB_PWD": "Sekrit3",
        "SESSION_ID": "Sekrit4",
        "PLAIN": {"value": "Sekrit5", "secret": True},
        "FROM_SHELL": {"from_host": "REPRO_TEST_SECRET"},
        "VISIBLE": "shown",
    }
    project.manifest(command=["sh", "-c", "echo $DB_PASS$PLAIN$FROM_SHELL > /out/seen"], env=values)
    os.environ["REPRO_TEST_SECRET"] = "Sekrit6"
    try:
        result = project.repro("run", "exp.yaml")
    finally:
        del os.environ["REPRO_TEST_SECRET"]
    assert result.code == 0, result.err
    assert "warning" not in result.err.lower()
    (run,) = (project.store / "runs").iterdir()
    text = (run / "record.json").read_text()
    assert "Sekrit" not in text
    assert '"VISIBLE": "shown"' in text
    assert (run / "outputs" / "seen").read_text() == "Sekrit1Sekrit5Sekrit6\n", "the container got every value"
