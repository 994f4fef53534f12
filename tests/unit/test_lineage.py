"""Checkpoint lineage without an engine: ``from:`` mounts as a manifest takes them, what is
refused before anything starts (a cycle, a missing upstream manifest, a point that leaves
several), how a waiting downstream is planned, and the digest of a mounted entry computed from a
record's file list (the same that hashing the mounted path gives)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from repro.errors import ManifestError, ReproError
from repro.lineage import match_outputs, upstream_input
from repro.manifest import load_manifest
from repro.provenance.hashing import hash_tree
from repro.store import Store
from repro.store.record import OutputEntry, OutputsRecord, RunRecord
from tests.conftest import Project, make_record

IMAGE = '{name: lab/sim, id: "sha256:' + "a" * 64 + '"}'

UP = f"""\
version: 1
name: boot
image: {IMAGE}
command: [sh, -c, "mkdir -p /out/m5out/cpt.1 && echo cpt > /out/m5out/cpt.1/m5.cpt"]
sweep: {{cpus: [1, 2]}}
"""

DOWN = f"""\
version: 1
name: restore
image: {IMAGE}
command: [sh, -c, "cat /cpt/m5.cpt > /out/read.txt"]
sweep: {{l1d: [16, 64]}}
mounts:
  - from: {{manifest: up.yaml, point: {{cpus: 1}}, path: "m5out/cpt.*"}}
    target: /cpt
"""


def write(project: Project, name: str, text: str) -> Path:
    return project.write(name, textwrap.dedent(text))


def test_a_from_mount_loads_and_is_recorded_as_written(project: Project) -> None:
    write(project, "up.yaml", UP)
    manifest = load_manifest(write(project, "down.yaml", DOWN))
    (mount,) = manifest.model.mounts
    assert mount.source is None
    assert mount.upstream is not None
    assert (mount.upstream.manifest, mount.upstream.point, mount.upstream.path) == (
        "up.yaml",
        {"cpus": 1},
        "m5out/cpt.*",
    )
    assert manifest.upstream_path(0) == project.root / "up.yaml"
    # A record's resolved manifest reads like the file: `from`, and no keys that do not apply.
    assert manifest.model.model_dump(mode="json")["mounts"] == [
        {
            "from": {"manifest": "up.yaml", "point": {"cpus": 1}, "path": "m5out/cpt.*"},
            "target": "/cpt",
            "readonly": True,
        }
    ]


@pytest.mark.parametrize(
    ("mount", "field", "message"),
    [
        ("{source: ./data, from: {manifest: up.yaml}, target: /cpt}", "mounts[0]", "either source"),
        ("{target: /cpt}", "mounts[0]", "either source"),
        ("{from: {manifest: up.yaml}, target: /cpt, readonly: false}", "mounts[0]", "always read-only"),
        ("{from: {manifest: up.yaml}, target: /cpt, allow_outside: true}", "mounts[0]", "allow_outside does not apply"),
        ("{from: {manifest: up.yaml}, target: /cpt, allow_sensitive: false}", "mounts[0]", "does not apply"),
        ("{from: {manifest: up.yaml, path: /m5out}, target: /cpt}", "mounts[0].from.path", "relative"),
        ("{from: {manifest: up.yaml, path: ../x}, target: /cpt}", "mounts[0].from.path", "stay inside"),
        ("{from: {manifest: up.yaml, path: a//b}, target: /cpt}", "mounts[0].from.path", "glob of path parts"),
        ("{from: {manifest: up.yaml, colour: red}, target: /cpt}", "mounts[0].from.colour", "unknown key"),
        ("{from: {manifest: gone.yaml}, target: /cpt}", "mounts[0].from.manifest", "gone.yaml does not exist"),
        ("{from: {manifest: up.yaml}, target: /out/cpt}", "mounts[0].target", "overlaps the output folder"),
    ],
)
def test_each_wrong_from_mount_names_file_line_and_field(
    project: Project, mount: str, field: str, message: str
) -> None:
    write(project, "up.yaml", UP)
    text = f"version: 1\nname: restore\nimage: {IMAGE}\ncommand: [true]\nmounts:\n  - {mount}\n"
    path = project.write("down.yaml", text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert any(line.startswith(f"{path}:6: {field}: ") and message in line for line in caught.value.lines()), (
        caught.value.lines()
    )


def from_manifest(name: str, upstream: str) -> str:
    mount = f"{{from: {{manifest: {upstream}}}, target: /in}}"
    return f"version: 1\nname: {name}\nimage: {IMAGE}\ncommand: [true]\nmounts:\n  - {mount}\n"


def test_a_cycle_is_refused_in_one_line(project: Project) -> None:
    project.write("a.yaml", from_manifest("a", "b.yaml"))
    project.write("b.yaml", from_manifest("b", "a.yaml"))
    for args in (["run", "a.yaml", "--dry-run"], ["validate", "a.yaml"]):
        result = project.repro(*args)
        assert result.code == 2, result.err
        assert result.err.strip().splitlines() == [
            "repro: error: b.yaml:6: mounts[0].from.manifest: a.yaml leads back here: a cycle "
            "(a.yaml → b.yaml → a.yaml); a run cannot need its own outputs"
        ]


def test_a_manifest_naming_itself_is_a_cycle(project: Project) -> None:
    project.write("self.yaml", from_manifest("s", "self.yaml"))
    result = project.repro("run", "self.yaml", "--dry-run")
    assert result.code == 2
    assert (
        "self.yaml:6: mounts[0].from.manifest: self.yaml leads back here: a cycle (self.yaml → self.yaml)" in result.err
    )


def test_a_missing_upstream_manifest_is_refused_in_one_line(project: Project) -> None:
    write(project, "down.yaml", DOWN)
    result = project.repro("run", "down.yaml", "--dry-run")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "repro: error: down.yaml:7: mounts[0].from.manifest: up.yaml does not exist "
        "(the upstream manifest, relative to this one)"
    ]


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ("", "up.yaml has 2 points here (cpus=1, cpus=2): pin its parameters in from.point so that one is left"),
        ("point: {mem: 1}, ", "mounts[0].from.point.mem: up.yaml has no parameter 'mem' (parameters: cpus)"),
    ],
)
def test_from_point_must_leave_the_upstream_one_point(project: Project, point: str, message: str) -> None:
    write(project, "up.yaml", UP)
    write(project, "down.yaml", DOWN.replace("point: {cpus: 1}, ", point))
    result = project.repro("run", "down.yaml", "--dry-run")
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_downstream_whose_upstream_never_ran_waits_on_it(project: Project) -> None:
    write(project, "up.yaml", UP)
    write(project, "down.yaml", DOWN)
    result = project.repro("run", "down.yaml", "--dry-run", "--json")
    assert result.code == 0, result.err
    plan = result.json
    (waiting,) = plan["waits_on"]
    assert (waiting["manifest"], waiting["label"], waiting["path"]) == (
        str(project.root / "up.yaml"),
        "cpus=1",
        "m5out/cpt.*",
    )
    # Each point is planned under its lineage key, the name of its job until its upstream ran.
    assert all(point["key"] == point["after"] for point in plan["points"])
    assert len({point["key"] for point in plan["points"]}) == 2
    shown = project.repro("run", "down.yaml", "--dry-run")
    assert shown.out.splitlines()[1:] == [
        f"l1d=16  -    waits on up.yaml (point cpus=1, key {waiting['key'][:12]})",
        f"l1d=64  -    waits on up.yaml (point cpus=1, key {waiting['key'][:12]})",
    ]
    assert "2 would run after 1 upstream point" in shown.err
    # The upstream point's key is the one `repro run up.yaml --set cpus=1` plans.
    upstream = project.repro("run", "up.yaml", "--set", "cpus=1", "--dry-run", "--json").json
    assert upstream["points"][0]["key"] == waiting["key"]


def test_the_lineage_key_does_not_change_with_the_upstream_outputs_but_with_what_it_names(project: Project) -> None:
    write(project, "up.yaml", UP)
    write(project, "down.yaml", DOWN)
    first = project.repro("run", "down.yaml", "--dry-run", "--json").json["points"]
    write(project, "down.yaml", DOWN.replace("m5out/cpt.*", "m5out/cpt.1"))
    other_glob = project.repro("run", "down.yaml", "--dry-run", "--json").json["points"]
    write(project, "down.yaml", DOWN)
    write(project, "up.yaml", UP.replace("echo cpt", "echo other"))
    other_boot = project.repro("run", "down.yaml", "--dry-run", "--json").json["points"]
    keys = [[p["after"] for p in points] for points in (first, other_glob, other_boot)]
    assert len({key for group in keys for key in group}) == 6


# -- the mounted entry's digest, from the record ---------------------------------------------------


def _upstream_run(tmp_path: Path) -> tuple[Store, RunRecord]:
    """A store holding a succeeded run whose outputs are real files, recorded as a run records them."""
    store = Store(tmp_path / "store")
    folder = store.new_run()
    outputs = folder.outputs
    (outputs / "m5out" / "cpt.100").mkdir(parents=True)
    (outputs / "m5out" / "cpt.100" / "m5.cpt").write_text("[root]\ncpt\n")
    (outputs / "m5out" / "cpt.100" / "system.physmem.store0.pmem").write_bytes(b"\0" * 4096)
    (outputs / "m5out" / "cpt.100" / "sub").mkdir()
    (outputs / "m5out" / "stats.txt").write_text("stats\n")
    (outputs / "m5out" / "cpt.link").symlink_to("cpt.100")
    tree = hash_tree(outputs)
    files = [OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries]
    record = make_record(folder.run_id).model_copy(
        update={"outputs": OutputsRecord(digest=tree.digest, files=files, total_bytes=tree.total_bytes)}
    )
    return store, record


def test_a_mounted_entry_has_the_digest_hashing_it_would_give(tmp_path: Path) -> None:
    store, record = _upstream_run(tmp_path)
    outputs = store.run_folder(record.id).outputs

    def fail(message: str) -> Exception:
        return ReproError(message)

    folder = upstream_input(store, record, "/cpt", "m5out/cpt.[0-9]*", fail)
    assert folder.digest == hash_tree(outputs / "m5out" / "cpt.100").digest
    assert (folder.files, folder.bytes) == (2, 4096 + 11)
    assert (folder.upstream_run, folder.upstream_path) == (record.id, "m5out/cpt.100")
    assert folder.source == str(outputs / "m5out" / "cpt.100")
    single = upstream_input(store, record, "/stats", "m5out/stats.txt", fail)
    assert single.digest == hash_tree(outputs / "m5out" / "stats.txt").digest
    whole = upstream_input(store, record, "/all", None, fail)
    assert (whole.digest, whole.upstream_path, whole.source) == (hash_tree(outputs).digest, None, str(outputs))


@pytest.mark.parametrize(
    ("glob", "message"),
    [
        ("m5out/cpt.9*", "m5out/cpt.9* matches nothing in the outputs of run"),
        ("m5out/*", "m5out/* matches 3 entries of run"),
        ("m5out/cpt.link", "matches m5out/cpt.link, a link"),
        ("cpt.100", "matches nothing"),  # a glob is matched part by part, from the outputs' top
    ],
)
def test_a_glob_must_match_one_entry_that_is_not_a_link(tmp_path: Path, glob: str, message: str) -> None:
    store, record = _upstream_run(tmp_path)
    with pytest.raises(ReproError, match=message.replace("*", r"\*").replace(".", r"\.")):
        upstream_input(store, record, "/cpt", glob, ReproError)


def test_globs_match_part_by_part() -> None:
    files = [OutputEntry(path=p, kind="dir") for p in ("a", "a/b", "a/b/c", "a/bc")]
    assert [e.path for e in match_outputs(files, "a/b*")] == ["a/b", "a/bc"]
    assert [e.path for e in match_outputs(files, "*/*/*")] == ["a/b/c"]
    assert match_outputs(files, "*") == [files[0]]
