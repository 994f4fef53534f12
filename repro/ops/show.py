"""``repro show RUN``: one run's record (its id, or a unique prefix of it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["ShowResult", "show"]


@dataclass(frozen=True)
class ShowResult:
    record: RunRecord
    folder: Path


def show(ref: str, *, store: Path | str | None = None) -> ShowResult:
    """One run's record (``ref``: its id or a unique prefix) and its folder."""
    chosen = Store.locate(store)
    chosen.require()
    record = chosen.load(chosen.resolve(ref))
    return ShowResult(record=record, folder=chosen.run_folder(record.id).path)
