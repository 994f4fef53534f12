"""Every file of a store is input: a property test of the whole class.

A run arrives in a store as another store or a colleague left it — planted in the store (as a
member of a shared store, or a push, leaves it) and pulled from another store over rsync — with
hostile values in any of its record's text fields (``../``, absolute paths, NUL, newlines, very
long, unicode and escape sequences, names of other runs), in its folder's name, and with links
where its logs, diff, metrics or outputs should be. Then every command that reads such runs
without an engine runs on it: the fold (``log``), ``show``, ``fsck``, ``reindex``,
``compare``, ``report``, ``view``, ``export --rocrate``, ``pack`` and ``pull``.

What it checks, for each example:

- nothing outside the stores is written: the whole tree around them (the sentinel files, the
  remote store, the folder holding the stores) is the same before and after, file by file, and
  no path a ``../`` chain could reach (``/tmp/…`` canaries) appears;
- nothing outside the stores is read: the folder of sentinel files is watched with inotify
  (``IN_OPEN``/``IN_ACCESS``, which the kernel reports for any process, root included) — not
  one event, and the sentinel's content appears in no output, crate, artifact or store;
- every command ends with one of repro's exit codes (a traceback fails the test).

What it does not prove: reads through hard links or bind mounts of the sentinel (the same inode
elsewhere is not watched), reads by processes that are not repro's (rsync's reads of the remote
are expected and not watched), or races (a file swapped while a command runs). ``pack`` reads the
host paths a record names for its inputs and repository by design (it carries them into the
artifact, only when their content has the recorded digest): those two fields are pointed at
places that do not exist here, so this test does not cover that documented reading.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.cli.main import main
from repro.store import Store
from repro.store.images import REF_NAME
from repro.store.record import GitRecord, InputRecord, LogsRecord
from tests.conftest import Watch, make_record, make_repo, run_id_of, with_metrics

SECRET = "the sentinel's secret content 9f1c"
CANARY = f"repro-hostile-canary-{os.getpid()}"

RUN = run_id_of("abcdef01")
"""The planted run's id (when its record keeps a valid one)."""

HOSTILE = [
    "../",
    "..",
    ".",
    "",
    "/",
    "{OUTSIDE}/secret",
    "{OUTSIDE}",
    "../../outside/secret",
    "../../../outside/secret",
    "../" * 16 + f"tmp/{CANARY}",
    "/tmp/" + CANARY,
    "a\x00b",
    "a\nb",
    "\r\n",
    "x" * 5000,
    "é\u202e\u2028\ufeff",
    "\x1b[2J\x1b]52;c;cHduZWQ=\x07",
    f"{RUN}\n",
    "../runs/" + run_id_of("2", 2),
    "sha256:" + "0" * 63 + "/",
    "0" * 64 + "/../../x",
    "outputs/../../../outside",
    "stdout.log/../../../outside/secret",
]
"""Values put in a record's text fields (``{OUTSIDE}``: the absolute path of the sentinels)."""

FOLDER_NAMES = [RUN, RUN, RUN, "..x", "a\nb", f"{RUN}\n", "index.sqlite", "\x1b[2J"]
"""What the planted run's folder is named (mostly its id: the hostile values are in the record)."""

LINKS = [None, None, "stdout.log", "stderr.log", "git.diff", "metrics.json", "outputs", "record.json", "outputs/r.txt"]
"""A file or folder of the run replaced by a link to the sentinels."""

NOT_READ_BY_DESIGN = {("inputs", 0, "source"), ("git", "root")}
"""What ``pack`` reads by design (see the module's docstring): never pointed at the sentinels."""


# -- the record planted ----------------------------------------------------------------------------


def _leaves(data: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, (*where, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, (*where, index))
    elif isinstance(data, str):
        yield where


def _base_record(store: Store, project: Path, image_id: str) -> dict[str, Any]:
    """A valid final record of a real run folder: outputs (a result, a metrics file, a link
    inside), logs, a diff, a bound metrics.json; made at a commit of ``project`` with an
    archived image."""
    folder = store.run_folder(RUN)
    folder.outputs.mkdir(parents=True)
    (folder.outputs / "r.txt").write_text("result\n")
    (folder.outputs / "inner").symlink_to("r.txt")
    folder.stdout.write_text("out\n")
    folder.stderr.write_text("err\n")
    folder.diff.write_text("diff --git a/x b/x\n")
    record = make_record(RUN, key="ab" * 32)
    record = with_metrics(store, record, {"ipc": 0.5, "cpu": "o3"})
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True)
    record = record.model_copy(
        update={
            "image": record.image.model_copy(update={"id": image_id, "pinned": image_id}),
            "git": GitRecord(
                root=str(project),
                commit=commit.stdout.strip(),
                branch="main",
                dirty=True,
                diff="git.diff",
                diff_sha256=hashlib.sha256(folder.diff.read_bytes()).hexdigest(),
                manifest_path="exp.yaml",
            ),
            "inputs": [
                InputRecord(
                    target="/data",
                    source="/nonexistent/input",
                    readonly=True,
                    digest="sha256:" + "2" * 64,
                    files=1,
                    bytes=1,
                )
            ],
            "logs": LogsRecord(
                stdout_sha256=hashlib.sha256(b"out\n").hexdigest(),
                stdout_bytes=4,
                stderr_sha256=hashlib.sha256(b"err\n").hexdigest(),
                stderr_bytes=4,
            ),
            "plan": "c" * 64,
        }
    )
    return json.loads(record.model_dump_json())


def _set(data: dict[str, Any], where: tuple[Any, ...], value: str) -> None:
    target: Any = data
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = value


# -- the world around the stores -----------------------------------------------------------------


def _snapshot(root: Path, skip: set[Path]) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` (but ``skip``): kind, mode, size, content digest, link target."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        folders[:] = [name for name in folders if here / name not in skip]
        for name in [*folders, *files]:
            path = here / name
            facts = path.lstat()
            entry: tuple[Any, ...] = (stat.S_IFMT(facts.st_mode), stat.S_IMODE(facts.st_mode), facts.st_mtime_ns)
            if stat.S_ISREG(facts.st_mode):
                entry += (hashlib.sha256(path.read_bytes()).hexdigest(),)
            elif stat.S_ISLNK(facts.st_mode):
                entry += (os.readlink(path),)
            found[str(path.relative_to(root))] = entry
    return found


@dataclass
class World:
    root: Path
    outside: Path
    store: Store
    remote: Store
    pulled: Path
    out: Path
    project: Path
    image: str


@contextlib.contextmanager
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory(prefix="repro-hostile-") as name:
        root = Path(name)
        outside = root / "outside"
        (outside / "dir").mkdir(parents=True)
        (outside / "secret").write_text(SECRET)
        (outside / "dir" / "file").write_text(SECRET)
        (outside / "secret").chmod(0o600)
        stores = [Store(root / name / ".repro") for name in ("store", "remote")]
        for store in stores:
            store.create()
            image = _archive_image(store)
        project = root / "project"
        make_repo(project)
        (project / "exp.yaml").write_text("version: 1\n")
        subprocess.run(["git", "add", "-A"], cwd=project, check=True)
        subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=project, check=True)
        (root / "out").mkdir()
        yield World(root, outside, stores[0], stores[1], root / "pulled" / ".repro", root / "out", project, image)


def _plant(store: Store, record: dict[str, Any], folder_name: str, link: str | None, outside: Path) -> None:
    """The run's folder under ``folder_name``, its record, a link if asked, a journal entry."""
    folder = store.layout.runs / folder_name
    if folder_name != RUN:
        store.run_folder(RUN).path.rename(folder)
    (folder / "record.json").write_text(json.dumps(record))
    if link is not None:
        path = folder / link
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.symlink_to(outside / ("dir" if link == "outputs" else "secret"))
    entry = f"{folder_name.split('.')[0] or 'x'}.1.1.aaaa"
    with contextlib.suppress(OSError):  # a name the filesystem refuses is no entry
        (store.layout.journal / entry).write_bytes(b"")


def _archive_image(store: Store) -> str:
    """An image in the store's archive (an OCI layout: a config, no layers), so that ``pack``
    and ``pull`` carry it without an engine; returns its id."""
    blobs = store.layout.image_blobs
    blobs.mkdir(parents=True, exist_ok=True)

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return digest

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    config_hex = blob(config.encode())
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_hex}",
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": f"sha256:{blob(manifest)}",
        "size": len(manifest),
        "annotations": {REF_NAME: config_hex},
    }
    store.layout.images_oci_layout.write_text('{"imageLayoutVersion": "1.0.0"}')
    store.layout.images_index.write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return f"sha256:{config_hex}"


def _repro(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert code in (0, 1, 2, 3), f"repro {' '.join(args)}: exit {code}\n{err.getvalue()}"
    return code, out.getvalue() + err.getvalue()


def _commands(w: World) -> Iterator[tuple[str, ...]]:
    store, pulled = str(w.store.root), str(w.pulled)
    yield "--store", store, "log"
    yield "--store", store, "log", "--json"
    yield "--store", store, "show", RUN
    yield "--store", store, "show", RUN, "--json"
    yield "--store", store, "fsck"
    yield "--store", store, "compare", "--format", "csv"
    yield "--store", store, "report", RUN, "-o", str(w.out / "report.md")
    yield "--store", store, "export", "--rocrate", RUN, "-o", str(w.out / "crate")
    yield "--store", store, "export", "--rocrate", RUN
    yield "--store", store, "pack", RUN, "-o", str(w.out / "artifact.tar")
    yield "--store", store, "view", "-o", str(w.out / "view.html")
    yield "--store", store, "reindex"
    yield "--store", pulled, "pull", str(w.remote.root)
    yield "--store", pulled, "log"
    yield "--store", pulled, "fsck"
    yield "--store", pulled, "export", "--rocrate", RUN, "-o", str(w.out / "crate-pulled")


def _all_bytes(path: Path) -> Iterator[bytes]:
    for folder, _, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if file.is_file() and not file.is_symlink():
                data = file.read_bytes()
                yield data
                if file.suffix == ".tar":
                    with tarfile.open(file) as tar:
                        for member in tar.getmembers():
                            extracted = tar.extractfile(member) if member.isfile() else None
                            if extracted is not None:
                                yield extracted.read()


hostile = st.fixed_dictionaries(
    {
        "fields": st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4),
        "values": st.lists(st.sampled_from(HOSTILE), min_size=4, max_size=4),
        "folder": st.sampled_from(FOLDER_NAMES),
        "link": st.sampled_from(LINKS),
    }
)


@pytest.mark.slow
@settings(
    max_examples=int(os.environ.get("REPRO_HOSTILE_EXAMPLES", "30")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(hostile)
def test_no_record_makes_a_command_read_or_write_outside_its_store(case: dict[str, Any]) -> None:
    with world() as w:
        base = _base_record(w.store, w.project, w.image)
        fields = [f for f in _leaves(base) if f not in NOT_READ_BY_DESIGN]
        chosen = [fields[i % len(fields)] for i in case["fields"]]
        record = json.loads(json.dumps(base))
        for where, value in zip(chosen, case["values"], strict=False):
            _set(record, where, value.replace("{OUTSIDE}", str(w.outside)))
        # The same run, as another store holds it: pulled from there.
        shutil.copytree(w.store.run_folder(RUN).path, w.remote.run_folder(RUN).path, symlinks=True)
        for store in (w.store, w.remote):
            _plant(store, record, case["folder"], case["link"], w.outside)

        skip = {w.store.root, w.root / "pulled", w.out}
        before = _snapshot(w.root, skip)
        watch = Watch([w.outside, w.outside / "dir"])
        try:
            outputs = [_repro(*args)[1] for args in _commands(w)]
            seen = watch.events()
        finally:
            watch.close()

        assert seen == [], f"read or changed outside the store: {seen[:5]} (fields {chosen})"
        assert _snapshot(w.root, skip) == before, f"something outside the stores changed (fields {chosen})"
        assert not Path("/tmp", CANARY).exists(), f"a ../ chain reached /tmp (fields {chosen})"
        secret = SECRET.encode()
        assert not any(secret in text.encode() for text in outputs), f"the secret was printed (fields {chosen})"
        for place in (w.out, w.store.root, w.pulled):
            assert not any(secret in data for data in _all_bytes(place)), f"the secret reached {place}"


@pytest.mark.parametrize("link", [link for link in LINKS if link is not None])
def test_each_link_in_a_planted_run_is_refused_without_being_followed(link: str) -> None:
    """The links of the property test one by one, with a valid record: every command still reads
    nothing outside the store (the property test draws them at random among other changes)."""
    with world() as w:
        record = _base_record(w.store, w.project, w.image)
        shutil.copytree(w.store.run_folder(RUN).path, w.remote.run_folder(RUN).path, symlinks=True)
        for store in (w.store, w.remote):
            _plant(store, record, RUN, link, w.outside)
        watch = Watch([w.outside, w.outside / "dir"])
        try:
            codes = [(args[2:], _repro(*args)[0]) for args in _commands(w)]
            seen = watch.events()
        finally:
            watch.close()
        assert seen == []
        fsck = next(code for args, code in codes if args == ("fsck",))  # the planted store's
        assert fsck == 1, "fsck names the link as damage"


def test_json_nested_too_deeply_for_python_is_bad_json_not_a_crash(tmp_path: Path) -> None:
    """A metrics.json, a point marker or a record nested 100,000 deep (a RecursionError in
    json.loads) is treated as any malformed file: log, reindex and fsck go on and say so."""
    root = tmp_path / ".repro"
    assert main(["--store", str(root), "init"]) == 0
    store = Store(root)
    store.run_folder(RUN).outputs.mkdir(parents=True)
    record = with_metrics(store, make_record(RUN, key="ab" * 32), {"ipc": 0.5})
    store.write_record(record)
    deep = b"[" * 100_000 + b"]" * 100_000
    store.run_folder(RUN).metrics.write_bytes(deep)
    store.point_marker("ab" * 32).write_bytes(deep)

    assert main(["--store", str(root), "log"]) == 0
    assert main(["--store", str(root), "reindex"]) == 0
    assert store.run_folder(RUN).metrics.read_bytes() != deep, "reindex parses them again from the outputs"
    assert store.metrics_of(RUN) == {"ipc": 0.5}
    store.point_marker("ab" * 32).write_bytes(deep)
    assert main(["--store", str(root), "fsck"]) in (0, 1)
