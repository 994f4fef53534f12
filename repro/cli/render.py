"""Turning results into text: tables for people, JSON for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from repro.ops.diff import RunDiff
from repro.ops.verify import Verdict
from repro.plan import Plan
from repro.store.index import IndexRow
from repro.store.record import RunRecord, Status
from repro.units import format_bytes, format_duration
from repro.workflow.session import Event, PlanReady, PointFinished, PointStarted

__all__ = [
    "Progress",
    "diff_text",
    "format_bytes",
    "format_duration",
    "plan_table",
    "record_text",
    "runs_table",
    "table",
    "verdicts_table",
]


def verdicts_table(verdicts: Sequence[Verdict]) -> str:
    rows = []
    details = []
    for verdict in verdicts:
        counts: dict[str, int] = {}
        for item in verdict.files:
            counts[item.state] = counts.get(item.state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in counts.items()) or "-"
        if verdict.error:
            summary = verdict.error
        rows.append(
            [
                verdict.original.id,
                verdict.original.point.label,
                verdict.state,
                verdict.rerun.id if verdict.rerun else "-",
                summary,
            ]
        )
        for item in verdict.files:
            if item.state != "identical" or item.note:
                note = f"  ({item.note})" if item.note else ""
                details.append(f"  {verdict.original.id}  {item.state:<10}  {item.path}{note}")
    text = table(["RUN", "POINT", "VERDICT", "RERUN", "FILES"], rows)
    return text + ("\n\n" + "\n".join(details) if details else "")


def diff_text(result: RunDiff) -> str:
    lines = [f"--- {result.a.id}  ({result.a.point.label})", f"+++ {result.b.id}  ({result.b.point.label})"]
    section = None
    for change in result.changes:
        if change.section != section:
            section = change.section
            lines.append(f"{section}:")
        lines.append(f"  {change.field}: {change.a!r} → {change.b!r}")
    differing = [f for f in result.outputs if f.state != "identical"]
    lines.append(f"outputs: {len(result.outputs) - len(differing)} identical, {len(differing)} not")
    lines += [f"  {f.state:<10} {f.path}" for f in differing]
    return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def runs_table(rows: Sequence[IndexRow]) -> str:
    return table(
        ["RUN", "NAME", "STATUS", "DURATION", "POINT"],
        [[r.id, r.name, r.status.value, format_duration(r.duration), r.label] for r in rows],
    )


def plan_table(plan: Plan) -> str:
    rows = []
    for point in plan.points:
        action = "run" if plan.force or point.done_by is None else f"skip (succeeded in {point.done_by})"
        rows.append([point.label, point.key[:12], action])
    return table(["POINT", "KEY", "ACTION"], rows)


def record_text(record: RunRecord) -> str:
    """A record as a person reads it (``repro show``)."""
    lines = [
        f"run        {record.id}",
        f"status     {record.status.value}"
        + (f" (exit code {record.exit_code})" if record.exit_code is not None else ""),
    ]
    if record.error:
        lines.append(f"error      {record.error}")
    lines += [
        f"started    {record.started_at.isoformat(timespec='seconds')}",
        f"duration   {format_duration(record.duration_seconds)}",
        f"manifest   {record.manifest.path} ({record.manifest.name}, sha256 {record.manifest.sha256[:12]})",
        f"point      {record.point.label}  key {record.point.key[:12]}",
    ]
    if record.reproduces:
        lines.append(f"reproduces {record.reproduces}")
    lines += [
        f"params     {json.dumps(record.point.params)}",
        f"image      {record.image.reference}",
        f"image id   {record.image.id}  ({record.image.os}/{record.image.architecture})",
        f"command    {json.dumps(record.container.command)}",
        f"user       {record.container.user or 'image default'} ({record.container.user_mode}), "
        f"network {record.container.network}",
    ]
    if record.git:
        git = record.git
        state = "dirty, diff stored as git.diff" if git.dirty and git.diff else "dirty" if git.dirty else "clean"
        lines.append(f"git        {git.commit or '(no commit)'} on {git.branch or '(detached)'}, {state}")
    else:
        lines.append("git        (not in a git repository)")
    for entry in record.inputs:
        lines.append(f"input      {entry.target} ← {entry.source}  {entry.digest[:19]}… ({entry.files} files)")
    if record.outputs:
        lines.append(f"outputs    {record.outputs.digest[:19]}… ({len(record.outputs.files)} entries)")
        for item in record.outputs.files:
            if item.kind == "file":
                lines.append(f"  {item.sha256 and item.sha256[:12]}  {item.size:>10}  {item.path}")
    lines.append(f"host       {record.host.hostname}: {record.host.os}, {record.host.architecture}")
    versions = record.versions
    lines.append(
        f"versions   repro {versions.repro}, python {versions.python}, snakemake {versions.snakemake}, "
        f"engine {versions.engine}"
    )
    return "\n".join(lines)


class Progress:
    """Prints each point as it finishes; on a terminal, numbered."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.total = 0
        self.done = 0
        self.stream = stream or sys.stderr
        self.numbered = self.stream.isatty()

    def __call__(self, event: Event | str) -> None:
        if isinstance(event, str):
            self._line(f"repro: {event}")
        elif isinstance(event, PlanReady):
            self.total = event.to_run
            skipped = event.points - event.to_run
            note = f", {skipped} already succeeded" if skipped else ""
            self._line(f"repro: {event.name}: {event.points} points{note}; running {event.to_run} with -j {event.jobs}")
        elif isinstance(event, PointStarted):
            if self.numbered:
                self._line(f"  start  {event.label}")
        elif isinstance(event, PointFinished):
            self.done += 1
            record = event.record
            prefix = f"[{self.done}/{self.total}] " if self.numbered else ""
            mark = "ok  " if record.status is Status.SUCCEEDED else "FAIL"
            detail = f"exit {record.exit_code}" if record.exit_code not in (None, 0) else ""
            if record.error:
                detail = record.error
            self._line(
                f"  {prefix}{mark} {record.point.label}  {record.status.value}  "
                f"{format_duration(record.duration_seconds)}  {record.id}  {detail}".rstrip()
            )

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)
