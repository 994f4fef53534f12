"""Stores of many runs without running them: records are data, and the index is built from them.

``make_store(folder, count)`` writes ``count`` run folders that are copies of one run folder
(its record with ids, keys, parameters and times varied; its logs and outputs as they are) and
builds the index from them with ``repro reindex``'s own code, so a 10,000-run store takes
seconds, not 10,000 containers.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from repro import api
from repro.provenance.process import DriverFacts
from repro.store import Store

__all__ = ["TEMPLATE", "make_store"]

TEMPLATE = Path(__file__).resolve().parent.parent / "tests" / "data" / "store-v1" / "runs" / "20261128-082149-7bc0ac59"
"""A run of the golden store the tests keep (its image and commit exist nowhere: enough for queries)."""


def make_store(folder: Path, count: int, *, running: int = 0, template: Path = TEMPLATE) -> Store:
    """A store at ``folder`` with ``count`` succeeded runs copied from the run folder
    ``template``; the last ``running`` of them are running, driven by this process (so they
    stay running while it lives)."""
    api.init_store(folder)
    store = Store(folder)
    record_template = json.loads((template / "record.json").read_text())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(count):
        run_id = f"{(start + timedelta(minutes=number)):%Y%m%d-%H%M%S}-{number:08x}"
        record = json.loads(json.dumps(record_template))
        size, policy = number % 97, ("lru", "fifo", "random")[number % 3]
        record.update(id=run_id, started_at=(start + timedelta(minutes=number)).isoformat())
        record["point"].update(key=f"{number:064x}", label=f"size={size},policy={policy}", index=number)
        record["point"]["params"] = {"size": size, "policy": policy, "scale": number / 7}
        record["manifest"]["name"] = f"bench-{number % 4}"
        if number >= count - running:
            record.update(status="running", ended_at=None, duration_seconds=None, outputs=None)
            record["driver"] = DriverFacts.current().model_dump()
        path = store.layout.run(run_id)
        shutil.copytree(template / "outputs", path / "outputs")
        for log in ("stdout.log", "stderr.log"):
            shutil.copyfile(template / log, path / log)
        (path / "record.json").write_text(json.dumps(record))
        metrics = {"ipc": 0.5 + (number % 97) / 100, "l1d_miss_rate": (number % 13) / 13, "simInsts": 1e5 + number}
        (path / "metrics.json").write_text(json.dumps({"file": "metrics.json", "format": "json", "values": metrics}))
        if record["status"] == "succeeded":  # as the job that ran it would have left it
            marker = {"run": run_id, "record": f"runs/{run_id}/record.json", "outputs": f"runs/{run_id}/outputs"}
            (store.layout.points / f"{record['point']['key']}.json").write_text(json.dumps(marker))
    api.reindex(store=folder)
    return store
