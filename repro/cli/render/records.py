"""Records as ``repro log`` lists them and ``repro show`` shows one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from repro.cli.render import table
from repro.text import format_duration, printable

if TYPE_CHECKING:
    from repro.api import IndexRow, RunRecord

__all__ = ["record_json", "record_text", "runs_table"]


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


def record_text(record: RunRecord) -> str:
    """A record as a person reads it (``repro show``), each line printable (an output file
    named with a newline or an escape sequence is shown escaped, on its line)."""
    lines = [
        f"run        {record.id}",
        f"status     {record.status.value}"
        + (f" (exit code {record.exit_code})" if record.exit_code is not None else ""),
    ]
    if record.error:
        lines.append(f"error      {record.error}")
    lines += [
        *([f"user       {record.user}"] if record.user else []),
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
    return "\n".join(printable(line) for line in lines)
