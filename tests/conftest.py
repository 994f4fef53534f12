"""Shared set-up for every test: git projects in temp folders driven through the real CLI,
and the golden files. Tests that need a container engine live in ``tests/e2e`` (fixtures in
``tests/e2e/conftest.py``); ``tests/unit`` needs none.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from repro.cli.main import main
from repro.provenance.host import host_facts, tool_versions
from repro.store.record import (
    ContainerRecord,
    ImageRecord,
    ManifestRecord,
    PointRecord,
    ResourcesRecord,
    RunRecord,
    Status,
)

CHECKOUT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """This machine's shared resources (the gem5 kit, the RO-Crate JSON-LD contexts):
    ``$REPRO_SHARED`` if set, else the ``shared`` folder beside the checkout (``../shared``)."""
    given = os.environ.get("REPRO_SHARED")
    return Path(given) if given else CHECKOUT.parent / "shared"


SHARED = _shared()


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        import json

        return json.loads(self.out)


@dataclass(frozen=True)
class Image:
    name: str
    id: str

    @property
    def pin(self) -> dict[str, str]:
        return {"name": self.name, "id": self.id}


@dataclass
class Project:
    """A git repository in a temp folder, with manifests, run through the real CLI."""

    root: Path
    image: Image | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.root / ".repro"

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def manifest(self, relative: str = "exp.yaml", **fields: Any) -> Path:
        """Write a manifest: sensible defaults, overridden by ``fields``."""
        assert self.image is not None
        data: dict[str, Any] = {
            "version": 1,
            "name": "exp",
            "image": self.image.pin,
            "command": ["sh", "-c", "echo hello > /out/hello.txt"],
        }
        data.update(fields)
        return self.write(relative, yaml.safe_dump(data, sort_keys=False))

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def repro(self, *args: str) -> Result:
        """Run the CLI in this process (as `repro ARGS` from the project's folder)."""
        out, err = io.StringIO(), io.StringIO()
        previous = Path.cwd()
        os.chdir(self.root)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            os.chdir(previous)
        return Result(code, out.getvalue(), err.getvalue())

    def spawn(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start `python -m repro ARGS` as a separate process (for signal tests)."""
        return subprocess.Popen(
            [sys.executable, "-m", "repro", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )


def made_resources(folder: str, names: list[str]) -> list[str]:
    """For shutil.copytree of examples/gem5: leave out what build-fs-resources.sh made in
    resources/ (a kernel build tree among it), keep the folder and its .gitignore."""
    return [name for name in names if Path(folder).name == "resources" and name != ".gitignore"]


def make_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "test@example.org"],
        ["config", "user.name", "repro tests"],
        ["config", "commit.gpgsign", "false"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C for the processes the tests start, as from a terminal: a suite started as a
    script's background job inherits SIGINT ignored, and passes that on to every child."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _umask_kept() -> Any:
    """Each test starts with the umask the session had: opening a group's store in this process
    (in-process commands) widens it for the process, as it does for the command that opens it."""
    kept = os.umask(0o022)
    os.umask(kept)
    yield
    os.umask(kept)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A git repository with one commit, not yet holding a manifest (no engine needed)."""
    root = tmp_path / "project"
    make_repo(root)
    proj = Project(root=root, image=Image("repro-test/busybox:1", "sha256:" + "0" * 64))
    proj.write("README", "experiment\n")
    proj.commit("initial")
    return proj


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


# -- golden files -------------------------------------------------------------------------------

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXED_STORE = Path(__file__).resolve().parent / "data" / "store-v1"


def check_golden(name: str, text: str) -> None:
    """``text`` must equal ``tests/golden/NAME``. ``REPRO_UPDATE_GOLDEN=1`` rewrites a file that
    differs, and the test still fails, naming it: a run with the variable set is never green."""
    path = GOLDEN / name
    if os.environ.get("REPRO_UPDATE_GOLDEN") == "1" and (not path.is_file() or path.read_text() != text):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        pytest.fail(
            f"rewrote {path}: review `git diff -- {path}`, then rerun without REPRO_UPDATE_GOLDEN",
            pytrace=False,
        )
    assert path.is_file(), f"no golden file {path}; write it with REPRO_UPDATE_GOLDEN=1"
    expected = path.read_text()
    assert text == expected, f"output differs from {path} (see tests/golden/README.md)"


@pytest.fixture
def fixed_store(tmp_path: Path) -> Path:
    """A copy of a store written by repro 0.1.0 (schema 1 records from real runs)."""
    store = tmp_path / "store"
    shutil.copytree(FIXED_STORE, store)
    return store


# -- records made by hand (unit tests) ------------------------------------------------------------


def run_id_of(label: str, second: int = 0) -> str:
    """A run id of the shape repro makes (records refuse any other), told apart by ``label``
    (hex digits, at most 8) and ordered by ``second``."""
    return f"20261101-{second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}-{label:0>8}"


def make_record(run_id: str, key: str = "c" * 64, status: Status = Status.SUCCEEDED, **extra: object) -> RunRecord:
    """A small, valid record (no run behind it): fields not given are placeholders."""
    return RunRecord(
        id=run_id,
        status=status,
        exit_code=0,
        started_at=datetime(2026, 11, 1, tzinfo=UTC),
        point=PointRecord(key=key, label="n=1", index=0, params={"n": 1}),
        manifest=ManifestRecord(path="/x/exp.yaml", sha256="0" * 64, name="exp", resolved={}),
        image=ImageRecord(
            reference="lab/x",
            pin_kind="id",
            pinned="sha256:" + "1" * 64,
            id="sha256:" + "1" * 64,
            repo_digests=[],
            os="linux",
            architecture="amd64",
        ),
        container=ContainerRecord(
            command=["true"],
            env={},
            workdir=None,
            user="1:1",
            user_mode="host",
            network="none",
            hostname="repro",
            outputs="/out",
            resources=ResourcesRecord(),
        ),
        git=None,
        inputs=[],
        host=host_facts(),
        versions=tool_versions(),
        **extra,  # type: ignore[arg-type]
    )


def with_metrics(store: Any, record: RunRecord, metrics: dict[str, Any], file: str = "m.json") -> RunRecord:
    """``record`` with a real metrics file among its outputs (``metrics: {file, format: json}``
    in its manifest, the file listed with its digest) and its ``metrics.json`` parsed from it,
    as a run that ended leaves them. ``store`` is the store the run's folder is in."""
    import json

    from repro.execute.finish import write_parsed_metrics
    from repro.provenance.hashing import hash_tree
    from repro.store.record import OutputEntry, OutputsRecord

    folder = store.run_folder(record.id)
    folder.outputs.mkdir(parents=True, exist_ok=True)
    (folder.outputs / file).write_text(json.dumps(metrics))
    tree = hash_tree(folder.outputs)
    entries = [
        OutputEntry(path=e.path, kind=e.kind, size=e.size, sha256=e.sha256, target=e.target) for e in tree.entries
    ]
    resolved = {**record.manifest.resolved, "metrics": {"file": file, "format": "json"}}
    record = record.model_copy(
        update={
            "outputs": OutputsRecord(digest=tree.digest, files=entries, total_bytes=tree.total_bytes),
            "manifest": record.manifest.model_copy(update={"resolved": resolved}),
        }
    )
    write_parsed_metrics(folder, record)
    return record


# -- seeing reads: inotify --------------------------------------------------------------------------

_IN_ACCESS, _IN_MODIFY, _IN_ATTRIB, _IN_OPEN = 0x1, 0x2, 0x4, 0x20
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200
_ANY = _IN_ACCESS | _IN_MODIFY | _IN_ATTRIB | _IN_OPEN | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE


class Watch:
    """inotify on some folders: every open, read, write, creation the kernel reports in them."""

    def __init__(self, folders: list[Path]) -> None:
        self._libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, "inotify is needed to see reads"
        self.names: dict[int, Path] = {}
        for folder in folders:
            wd = self._libc.inotify_add_watch(self.fd, str(folder).encode(), _ANY)
            assert wd >= 0, folder
            self.names[wd] = folder

    def events(self) -> list[str]:
        found: list[str] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return found
            offset = 0
            while offset < len(data):
                wd, mask, _, length = struct.unpack_from("iIII", data, offset)
                name = data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode(errors="replace")
                found.append(f"{self.names.get(wd)}/{name}: mask {mask:#x}")
                offset += 16 + length

    def close(self) -> None:
        os.close(self.fd)


# -- peak memory -------------------------------------------------------------------------------------

_MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "child.returncode = os.waitstatus_to_exitcode(status)\n"
    "print(usage.ru_maxrss, file=open(sys.argv[1], 'w'))\n"
    "sys.exit(child.returncode)\n"
)


def peak_rss(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``argv`` and return how it ended and its peak resident memory in bytes (from its own
    ``wait4``, as ``/usr/bin/time -f %M`` reports it). A small process of its own starts it: a
    child's peak counts the memory of the process it was forked from until it execs, and a
    test's process may hold hundreds of MiB."""
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, peak.name, *argv],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=3600,
        )
        return done, int(peak.read().strip() or 0) * 1024
