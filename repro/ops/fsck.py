"""``repro fsck [RUN…]``: every file the store keeps, checked against its recorded digest — and
what is derived from them (``metrics.json``), derived again and compared."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import StoreError, UsageError
from repro.evidence.ledger import LogAudit, audit_log, read_checkpoint
from repro.execute.finish import parse_metrics
from repro.results.metrics import same_metrics
from repro.signing.keys import load_trusted
from repro.store.files import read_stored
from repro.store.integrity import Damage, check_blobs, check_run
from repro.store.names import is_run_id
from repro.store.record import RunRecord, Status
from repro.store.store import Store
from repro.text import load_json

__all__ = ["FsckResult", "check_metrics", "fsck"]


@dataclass
class FsckResult:
    store: Store
    runs: int = 0
    """Runs whose files were checked."""
    files: int = 0
    """Content-addressed files checked."""
    damage: list[Damage] = field(default_factory=list)
    log: LogAudit | None = None
    """The store's log of records, recomputed (when every run is checked, or a checkpoint given)."""

    @property
    def clean(self) -> bool:
        return not self.damage and (self.log is None or self.log.clean)


def fsck(
    refs: Sequence[str] = (),
    *,
    checkpoints: Sequence[str] = (),
    trust: Sequence[str] = (),
    store: Path | str | None = None,
) -> FsckResult:
    """Check the runs ``refs`` (default: every run, then the store's blobs and archived images,
    and its log of records); ``checkpoints``: signed checkpoints (files) the log must still
    extend, signed by a key ``trust`` names (when given)."""
    chosen = Store.locate(store)
    chosen.require()
    given = [(f"checkpoint {path}", read_checkpoint(path)) for path in checkpoints]
    trusted = load_trusted(list(trust))
    chosen.fold()  # what jobs and transfers left enters the log before the log is judged
    result = FsckResult(store=chosen)
    run_ids = [chosen.resolve(ref) for ref in refs] if refs else _every_run(chosen, result)
    for run_id in run_ids:
        try:
            record = chosen.load(run_id)
        except (StoreError, UsageError) as exc:
            result.damage.append(Damage(chosen.run_folder(run_id).record, f"unreadable: {exc}"))
            continue
        if record.status is Status.RUNNING:
            continue  # still being written
        result.runs += 1
        files = check_run(chosen, record)
        result.damage += files
        if not files:  # derived from outputs that are as recorded: derive them again
            result.damage += check_metrics(chosen, record)
    if not refs or given:
        result.log = audit_log(chosen, checkpoints=given, trusted=trusted)
    if not refs:
        for _, damage in check_blobs(chosen):
            result.files += 1
            if damage is not None:
                result.damage.append(damage)
    return result


def _every_run(store: Store, result: FsckResult) -> list[str]:
    """The ids of the store's run folders; anything else under ``runs/`` is damage, named."""
    runs = store.layout.runs
    try:
        names = sorted(entry.name for entry in os.scandir(runs))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for name in names:
        if not is_run_id(name) and not name.startswith("."):
            result.damage.append(Damage(runs / name, "not a run's folder: its name is not a run id"))
    return [name for name in names if is_run_id(name)]


def check_metrics(store: Store, record: RunRecord) -> list[Damage]:
    """The run's ``metrics.json`` against its metrics file parsed again (the record's outputs
    are the truth; ``compare``, ``log --where`` and ``report`` read what was parsed): a
    difference in the file, its digest, the number of dumps or any value is damage."""
    spec = record.manifest.resolved.get("metrics")
    if not isinstance(spec, dict) or record.outputs is None:
        return []
    folder = store.run_folder(record.id)
    try:
        stored = load_json(read_stored(folder.metrics, real_parent=True))
    except FileNotFoundError:
        return []  # none kept (an older repro, a full disk): `repro reindex` parses them
    except (OSError, ValueError, StoreError) as exc:
        return [Damage(folder.metrics, f"cannot be read: {exc}")]
    parsed = parse_metrics(folder, record) or {}
    if not isinstance(stored, dict):
        return [Damage(folder.metrics, "is not a metrics file (not a JSON object)")]
    differences = [
        f"{key} {_shown(stored.get(key))}, parsed {_shown(parsed.get(key))}"
        for key in ("file", "format", "sha256", "dumps", "error")
        if stored.get(key) != parsed.get(key) and not (key == "sha256" and stored.get(key) is None)
    ]
    old, new = stored.get("values"), parsed.get("values")
    if isinstance(old, dict) and isinstance(new, dict):
        names = same_metrics([old], [new], [])  # NaN equals NaN
        differences += [f"{name} {_shown(old.get(name))}, parsed {_shown(new.get(name))}" for name in names[:3]]
        if len(names) > 3:
            differences.append(f"and {len(names) - 3} more metrics")
    elif old != new:
        differences.append("its values")
    if not differences:
        return []
    return [Damage(folder.metrics, "differs from the outputs parsed again: " + "; ".join(differences))]


def _shown(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:39] + "…"
