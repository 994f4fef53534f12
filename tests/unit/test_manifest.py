"""The manifest: what is accepted, and how each mistake is reported (file:line: field: message)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from repro.errors import ManifestError
from repro.manifest import load_manifest
from repro.text import parse_duration, parse_memory
from tests.conftest import Project

IMAGE_ID = "sha256:" + "a" * 64
DIGEST = "sha256:" + "b" * 64

VALID = f"""\
version: 1
name: cachesim-d1
description: D1 sweep
image: registry.example.org/lab/sim:2026-11@{DIGEST}
command: [sh, -c, "run --d1={{d1_size}},{{assoc}} > /out/result.txt"]
params: {{assoc: 4}}
sweep:
  d1_size: [8192, 16384]
env: {{LC_ALL: C, SIZE: "{{d1_size}}"}}
mounts:
  - {{source: ./workloads, target: /work}}
outputs: /out
resources: {{cpus: 1, memory: 2g, timeout: 2h}}
"""


def write(project: Project, text: str, name: str = "exp.yaml") -> Path:
    project.write("workloads/bench", "data\n")
    return project.write(name, textwrap.dedent(text))


def test_a_valid_manifest_loads_with_its_pin_and_points(project: Project) -> None:
    manifest = load_manifest(write(project, VALID))
    model = manifest.model
    assert model.image.kind == "digest"
    assert model.image.repository == "registry.example.org/lab/sim"
    assert model.image.digest == DIGEST
    assert model.param_names == ["assoc", "d1_size"]
    assert model.resources.memory_bytes == 2 * 1024**3
    assert model.resources.timeout_seconds == 7200
    assert model.network == "none"
    assert model.user == "host"
    assert manifest.mount_source(0) == (project.root / "workloads").resolve()


def test_a_local_image_is_pinned_by_id(project: Project) -> None:
    text = VALID.replace(f"registry.example.org/lab/sim:2026-11@{DIGEST}", f'{{name: lab/sim, id: "{IMAGE_ID}"}}')
    model = load_manifest(write(project, text)).model
    assert (model.image.kind, model.image.digest, model.image.name) == ("id", IMAGE_ID, "lab/sim")


@pytest.mark.parametrize(
    ("change", "line", "field", "message"),
    [
        (
            ("image: registry.example.org/lab/sim:2026-11@" + DIGEST, "image: lab/sim:2026-11"),
            4,
            "image",
            "not pinned by content",
        ),
        (
            ("image: registry.example.org/lab/sim:2026-11@" + DIGEST, "image: lab/sim@sha256:abc"),
            4,
            "image",
            "is not a sha256 digest",
        ),
        (("outputs: /out", "outputs: /out\ncolour: blue"), 13, "colour", "unknown key"),
        (
            ("  - {source: ./workloads, target: /work}", "  - {source: ./workloads, target: /work, ro: yes}"),
            11,
            "mounts[0].ro",
            "unknown key",
        ),
        (("resources: {cpus: 1,", "resources: {cpus: many,"), 13, "resources.cpus", "valid number"),
        (
            ("params: {assoc: 4}", "params: {assoc: 4}\nparams: {assoc: 8}"),
            7,
            "params",
            "given twice (first on line 6)",
        ),
        (("params: {assoc: 4}", "params: {assoc: 4, assoc: 8}"), 6, "params.assoc", "given twice"),
        (
            (
                "  - {source: ./workloads, target: /work}",
                "  - {source: ./workloads, target: /work}\n  - {source: ./workloads, target: /work}",
            ),
            12,
            "mounts[1].target",
            "already the target of mounts[0]",
        ),
        (("source: ./workloads", "source: ./data"), 11, "mounts[0].source", "./data does not exist"),
        (
            ("source: ./workloads", "source: ../outside"),
            11,
            "mounts[0].source",
            "escapes the manifest's folder",
        ),
        (("source: ./workloads", "source: /etc"), 11, "mounts[0].source", "sensitive (system folder /etc)"),
        (("source: ./workloads", "source: /"), 11, "mounts[0].source", "host's root folder"),
        (("source: ./workloads", "source: /var/run/docker.sock"), 11, "mounts[0].source", "engine socket"),
        (("source: ./workloads", "source: /proc/self"), 11, "mounts[0].source", "sensitive"),
        (("{d1_size},{assoc}", "{d1_size},{assco}"), 5, "command[2]", "unknown placeholder {assco}"),
        (('SIZE: "{d1_size}"', 'SIZE: "{size}"'), 9, "env.SIZE", "unknown placeholder {size}"),
        (
            ('command: [sh, -c, "run --d1={d1_size},{assoc} > /out/result.txt"]', 'command: "run it"'),
            5,
            "command",
            "must be a list",
        ),
        (("version: 1", "version: 2"), 1, "version", "must be 1"),
        (("name: cachesim-d1", "name: Cache Sim"), 2, "name", "should match pattern"),
        (("name: cachesim-d1\n", ""), 1, "name", "required, but missing"),
        (("d1_size: [8192, 16384]", "d1_size: []"), 7, "sweep", "has no values"),
        (("params: {assoc: 4}", "params: {assoc: 4, d1_size: 1}"), 8, "sweep.d1_size", "also in params"),
        (("outputs: /out", "outputs: /out\ndevices: [/dev/sda]"), 13, "devices", "the only device allowed is /dev/kvm"),
        (("outputs: /out", "outputs: /out\ndevices: [/dev/kvm, /dev/kvm]"), 13, "devices", "named twice"),
        (
            ("outputs: /out", "outputs: /out\nmetrics: {file: stats.txt, format: gem5-stats, dump: 0}"),
            13,
            "metrics.dump",
            "must be last, first, or the number of a dump",
        ),
        (
            ("outputs: /out", "outputs: /out\nmetrics: {file: stats.txt, format: gem5-stats, dump: middle}"),
            13,
            "metrics.dump",
            "must be last, first",
        ),
    ],
)
def test_each_invalid_manifest_names_file_line_and_field(
    project: Project, change: tuple[str, str], line: int, field: str, message: str
) -> None:
    old, new = change
    assert old in VALID
    path = write(project, VALID.replace(old, new, 1))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    lines = caught.value.lines()
    expected = f"{path}:{line}: {field}: "
    assert any(text.startswith(expected) and message in text for text in lines), lines


def test_sensitive_and_outside_mounts_are_allowed_when_the_manifest_says_so(project: Project) -> None:
    outside = project.root.parent / "shared-data"
    outside.mkdir()
    text = VALID.replace(
        "  - {source: ./workloads, target: /work}",
        "  - {source: ../shared-data, target: /shared, allow_outside: true}\n"
        "  - {source: /etc, target: /hostetc, allow_sensitive: true}",
    )
    model = load_manifest(write(project, text)).model
    assert [m.target for m in model.mounts] == ["/shared", "/hostetc"]


def test_a_dot_folder_in_a_home_is_sensitive(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    path = write(project, VALID.replace("source: ./workloads", f"source: {home / '.ssh'}"))
    with pytest.raises(ManifestError, match=r"mounts\[0\]\.source: .* dot-folder"):
        load_manifest(path)


def test_every_problem_is_reported_at_once(project: Project) -> None:
    text = VALID.replace("source: ./workloads", "source: ./nothing").replace("{assoc}", "{nope}")
    with pytest.raises(ManifestError) as caught:
        load_manifest(write(project, text))
    assert len(caught.value.lines()) == 2


def test_yaml_syntax_errors_name_the_line(project: Project) -> None:
    path = write(project, "version: 1\nname: [unclosed\n")
    with pytest.raises(ManifestError, match=r"exp\.yaml:\d+: \(document\): not valid YAML"):
        load_manifest(path)


def test_validate_command_exits_0_for_good_and_2_for_bad_manifests(project: Project) -> None:
    good = write(project, VALID, "good.yaml")
    bad = write(project, VALID.replace("version: 1", "version: 3"), "bad.yaml")
    ok = project.repro("validate", str(good))
    assert ok.code == 0
    assert "good.yaml: cachesim-d1, 2 points" in ok.err
    failed = project.repro("validate", str(good), str(bad))
    assert failed.code == 2
    # Paths are shown relative to the current folder (the project's, here).
    assert failed.err.strip().splitlines() == [
        f"repro: error: {bad.name}:1: version: must be 1 (the only manifest version so far)"
    ]
    assert "Traceback" not in failed.err


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("1.5GiB", 3 * 1024**3 // 2), (4096, 4096)],
)
def test_memory_sizes_use_binary_units(text: str | int, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("1h30m", 5400), ("2d", 172800), (45, 45), ("0.5s", 0.5)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1", "0s", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|positive"):
        parse_duration(text)


def test_command_words_and_env_values_are_the_text_as_written(project: Project) -> None:
    text = VALID.replace('command: [sh, -c, "run', 'command: [chmod, 0755, 1:30, yes, 1_000, "run').replace(
        "env: {LC_ALL: C,", "env: {MODE: 0644, FLAG: on, LC_ALL: C,"
    )
    model = load_manifest(write(project, text)).model
    assert model.command[:5] == ["chmod", "0755", "1:30", "yes", "1_000"]
    assert model.env["MODE"] == "0644"
    assert model.env["FLAG"] == "on"
    assert model.params["assoc"] == 4  # parameters keep their YAML types


@pytest.mark.parametrize("template", ["{d1_size:d}", "{d1_size!r}", "{d1_size:{assoc}}"])
def test_placeholders_may_not_carry_format_specs(project: Project, template: str) -> None:
    text = VALID.replace("--d1={d1_size}", f"--d1={template}")
    with pytest.raises(ManifestError, match=r"command\[2\]: placeholder \{d1_size\} may not carry"):
        load_manifest(write(project, text))


def test_a_folder_holding_home_folders_is_sensitive(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes = tmp_path / "homes"
    (homes / "alice").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(homes / "alice"))
    path = write(project, VALID.replace("source: ./workloads", f"source: {homes}"))
    with pytest.raises(ManifestError, match=r"a whole home folder"):
        load_manifest(path)


def test_host_networking_is_not_offered(project: Project) -> None:
    with pytest.raises(ManifestError, match=r"network: Input should be 'none' or 'bridge'"):
        load_manifest(write(project, VALID + "network: host\n"))


def test_points_and_exclusions_may_only_name_declared_parameters(project: Project) -> None:
    text = VALID + "exclude:\n  - {d1_size: 8192, asoc: 4}\npoints:\n  - {}\n"
    with pytest.raises(ManifestError) as caught:
        load_manifest(write(project, text))
    lines = caught.value.lines()
    assert any(":15: exclude[0].asoc: 'asoc' is not a parameter" in line for line in lines), lines
    assert any(":17: points[0]: an empty entry" in line for line in lines), lines


@pytest.mark.parametrize("license_", ["CC-BY-4.0", "MIT", "https://example.org/our-licence"])
def test_a_licence_is_an_spdx_identifier_or_a_url(project: Project, license_: str) -> None:
    assert load_manifest(write(project, VALID + f"license: {license_}\n")).model.license == license_


def test_a_licence_in_free_text_is_refused(project: Project) -> None:
    with pytest.raises(ManifestError, match=r"license: .*SPDX licence identifier"):
        load_manifest(write(project, VALID + "license: all rights reserved\n"))
