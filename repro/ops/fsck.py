"""``repro fsck [RUN…]``: every file the store keeps, checked against its recorded digest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import StoreError, UsageError
from repro.evidence.ledger import LogAudit, audit_log, read_checkpoint
from repro.signing.keys import load_trusted
from repro.store.integrity import Damage, check_blobs, check_run
from repro.store.record import Status
from repro.store.store import Store

__all__ = ["FsckResult", "fsck"]


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
    run_ids = [chosen.resolve(ref) for ref in refs] if refs else _every_run(chosen)
    for run_id in run_ids:
        try:
            record = chosen.load(run_id)
        except (StoreError, UsageError) as exc:
            result.damage.append(Damage(chosen.run_folder(run_id).record, f"unreadable: {exc}"))
            continue
        if record.status is Status.RUNNING:
            continue  # still being written
        result.runs += 1
        result.damage += check_run(chosen, record)
    if not refs or given:
        result.log = audit_log(chosen, checkpoints=given, trusted=trusted)
    if not refs:
        for _, damage in check_blobs(chosen):
            result.files += 1
            if damage is not None:
                result.damage.append(damage)
    return result


def _every_run(store: Store) -> list[str]:
    runs = store.layout.runs
    return sorted(path.name for path in runs.iterdir() if path.is_dir()) if runs.is_dir() else []
