"""Which runs: the filters ``repro log`` and ``repro compare`` share (``--where``, ``--status``,
``--since``/``--until``, ``--name``/``--manifest``, ``--user``), read from what a user typed.
They run in SQLite on the index (:meth:`repro.store.index.Index.rows`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from repro.errors import UsageError
from repro.store.index import Condition
from repro.store.status import Status

__all__ = ["Filters", "filters", "parse_moment", "parse_where"]

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
