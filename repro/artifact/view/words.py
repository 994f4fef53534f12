"""A record in words: what ``repro show`` prints and a run's page in ``repro view`` shows.

One list of ``(label, text)`` lines, so the terminal and the page say the same things in the same
order. A line whose label is None is a detail of the line above it (an output file)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from repro.text import format_duration, printable

if TYPE_CHECKING:
    from repro.store.record import RunRecord

__all__ = ["record_words"]


def record_words(record: RunRecord) -> list[tuple[str | None, str]]:
    """The record as a person reads it, line by line."""
    status = record.status.value + (f" (exit code {record.exit_code})" if record.exit_code is not None else "")
    lines: list[tuple[str | None, str]] = [("run", record.id), ("status", status)]
    if record.error:
        lines.append(("error", record.error))
    if record.user:
        lines.append(("user", str(record.user)))
    lines += [
        ("started", record.started_at.isoformat(timespec="seconds")),
        ("duration", format_duration(record.duration_seconds)),
        ("manifest", f"{record.manifest.path} ({record.manifest.name}, sha256 {record.manifest.sha256[:12]})"),
        ("point", f"{printable(record.point.label)}  key {record.point.key[:12]}"),
    ]
    if record.reproduces:
        lines.append(("reproduces", record.reproduces))
    container = record.container
    lines += [
        ("params", json.dumps(record.point.params)),
        ("image", record.image.reference),
        ("image id", f"{record.image.id}  ({record.image.os}/{record.image.architecture})"),
        ("command", json.dumps(container.command)),
        (
            "user",
            f"{container.user or 'image default'} ({container.user_mode}), network {container.network}",
        ),
    ]
    if record.git:
        git = record.git
        state = "dirty, diff stored as git.diff" if git.dirty and git.diff else "dirty" if git.dirty else "clean"
        lines.append(("git", f"{git.commit or '(no commit)'} on {git.branch or '(detached)'}, {state}"))
    else:
        lines.append(("git", "(not in a git repository)"))
    for entry in record.inputs:
        if entry.upstream_run is not None:
            what = f"run {entry.upstream_run}" + (f" {entry.upstream_path}" if entry.upstream_path else " outputs")
        else:
            what = entry.source
        lines.append(("input", f"{entry.target} ← {what}  {entry.digest[:19]}… ({entry.files} files)"))
    if record.outputs:
        lines.append(("outputs", f"{record.outputs.digest[:19]}… ({len(record.outputs.files)} entries)"))
        for item in record.outputs.files:
            if item.kind == "file":
                lines.append((None, f"{item.sha256 and item.sha256[:12]}  {item.size:>10}  {item.path}"))
    lines.append(("host", f"{record.host.hostname}: {record.host.os}, {record.host.architecture}"))
    versions = record.versions
    lines.append(
        (
            "versions",
            f"repro {versions.repro}, python {versions.python}, snakemake {versions.snakemake}, "
            f"engine {versions.engine}",
        )
    )
    return lines
