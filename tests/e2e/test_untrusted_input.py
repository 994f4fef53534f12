"""What comes from elsewhere is input: a pulled store's records, a group member's files, a
container's outputs — each case of issue 21 that fell, on real components (real runs in Docker,
rsync between real stores, two real users of a group on rootless Podman sharing one store).

The class, with random hostile values, is tests/unit/test_hostile_records.py; these are the
cases as they were found.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from repro.provenance.hashing import hash_tree
from repro.store import Status, Store
from repro.store.record import OutputEntry, OutputsRecord, RunRecord
from repro.store.store import STORE_FORMAT
from tests.conftest import CHECKOUT, Project, Watch, peak_rss
from tests.e2e.conftest import podman_gates_opened
from tests.e2e.test_team import GROUP, Lab, repro
from tests.e2e.test_team import lab as lab  # the two users and their group's store (a fixture)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "a colleague's private words 7c2e"


# -- helpers -----------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``repro ARGS`` as its own process (this checkout's), as a user types it."""
    full = {**os.environ, "PYTHONPATH": str(CHECKOUT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "repro", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=1800
    )


def _peak_rss(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """``repro ARGS`` as a process of its own, and its peak resident memory in bytes."""
    return peak_rss([sys.executable, "-m", "repro", *args], cwd=cwd, env={"PYTHONPATH": str(CHECKOUT)})


def _rewrite(path: Path, change: dict[str, Any]) -> None:
    """Edit a stored JSON file (read-only once final) as someone with a shell on it would."""
    data = json.loads(path.read_text())
    for where, value in change.items():
        target = data
        steps = where.split(".")
        for step in steps[:-1]:
            target = target[int(step)] if step.isdigit() else target[step]
        target[steps[-1]] = value
    path.chmod(0o644)
    path.write_text(json.dumps(data))


@pytest.fixture
def remote(docker_project: Project) -> tuple[Project, list[str]]:
    """Another store, made by real runs: two points of a sweep whose outputs hold a metrics
    file, run from a tree with uncommitted changes (so each run keeps a diff)."""
    project = docker_project
    project.manifest(
        command=["sh", "-c", 'echo {n} > /out/n; echo "{{\\"ipc\\": 0.{n}}}" > /out/m.json; echo ran {n}'],
        sweep={"n": [1, 2]},
        metrics={"file": "m.json", "format": "json"},
    )
    project.commit("the experiment")
    project.write("notes.txt", "uncommitted\n")
    ran = project.repro("run", "exp.yaml")
    assert ran.code == 0, ran.err
    by_point = sorted(Store(project.store).records(), key=lambda record: record.point.params["n"])
    ids = [record.id for record in by_point]  # n=1, then n=2
    assert len(ids) == 2
    return project, ids


def _sentinel(tmp_path: Path) -> Path:
    """A folder of files no command may read: a stand-in for /etc/shadow that inotify watches."""
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "shadow").write_text(SECRET)
    (folder / "shadow").chmod(0o600)
    return folder


# -- a record's names used as paths --------------------------------------------------------------------


@pytest.mark.parametrize("key", ["../store", "../runs/{other}/record", "../../../outside"])
def test_a_pulled_record_whose_point_key_leaves_the_store_is_skipped_and_writes_nothing(
    remote: tuple[Project, list[str]], tmp_path: Path, key: str
) -> None:
    project, (hostile, other) = remote
    _rewrite(project.store / "runs" / hostile / "record.json", {"point.key": key.format(other=other)})
    receiver = tmp_path / "receiver"
    pulled = _cli("--store", str(receiver), "pull", str(project.store))
    assert pulled.returncode == 3, pulled.stderr  # the other run is pulled; this one is refused, said
    refused = f"run {hostile} from another store: its record.json is not a valid record (point.key:"
    assert refused in pulled.stderr
    assert (receiver / "runs" / other / "record.json").is_file()
    assert not (receiver / "runs" / hostile).exists()
    assert json.loads((receiver / "store.json").read_text())["repro_store"] == STORE_FORMAT, "the store's own"
    assert Store(receiver).load(other).point.key != key, "the other run's record is its own"
    assert not (tmp_path / "outside.json").exists()
    listed = _cli("--store", str(receiver), "log", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [run["id"] for run in json.loads(listed.stdout)] == [other]
    assert sorted(p.name for p in (receiver / "points").iterdir()) == [f"{Store(receiver).load(other).point.key}.json"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("outputs.folder", "../../../../../../{host}"), ("logs.stdout", "{host}/shadow"), ("git.diff", "{host}/shadow")],
)
def test_a_pulled_record_naming_host_files_is_not_a_record(
    remote: tuple[Project, list[str]], tmp_path: Path, field: str, value: str
) -> None:
    project, (hostile, other) = remote
    host = _sentinel(tmp_path)
    _rewrite(project.store / "runs" / hostile / "record.json", {field: value.format(host=host)})
    receiver = tmp_path / "receiver"
    watch = Watch([host])
    try:
        pulled = _cli("--store", str(receiver), "pull", str(project.store))
        checked = _cli("--store", str(receiver), "fsck")
        crate = _cli("--store", str(receiver), "export", "--rocrate", other, "-o", str(tmp_path / "crate"))
        events = watch.events()
    finally:
        watch.close()
    assert pulled.returncode == 3, pulled.stderr
    assert f"run {hostile} from another store: its record.json is not a valid record ({field}:" in pulled.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert crate.returncode == 0, crate.stderr
    assert events == [], "nothing of the host was read"
    assert not any(SECRET.encode() in p.read_bytes() for p in (tmp_path / "crate").rglob("*") if p.is_file())


@pytest.mark.parametrize("link", ["git.diff", "stdout.log", "outputs"])
def test_a_link_in_a_run_folder_leads_no_command_to_a_host_file(
    remote: tuple[Project, list[str]], tmp_path: Path, link: str
) -> None:
    """A run folder holds a link where a file or folder of the run should be: another store's
    (a pull refuses to take the run, in one line) or, once pulled, one a member of a shared store
    swapped in. fsck names it without following it, export and pack refuse or leave it out,
    logs and reindex read nothing through it."""
    project, (hostile, _) = remote
    host = _sentinel(tmp_path)

    def plant(folder: Path) -> None:
        place = folder / link
        place.parent.chmod(0o755)
        shutil.rmtree(place) if place.is_dir() else place.unlink()
        place.symlink_to(host if link == "outputs" else host / "shadow")

    plant(project.store / "runs" / hostile)
    receiver = tmp_path / "receiver"
    watch = Watch([host])
    try:
        refused = _cli("--store", str(receiver), "pull", str(project.store), "--runs", hostile)
        project.store.joinpath("runs", hostile, link).unlink()  # the other store mended; then a member's link
        events = watch.events()
    finally:
        watch.close()
    assert refused.returncode == 3
    assert f"run {hostile} from another store" in refused.stderr
    assert "not taken" in refused.stderr
    assert not (receiver / "runs" / hostile).exists()
    assert events == [], f"the pull read through the link: {events}"

    shutil.rmtree(project.store / "runs" / hostile)  # pull a sound copy, then plant the link here
    receiver2 = tmp_path / "receiver2"
    shutil.rmtree(receiver, ignore_errors=True)
    _, (first, second) = remote
    sound = _cli("--store", str(receiver2), "pull", str(project.store))
    assert sound.returncode == 0, sound.stderr
    (kept,) = [run for run in (first, second) if (receiver2 / "runs" / run).is_dir()]
    plant(receiver2 / "runs" / kept)
    watch = Watch([host])
    try:
        checked = _cli("--store", str(receiver2), "fsck", kept)
        crate = _cli("--store", str(receiver2), "export", "--rocrate", kept, "-o", str(tmp_path / "crate"))
        packed = _cli("--store", str(receiver2), "pack", kept, "-o", str(tmp_path / "a.tar"))
        logs = _cli("--store", str(receiver2), "logs", kept)
        reindexed = _cli("--store", str(receiver2), "reindex")
        events = watch.events()
    finally:
        watch.close()
    assert checked.returncode == 1
    assert link in checked.stdout + checked.stderr
    assert "not a" in checked.stdout + checked.stderr  # "not a regular file" / "not a folder"
    assert reindexed.returncode == 0, reindexed.stderr
    assert events == [], f"read through the link: {events}"
    for done in (crate, packed, logs):
        assert SECRET not in done.stdout + done.stderr
    for made in (tmp_path / "crate", tmp_path / "a.tar"):
        if made.is_dir():
            assert not any(SECRET.encode() in p.read_bytes() for p in made.rglob("*") if p.is_file())
        elif made.is_file():
            assert SECRET.encode() not in made.read_bytes()


# -- derived files ------------------------------------------------------------------------------------


def test_a_forged_metrics_json_is_caught_by_fsck_and_not_trusted(
    remote: tuple[Project, list[str]], tmp_path: Path
) -> None:
    project, (first, second) = remote
    forged = project.store / "runs" / first / "metrics.json"
    # Pulled forged (the remote's copy says ipc 99.5, its digest still the file's): never taken.
    _rewrite(forged, {"values.ipc": 99.5})
    receiver = tmp_path / "receiver"
    assert _cli("--store", str(receiver), "pull", str(project.store)).returncode == 0
    compared = _cli("--store", str(receiver), "compare", "--format", "json")
    assert {row["id"]: row["metrics"]["ipc"] for row in json.loads(compared.stdout)} == {first: 0.1, second: 0.2}
    assert _cli("--store", str(receiver), "fsck").returncode == 0, "what pull derived is what the outputs say"

    # Forged in place, digest kept (a member of a shared store, a hand): fsck names it, reindex mends it.
    _rewrite(receiver / "runs" / first / "metrics.json", {"values.ipc": 99.5})
    checked = _cli("--store", str(receiver), "fsck")
    assert checked.returncode == 1
    assert (
        "metrics.json: differs from the outputs parsed again: ipc 99.5, parsed 0.1" in checked.stdout + checked.stderr
    )
    assert _cli("--store", str(receiver), "reindex").returncode == 0
    assert _cli("--store", str(receiver), "fsck").returncode == 0
    found = _cli("--store", str(receiver), "log", "--where", "ipc>50", "--json")
    assert json.loads(found.stdout) == []

    # Forged without its digest (another file's), before any command folds it: not indexed at all.
    folder = receiver / "runs" / second
    _rewrite(folder / "metrics.json", {"values.ipc": 99.5, "sha256": "0" * 64})
    index = receiver / "index.sqlite"
    index.unlink()
    listed = _cli("--store", str(receiver), "log", "--where", "ipc>50", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert f"run {second}: its metrics.json was not parsed from its recorded 'm.json'" in listed.stderr
    report = tmp_path / "report.md"
    assert _cli("--store", str(receiver), "report", first, second, "-o", str(report)).returncode == 0
    assert "99.5" not in report.read_text(), "report parses the outputs again"
    assert "| 0.2 |" in report.read_text()


# -- bounded parsing -----------------------------------------------------------------------------------

_NO_DUMP = "seq 10000000 | sed 's/.*/system.cpu.dcache.overallMissRate::total 0.& # miss (Ratio)/' > /out/stats.txt"
"""10,000,000 lines, 659 MB, not one gem5 dump (the case as found: 2.06 GB to say so)."""

_DUMPS = (  # braces doubled: a manifest's command fills {placeholders}
    "awk 'BEGIN {{ srand(); for (d = 0; d < 1000; d++) {{"
    ' print "---------- Begin Simulation Statistics ----------"; print "hostSeconds " rand();'
    ' for (i = 0; i < 9998; i++) print "system.cpu.stat" i " " i + d "  # a statistic of the simulated cpu (Count)";'
    ' print "---------- End Simulation Statistics   ----------" }} }}\' > /out/stats.txt'
)
"""10,000,000 lines in 1,000 dumps, about 660 MB; each run's ``hostSeconds`` differ, so the
bytes differ and verify compares the two files metric by metric."""

_BOUND = 200 * 2**20


def test_a_660_mb_stats_file_without_a_dump_is_read_in_bounded_memory(docker_project: Project) -> None:
    project = docker_project
    project.manifest(command=["sh", "-c", _NO_DUMP], metrics={"file": "stats.txt", "format": "gem5-stats"})
    done, peak = _peak_rss("run", "exp.yaml", cwd=project.root)
    assert done.returncode == 0, done.stderr
    (record,) = Store(project.store).records()
    size = next(entry.size for entry in record.outputs.files if entry.path == "stats.txt")  # type: ignore[union-attr]
    assert size > 650_000_000
    parsed = json.loads(Store(project.store).run_folder(record.id).metrics.read_text())
    assert parsed["error"] == "stats.txt holds no gem5 statistics dump"
    print(f"repro run of a {size / 1e6:.0f} MB stats.txt without a dump: peak RSS {peak / 2**20:.0f} MiB")
    assert peak <= _BOUND, f"{peak / 2**20:.0f} MiB"


def test_verify_compares_two_660_mb_stats_files_in_bounded_memory(docker_project: Project) -> None:
    project = docker_project
    project.manifest(
        command=["sh", "-c", _DUMPS],
        metrics={"file": "stats.txt", "format": "gem5-stats"},
        nondeterministic=[{"metrics": ["host*"]}],
    )
    ran, run_peak = _peak_rss("run", "exp.yaml", cwd=project.root)
    assert ran.returncode == 0, ran.stderr
    (record,) = Store(project.store).records()
    parsed = json.loads(Store(project.store).run_folder(record.id).metrics.read_text())
    assert parsed["dumps"] == 1000
    assert parsed["values"]["system.cpu.stat9997"] == 9997 + 999
    verified, verify_peak = _peak_rss("verify", record.id, "--json", cwd=project.root)
    assert verified.returncode == 0, verified.stderr
    (verdict,) = json.loads(verified.stdout)
    (stats,) = [f for f in verdict["files"] if f["path"] == "stats.txt"]
    assert stats["state"] == "identical", stats
    assert "same metrics" in stats["note"]
    print(f"1,000 dumps, 10M lines: run peak {run_peak / 2**20:.0f} MiB, verify peak {verify_peak / 2**20:.0f} MiB")
    assert run_peak <= _BOUND
    assert verify_peak <= _BOUND


def test_records_over_64_mib_are_refused_before_they_are_read_and_100000_outputs_pass(
    remote: tuple[Project, list[str]], tmp_path: Path
) -> None:
    project, (big, huge) = remote

    def grow(run: str, count: int) -> int:
        """Make ``run`` a run of ``count`` more (empty) output files, its record listing them all
        truly, as a sweep that writes many files leaves it."""
        folder = project.store / "runs" / run
        folder.chmod(0o755)
        (folder / "outputs").chmod(0o755)
        for number in range(count):
            (folder / "outputs" / f"result-of-point-{number:07d}-with-a-long-name.dat").touch()
        tree = hash_tree(folder / "outputs")
        entries = [
            OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries
        ]
        record = RunRecord.model_validate_json((folder / "record.json").read_bytes())
        outputs = OutputsRecord(digest=tree.digest, files=entries, total_bytes=tree.total_bytes)
        (folder / "record.json").chmod(0o644)
        (folder / "record.json").write_text(record.model_copy(update={"outputs": outputs}).model_dump_json(indent=2))
        return (folder / "record.json").stat().st_size

    def inflate(run: str, count: int) -> int:
        """Make ``run``'s record list ``count`` outputs it does not have (never read: too large)."""
        path = project.store / "runs" / run / "record.json"
        record = RunRecord.model_validate_json(path.read_bytes())
        assert record.outputs is not None
        files = [OutputEntry(path=f"f{i:07d}.dat", size=i, sha256=f"{i:064x}") for i in range(count)]
        grown = record.model_copy(update={"outputs": record.outputs.model_copy(update={"files": files})})
        path.chmod(0o644)
        path.write_text(grown.model_dump_json(indent=2))
        return path.stat().st_size

    big_bytes = grow(big, 204_000)  # about 50 MB: passes, in bounded memory
    huge_bytes = inflate(huge, 400_000)  # over 64 MiB: refused before it is read
    assert 45e6 < big_bytes < 64 * 2**20 < huge_bytes
    receiver = tmp_path / "receiver"
    pulled, peak = _peak_rss("--store", str(receiver), "pull", str(project.store), cwd=tmp_path)
    assert pulled.returncode == 3, pulled.stderr  # one run refused, said
    assert f"run {huge} from another store came without its record; not taken" in pulled.stderr
    assert [r.id for r in Store(receiver).records()] == [big]
    listed, log_peak = _peak_rss("--store", str(receiver), "log", cwd=tmp_path)
    assert listed.returncode == 0
    print(f"pull of a {big_bytes / 1e6:.0f} MB record: peak RSS {peak / 2**20:.0f} MiB; log {log_peak / 2**20:.0f} MiB")
    assert peak <= 512 * 2**20

    # In the store itself, an oversized record is skipped by every reader, in one line.
    (receiver / "runs" / huge).mkdir()
    shutil.copy(project.store / "runs" / huge / "record.json", receiver / "runs" / huge / "record.json")
    rebuilt = _cli("--store", str(receiver), "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"skipping run {huge}:" in rebuilt.stderr
    assert "more than the 67.1 MB such a file may; it is not read" in rebuilt.stderr


# -- the index ------------------------------------------------------------------------------------------


def test_an_index_that_is_a_folder_is_moved_aside_and_rebuilt(remote: tuple[Project, list[str]]) -> None:
    project, ids = remote
    index = project.store / "index.sqlite"
    index.unlink()
    index.mkdir()
    (index / "x").write_text("not an index\n")
    listed = _cli("log", "--json", cwd=project.root)
    assert listed.returncode == 0, listed.stderr
    assert sorted(run["id"] for run in json.loads(listed.stdout)) == sorted(ids)
    assert "was not a file: moved it aside" in listed.stderr
    assert index.is_file()
    (aside,) = [p for p in project.store.iterdir() if p.name.endswith(".aside")]
    assert (aside / "x").read_text() == "not an index\n", "moved, not deleted"
    assert _cli("log", cwd=project.root).stderr == "", "once rebuilt, nothing more to say"


# -- a group's store: what one member writes cannot redirect another -------------------------------------


def _prepare_as(user: Any, project: Path, store: Path) -> dict[str, Any]:
    """What ``repro run --detach`` does before it starts its driver, as ``user``: plan, pin,
    write the plan; returns the plan's path and id and the driver's command."""
    python = user.repro.parent / "python"
    code = (
        "import json, sys\n"
        "from repro import api\n"
        "from repro.cli.commands.run import detached_driver\n"
        "api.use_runtime('podman')\n"
        f"prepared = api.prepare_run('exp.yaml', store={str(store)!r})\n"
        "command = detached_driver(prepared.plan_path, prepared.plan.id, 1, api.Executor(), verbose=False)\n"
        "print(json.dumps({'path': str(prepared.plan_path), 'id': prepared.plan.id, 'command': command}))\n"
    )
    done = user.run([str(python), "-c", code], cwd=project, timeout=600)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_a_member_who_replaces_a_colleagues_plan_makes_the_colleagues_driver_refuse_it(lab: Lab) -> None:
    assert repro(lab.ann, lab.folder, "init", str(lab.store), "--shared", GROUP).returncode == 0
    bob_project = lab.project(lab.bob, [1])
    secret = Path("/home") / lab.bob.name / "secret.txt"
    secret.write_text(SECRET)
    lab.bob.own(secret)
    secret.chmod(0o600)
    # Ann's manifest: Bob's home, mounted with allow_sensitive, copied into the outputs.
    ann_project = lab.folder / lab.ann.name
    ann_project.mkdir()
    steal = {
        **lab.manifest([1]),
        "command": ["sh", "-c", "cat /victim/secret.txt > /out/stolen"],
        "mounts": [{"source": str(secret.parent), "target": "/victim", "allow_sensitive": True}],
    }
    (ann_project / "steal.yaml").write_text(yaml.safe_dump(steal, sort_keys=False))
    lab.ann.own(ann_project)

    prepared = _prepare_as(lab.bob, bob_project, lab.store)  # `repro run --detach`, up to its driver
    plan_file = Path(prepared["path"])
    # Ann replaces the plan file (the plans folder is the group's): Bob's plan, her manifest.
    data = json.loads(plan_file.read_text())
    data.update(
        manifest_path=str(ann_project / "steal.yaml"),
        manifest_sha256=hashlib.sha256((ann_project / "steal.yaml").read_bytes()).hexdigest(),
    )
    forged = plan_file.with_name(".forged.json")
    write = f"import sys; open({str(forged)!r}, 'w').write(sys.argv[1])"
    assert lab.ann.run(["/usr/bin/python3", "-c", write, json.dumps(data)], cwd=ann_project).returncode == 0
    assert lab.ann.run(["mv", "-f", str(forged), str(plan_file)], cwd=ann_project).returncode == 0
    assert plan_file.stat().st_uid == lab.ann.uid

    watch = Watch([ann_project, secret.parent])
    try:
        driver = lab.bob.run(prepared["command"], cwd=bob_project, timeout=600)  # Bob's detached driver
        events = [e for e in watch.events() if "/.cache" not in e and "/.local" not in e and "/.config" not in e]
    finally:
        watch.close()
    assert driver.returncode == 3, driver.stdout + driver.stderr
    lines = driver.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"repro: error: the plan {plan_file} is not plan {prepared['id'][:12]}")
    assert "nothing of it is run" in lines[0]
    assert not list((lab.store / "runs").iterdir()), "nothing ran"
    assert not [e for e in events if "steal.yaml" in e or "secret.txt" in e], f"read: {events}"
    ps = lab.bob.run(["podman", "ps", "--all", "--quiet"], cwd=lab.bob.runtime_dir)
    assert ps.stdout.strip() == "", "no container was started"
    for path in lab.store.rglob("*"):
        if path.is_file() and os.access(path, os.R_OK):
            assert SECRET.encode() not in path.read_bytes(), path


def test_leases_markers_and_records_a_member_plants_redirect_nothing_of_a_colleague(lab: Lab) -> None:
    assert repro(lab.ann, lab.folder, "init", str(lab.store), "--shared", GROUP).returncode == 0
    bob_project = lab.project(lab.bob, [1, 2])
    dry = repro(lab.bob, bob_project, "--store", str(lab.store), "run", "exp.yaml", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    keys = [point["key"] for point in json.loads(dry.stdout)["points"]]
    # Ann runs a point of her own, then plants, for each of Bob's points, a lease naming a copy
    # of her run that "ended" in 2099 (a run of another point), and a marker leading to Bob's home.
    ann_project = lab.project(lab.ann, [7])
    with podman_gates_opened(lab.ann, lab.store):  # the lab's points wait for the test to let them end
        assert repro(lab.ann, ann_project, "--store", str(lab.store), "run", "exp.yaml").returncode == 0
    (hers,) = list(Store(lab.store).records())
    forged_id = hers.id[:-8] + "f" * 8
    forged = hers.model_copy(update={"id": forged_id, "ended_at": hers.ended_at.replace(year=2099)})  # type: ignore[union-attr]
    home = Path("/home") / lab.bob.name
    plant = (
        "import json, os, sys\n"
        "os.umask(0o002)\n"  # group-writable, as the store's own files: Bob's repro opens them
        "store, forged_id, record, keys, home = sys.argv[1:6]\n"
        "os.makedirs(f'{store}/runs/{forged_id}', exist_ok=True)\n"
        "open(f'{store}/runs/{forged_id}/record.json', 'w').write(record)\n"
        "os.makedirs(f'{store}/leases', exist_ok=True)\n"
        "for key in json.loads(keys):\n"
        "    open(f'{store}/leases/{key}.lock', 'w').write(json.dumps({'run': forged_id}))\n"
        "    marker = {'run': forged_id, 'outputs': '../../..' + home}\n"
        "    open(f'{store}/points/{key}.json', 'w').write(json.dumps(marker))\n"
        # and a record whose point key leads to Bob's home, for Bob's next fold to write there
        "bad = json.loads(record)\n"
        "bad['id'] = forged_id[:-8] + 'e' * 8\n"
        "bad['point']['key'] = '../../../..' + home + '/pwned'\n"
        "os.makedirs(f\"{store}/runs/{bad['id']}\", exist_ok=True)\n"
        "open(f\"{store}/runs/{bad['id']}/record.json\", 'w').write(json.dumps(bad))\n"
        "open(f\"{store}/journal/{bad['id']}.1.1.aaaa\", 'w').close()\n"
    )
    args = [str(lab.store), forged_id, forged.model_dump_json(), json.dumps(keys), str(home)]
    planted = lab.ann.run(["/usr/bin/python3", "-c", plant, *args], cwd=ann_project)
    assert planted.returncode == 0, planted.stderr

    listed = repro(lab.bob, bob_project, "--store", str(lab.store), "log")
    assert listed.returncode == 0, listed.stderr
    assert "skipping run" in listed.stderr
    assert "point.key" in listed.stderr
    assert not list(home.glob("pwned*")), "a planted record's key became a path in Bob's home"

    # A marker a member planted leads nowhere: the workflow API refuses it in one line.
    python = lab.bob.repro.parent / "python"
    marker = lab.store / "points" / f"{keys[0]}.json"
    outputs = lab.bob.run(
        [str(python), "-c", f"import repro.workflow as w; print(w.outputs({str(marker)!r}))"], cwd=bob_project
    )
    assert outputs.returncode != 0
    assert "does not name a run of its point" in outputs.stderr

    with podman_gates_opened(lab.bob, lab.store):
        ran = repro(lab.bob, bob_project, "--store", str(lab.store), "run", "exp.yaml", "--json")
    assert ran.returncode == 0, ran.stderr
    records = {r.point.key: r for r in Store(lab.store).records() if r.user and r.user.name == lab.bob.name}
    assert sorted(records) == sorted(keys), "each of Bob's points ran, as his, not taken from a planted lease"
    assert all(r.status is Status.SUCCEEDED for r in records.values())
    for key, record in records.items():
        named = lab.bob.run(
            [
                str(python),
                "-c",
                f"import repro.workflow as w; print(w.run_id({str(lab.store / 'points' / f'{key}.json')!r}))",
            ],
            cwd=bob_project,
        )
        assert named.stdout.strip() == record.id, "his run marks his point"
    assert not list(home.glob("pwned*"))


def test_the_peak_memory_measure_sees_what_a_command_holds_and_nothing_of_the_test() -> None:
    """The measure the memory bounds above rely on: a command holding 300 MiB is seen doing so;
    a command holding nothing is seen small, while this test's own process holds 300 MiB."""
    hold = "x = bytearray(300 * 2**20); x[::4096] = b'x' * len(x[::4096])"
    _, big = peak_rss([sys.executable, "-c", hold])
    assert big >= 300 * 2**20
    held = bytearray(300 * 2**20)
    held[::4096] = b"x" * len(held[::4096])
    _, small = peak_rss([sys.executable, "-c", "pass"])
    assert small < 100 * 2**20, f"{small / 2**20:.0f} MiB"
    assert len(held) == 300 * 2**20
