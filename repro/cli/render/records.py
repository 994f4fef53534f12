"""Records as ``repro log`` lists them and ``repro show`` shows one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from repro.cli.render import table
from repro.text import format_duration, printable

if TYPE_CHECKING:
    from repro.api import Ancestor, IndexRow, RunRecord

__all__ = ["lineage_text", "record_json", "record_text", "runs_table"]


def record_json(record: RunRecord) -> str:
    return record.model_dump_json(indent=2)


def runs_table(rows: Sequence[IndexRow]) -> str:
    """Runs as ``repro log`` lists them: when each started (local time), its status, duration and
    parameters — and who ran it, when the rows are not all one user's (a shared store)."""
    from datetime import datetime

    several = len({r.user for r in rows}) > 1
    lines = []
    for r in rows:
        started = datetime.fromisoformat(r.started_at).astimezone()
        params = " ".join(f"{name}={_scalar(value)}" for name, value in r.params.items())
        who = [r.user or "?"] if several else []
        lines.append(
            [r.id, f"{started:%Y-%m-%d %H:%M}", *who, r.name, r.status.value, format_duration(r.duration), params]
        )
    return table(["RUN", "STARTED", *(["USER"] if several else []), "NAME", "STATUS", "DURATION", "PARAMS"], lines)


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def lineage_text(lineage: Sequence[Ancestor]) -> list[str]:
    """``repro show``'s lineage lines: each run whose outputs the run mounted, and theirs, indented."""
    lines: list[str] = []
    for step in lineage:
        what = step.path or "outputs"
        if step.record is None:
            about = "not in this store"
        else:
            upstream = step.record
            about = f"{upstream.manifest.name}, point {printable(upstream.point.label)}, {upstream.status.value}"
        head = "lineage    " if not lines else "           "
        lines.append(f"{head}{'  ' * (step.depth - 1)}{step.target} ← {step.run_id} {what} ({about})")
    return lines


def record_text(record: RunRecord) -> str:
    """A record as a person reads it (``repro show``): the lines ``repro view`` shows too, each
    printable (an output file named with a newline or an escape sequence is shown escaped, on
    its line)."""
    from repro.api import record_words

    lines = record_words(record)
    return "\n".join(printable(f"{label:<10} {text}" if label is not None else f"  {text}") for label, text in lines)
