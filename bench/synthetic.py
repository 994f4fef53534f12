"""Stores of many runs without running them: records are data, and the index is built from them.

``make_store(folder, count)`` writes ``count`` run folders shaped like one run folder (its record
with ids, keys, parameters, times and manifest names varied; its logs and outputs as they are)
and builds the index. Every run is real files — its folder, its record, its ``metrics.json``,
its point marker — but the logs and outputs of all runs are hard links to one copy, and the
index is written straight from the values each record was made from (what ``repro reindex``
would read back from them; a test holds the two to each other), while worker processes write
the folders. A store of a million runs (about 15 GB, mostly the file system's blocks of small
files and folders) takes minutes, not the hours of copying and reading back.
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from repro import api
from repro.provenance.process import DriverFacts
from repro.store import Store
from repro.store.index import Index, IndexEntry, Value

__all__ = ["SHAPE", "TEMPLATE", "make_store", "run_id"]

TEMPLATE = Path(__file__).resolve().parent.parent / "tests" / "data" / "store-v1" / "runs" / "20261128-082149-7bc0ac59"
"""A run of the golden store the tests keep (its image and commit exist nowhere: enough for queries)."""

SHAPE = 4
"""Raised whenever what :func:`make_store` writes changes (a store kept by a benchmark is then made again)."""
START = datetime(2026, 1, 1, tzinfo=UTC)
POLICIES = ("lru", "fifo", "random")
CHUNK = 5_000
"""Runs per task of a worker process."""


@dataclass(frozen=True)
class _Run:
    """What varies from one synthetic run to the next (run ``number`` of the store)."""

    number: int
    running: bool

    @property
    def started(self) -> datetime:
        return START + timedelta(minutes=self.number)

    @property
    def id(self) -> str:
        return f"{self.started:%Y%m%d-%H%M%S}-{self.number:08x}"

    @property
    def key(self) -> str:
        return f"{self.number:064x}"

    @property
    def params(self) -> dict[str, Value]:
        return {
            "size": self.number % 97,
            "policy": ("lru", "fifo", "random")[self.number % 3],
            "scale": self.number / 7,
        }

    @property
    def label(self) -> str:
        return f"size={self.number % 97},policy={POLICIES[self.number % 3]}"

    @property
    def manifest_name(self) -> str:
        return f"bench-{self.number % 4}"

    @property
    def metrics(self) -> dict[str, Value] | None:
        """The values its ``outputs/metrics.json`` holds (None while it runs: no outputs yet)."""
        if self.running:
            return None
        number = self.number
        return {"ipc": 0.5 + (number % 97) / 100, "l1d_miss_rate": (number % 13) / 13, "simInsts": 1e5 + number}

    @property
    def metrics_file(self) -> bytes:
        """The run's ``outputs/metrics.json``, its metrics as the point wrote them."""
        return json.dumps(self.metrics, sort_keys=True).encode()

    def record(self, template: dict[str, Any], driver: dict[str, Any]) -> dict[str, Any]:
        """The template's record made this run's (nested parts it does not change are shared)."""
        record = dict(template, id=self.id, started_at=self.started.isoformat())
        record["point"] = dict(template["point"], key=self.key, label=self.label, index=self.number, params=self.params)
        record["manifest"] = dict(template["manifest"], name=self.manifest_name)
        if self.running:
            record.update(status="running", ended_at=None, duration_seconds=None, outputs=None, driver=driver)
        else:  # its own metrics file, listed with its digest (the outputs' tree digest is the template's)
            data = self.metrics_file
            entry = {"path": "metrics.json", "kind": "file", "size": len(data), "sha256": _sha256(data), "target": None}
            files = [entry if file["path"] == "metrics.json" else file for file in template["outputs"]["files"]]
            record["outputs"] = dict(template["outputs"], files=files)
        return record

    def entry(self, record: dict[str, Any]) -> IndexEntry:
        """The index's entry of this run's ``record`` — what :meth:`IndexEntry.of` makes of it
        once read and validated."""
        user = record.get("user")
        git = record.get("git")
        row = (
            self.id,
            self.key,
            self.manifest_name,
            self.label,
            record["status"],
            record.get("exit_code"),
            self.started.isoformat(),
            self.started.timestamp(),
            record.get("duration_seconds"),
            record["manifest"]["path"],
            json.dumps(self.params),
            record["image"]["id"],
            git.get("commit") if git else None,
            record.get("reproduces"),
            record.get("error"),
            user["name"] if user else None,
            user["uid"] if user else None,
        )
        return IndexEntry(row, self.params, self.metrics)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_id(number: int) -> str:
    """The id of the run ``number`` (from 0) of a store :func:`make_store` made."""
    return _Run(number, running=False).id


def make_store(folder: Path, count: int, *, running: int = 0, template: Path = TEMPLATE) -> Store:
    """A store at ``folder`` with ``count`` succeeded runs shaped like the run folder
    ``template``; the last ``running`` of them are running, driven by this process (so they
    stay running while it lives)."""
    api.init_store(folder)
    store = Store(folder)
    base = json.loads((template / "record.json").read_text())
    driver = DriverFacts.current().model_dump(mode="json")
    runs = [_Run(number, number >= count - running) for number in range(count)]
    if not runs:
        return store
    first = store.layout.run(runs[0].id)
    shutil.copytree(template, first, ignore=shutil.ignore_patterns("record.json", "metrics.json"))
    # Worker processes write the folders while this one builds the index.
    context = multiprocessing.get_context("fork")
    workers = max(1, min(os.cpu_count() or 1, 8))
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        chunks = [
            pool.submit(_write, store.root, first, base, driver, runs[start : start + CHUNK])
            for start in range(0, count, CHUNK)
        ]
        built = store.layout.index.with_name(".index.sqlite.synthetic")
        Index.build(built, _entries(runs, base, driver))
        for chunk in chunks:
            chunk.result()
    Index(store.layout.index).swap_in(built)
    return store


def _entries(runs: list[_Run], base: dict[str, Any], driver: dict[str, Any]) -> Iterator[IndexEntry]:
    for run in runs:
        yield run.entry(run.record(base, driver))


def _write(root: Path, first: Path, base: dict[str, Any], driver: dict[str, Any], runs: list[_Run]) -> None:
    """Write the folders of ``runs`` (in a worker process): the record, metrics and marker of
    each, its logs and outputs linked to those of the ``first`` run's folder."""
    store = Store(root)
    shared = [(Path(here).relative_to(first), names) for here, _, names in os.walk(first)]
    sources: dict[Path, Path] = {}
    for run in runs:
        path = store.layout.run(run.id)
        record = run.record(base, driver)
        for relative, names in shared:
            (path / relative).mkdir(parents=True, exist_ok=True)
            if path != first:
                for name in names:
                    if name not in ("record.json", "metrics.json"):  # the run's own (outputs/ too)
                        _link(sources, first / relative / name, path / relative / name)
        (path / "record.json").write_text(json.dumps(record))
        if not run.running:  # as the job that ran it would have left it
            data = run.metrics_file
            (path / "outputs" / "metrics.json").write_bytes(data)
            parsed = {"file": "metrics.json", "format": "json", "dump": "last", "sha256": _sha256(data)}
            kept = json.dumps(dict(parsed, dumps=1, values=run.metrics), sort_keys=True) + "\n"
            (path / "metrics.json").write_text(kept)  # the bytes a run's end writes
            marker = {"run": run.id, "record": f"runs/{run.id}/record.json", "outputs": f"runs/{run.id}/outputs"}
            store.layout.point_marker(run.key).write_text(json.dumps(marker))


def _link(sources: dict[Path, Path], original: Path, destination: Path) -> None:
    """Link ``destination`` to the current copy of ``original``; a file system's limit of links
    to one file (65,000 on ext4) reached, the destination becomes a copy, and the next source."""
    try:
        os.link(sources.get(original, original), destination)
    except OSError as exc:
        if exc.errno != errno.EMLINK:
            raise
        shutil.copy2(original, destination)
        sources[original] = destination
