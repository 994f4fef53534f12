"""``repro show RUN``: one run's record (its id, or a unique prefix of it), and its lineage: the
runs whose outputs it mounted (``from:``), and theirs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import StoreError, UsageError
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["Ancestor", "ShowResult", "lineage", "show"]


@dataclass(frozen=True)
class Ancestor:
    """A run whose outputs a run mounted (at ``target``), ``depth`` steps up the chain."""

    depth: int
    target: str
    run_id: str
    path: str | None
    """The entry of its outputs that was mounted (None: all of them)."""
    record: RunRecord | None
    """Its record, or None when it is not in this store."""


@dataclass(frozen=True)
class ShowResult:
    record: RunRecord
    folder: Path
    lineage: list[Ancestor] = field(default_factory=list)


def show(ref: str, *, store: Path | str | None = None) -> ShowResult:
    """One run's record (``ref``: its id or a unique prefix), its folder and its lineage."""
    chosen = Store.locate(store)
    chosen.require()
    record = chosen.load(chosen.resolve(ref))
    return ShowResult(record=record, folder=chosen.run_folder(record.id).path, lineage=lineage(chosen, record))


def lineage(store: Store, record: RunRecord, depth: int = 1, seen: frozenset[str] = frozenset()) -> list[Ancestor]:
    """The runs whose outputs ``record`` mounted, each followed by its own, depth first."""
    found: list[Ancestor] = []
    for entry in record.inputs:
        if entry.upstream_run is None:
            continue
        upstream: RunRecord | None = None
        if entry.upstream_run not in seen:
            try:
                upstream = store.load(entry.upstream_run)
            except (UsageError, StoreError):
                upstream = None
        found.append(Ancestor(depth, entry.target, entry.upstream_run, entry.upstream_path, upstream))
        if upstream is not None:
            found += lineage(store, upstream, depth + 1, seen | {record.id})
    return found
