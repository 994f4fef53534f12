"""``repro log``, ``repro show``, ``repro reindex``: what the store holds, and finding runs in it.

Filters (``--where``, ``--status``, ``--since``/``--until``, ``--manifest``) run in SQLite on
the index: listing 20 of 10,000 runs reads 20 rows and no record. The pydantic models of records
and manifests are imported only by what needs them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.errors import ReproError, UsageError
from repro.store.index import Condition, IndexRow
from repro.store.status import Status
from repro.store.store import Store

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = [
    "Filters",
    "LogResult",
    "ReindexResult",
    "ShowResult",
    "log",
    "parse_moment",
    "parse_where",
    "reindex",
    "run_ids",
    "show",
]

_WHERE = re.compile(r"^(?P<name>[^=<>!\s][^=<>!]*?)\s*(?P<op>!=|=|>|<)\s*(?P<value>.*)$")
_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(w|d|h|m|s)$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_where(texts: Sequence[str]) -> list[Condition]:
    """``["size=4", "policy!=lru", "ipc>1.5"]`` as conditions; values read as ``--set`` reads them."""
    if not texts:
        return []
    from repro.manifest.points import parse_value

    conditions = []
    for text in texts:
        match = _WHERE.match(text)
        if match is None:
            raise UsageError(f"--where {text!r}: expected NAME=VALUE, NAME!=VALUE, NAME>NUMBER or NAME<NUMBER")
        name, op, raw = match.group("name").strip(), match.group("op"), match.group("value")
        value = parse_value(raw, f"--where {text!r}")
        if op in (">", "<") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise UsageError(f"--where {text!r}: {op} compares numbers, and {raw!r} is not one")
        conditions.append(Condition(name, op, value))  # type: ignore[arg-type]  # op is one of the four
    return conditions


def parse_moment(text: str, *, now: datetime | None = None) -> float:
    """``7d``, ``12h``, ``30m`` (ago), or a date or time (``2026-11-01``, ``2026-11-01T14:30``,
    local time unless it names a zone) as seconds since the epoch."""
    current = now or datetime.now(UTC)
    ago = _AGO.match(text.strip())
    if ago:
        return (current - timedelta(seconds=float(ago.group(1)) * _UNITS[ago.group(2)])).timestamp()
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r}: not a date or time (2026-11-01, 2026-11-01T14:30) nor an age (7d, 12h)") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as the user reads their clock
    return moment.timestamp()


@dataclass(frozen=True)
class Filters:
    """Which runs: every field left empty lets all through."""

    names: Sequence[str] = ()
    """Manifest names (from ``--name`` and ``--manifest``)."""
    statuses: Sequence[str] = ()
    since: float | None = None
    until: float | None = None
    where: Sequence[Condition] = ()
    users: Sequence[str] = ()
    """Who ran them: login names, or uids as digits."""

    def query(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "statuses": list(self.statuses),
            "since": self.since,
            "until": self.until,
            "where": list(self.where),
            "users": list(self.users),
        }


def filters(
    *,
    name: str | None = None,
    manifests: Sequence[Path | str] = (),
    statuses: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    where: Sequence[str] = (),
    users: Sequence[str] = (),
) -> Filters:
    """Filters from what a user typed."""
    unknown = [s for s in statuses if s not in {status.value for status in Status}]
    if unknown:
        known = ", ".join(status.value for status in Status)
        raise UsageError(f"--status {unknown[0]}: not a status (statuses: {known})")
    names = [name] if name else []
    if manifests:
        from repro.manifest.load import load_manifest

        names += [load_manifest(path, require_sources=False).model.name for path in manifests]
    return Filters(
        names=names,
        statuses=list(statuses),
        since=parse_moment(since) if since else None,
        until=parse_moment(until) if until else None,
        where=parse_where(where),
        users=[user.strip() for user in users if user.strip()],
    )


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


@dataclass(frozen=True)
class ShowResult:
    record: RunRecord
    folder: Path


@dataclass(frozen=True)
class ReindexResult:
    store: Store
    runs: int
    """How many runs the rebuilt index holds."""
    metrics_parsed: int = 0
    """Runs whose metrics were parsed anew (recorded by an older repro, or never parsed)."""


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


def show(ref: str, *, store: Path | str | None = None) -> ShowResult:
    """One run's record (``ref``: its id or a unique prefix) and its folder."""
    chosen = Store.locate(store)
    chosen.require()
    record = chosen.load(chosen.resolve(ref))
    return ShowResult(record=record, folder=chosen.run_folder(record.id).path)


def reindex(*, store: Path | str | None = None) -> ReindexResult:
    """Rebuild the store's index from its records, parsing the metrics of runs that have none
    parsed yet (recorded by an older repro)."""
    from repro.execute.finish import write_parsed_metrics

    chosen = Store.locate(store)
    chosen.require()
    parsed = 0
    for record in chosen.records():
        folder = chosen.run_folder(record.id)
        if record.status.final and not folder.metrics.exists() and write_parsed_metrics(folder, record) is not None:
            parsed += 1
    return ReindexResult(store=chosen, runs=chosen.rebuild_index(), metrics_parsed=parsed)
