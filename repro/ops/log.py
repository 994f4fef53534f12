"""``repro log``: the store's runs, newest first, filtered in the index (listing 20 of 10,000 runs
reads 20 rows and no record); and the run ids shell completion offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import ReproError
from repro.ops.selection import filters
from repro.store.index import IndexRow
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["LogResult", "log", "run_ids"]


@dataclass
class LogResult:
    store: Store
    rows: list[IndexRow]
    """Runs, newest first, as the index knows them."""
    finished: list[RunRecord] = field(default_factory=list)
    """Runs of dead drivers this command found ended, and finished."""

    def records(self) -> list[RunRecord]:
        """The full records of the rows, read from disk."""
        return [self.store.load(row.id) for row in self.rows]


def log(
    *,
    limit: int | None = None,
    name: str | None = None,
    manifests: Sequence[Path | str] = (),
    statuses: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    where: Sequence[str] = (),
    users: Sequence[str] = (),
    store: Path | str | None = None,
) -> LogResult:
    """The store's runs, newest first: ``limit`` of them, of the manifest ``name`` (or the
    ``manifests``' names), of these ``statuses``, started ``since``/``until`` (``7d``, a date),
    run by one of ``users`` (login names or uids), whose parameters or metrics satisfy every
    ``where`` (``size=4``, ``ipc>1.5``)."""
    chosen = Store.locate(store)
    wanted = filters(
        name=name, manifests=manifests, statuses=statuses, since=since, until=until, where=where, users=users
    )
    result = LogResult(store=chosen, rows=[])
    if chosen.exists and chosen.index.running():
        from repro.execute.orphans import reconcile

        result.finished = reconcile(chosen).finished  # a dead driver's run must not be listed as running
    result.rows = chosen.runs(limit=limit, **wanted.query())
    return result


def run_ids(prefix: str = "", *, store: Path | str | None = None) -> list[str]:
    """The ids of the store's runs that start with ``prefix``, from its folder listing (no index
    is opened: completing a run id on the command line must be instant)."""
    try:
        chosen = Store.locate(store)
        return sorted(entry.name for entry in chosen.layout.runs.iterdir() if entry.name.startswith(prefix))
    except (OSError, ReproError):  # no store, or one this repro cannot read: nothing to offer
        return []
