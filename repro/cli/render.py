"""Everything the CLI says: human text for stderr, tables and JSON shapes for stdout.

Data (tables, ``--json``) goes to stdout through :func:`out`; messages for people go to
stderr through :func:`err` and :func:`note`. The JSON shapes printed here are part of repro's
interface (scripts parse them): they change only on purpose (see ``tests/golden``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.text import display_path, format_bytes, format_duration, printable

if TYPE_CHECKING:
    from repro.api import (
        ArchiveResult,
        BuildResult,
        CompareGroup,
        CompareResult,
        CrateExportResult,
        FsckResult,
        GcResult,
        ImageExportResult,
        IndexRow,
        InitResult,
        LockResult,
        ManifestFile,
        PackResult,
        Plan,
        RunDiff,
        RunningPoint,
        RunRecord,
        RunResult,
        TransferResult,
        UnpackResult,
        Verdict,
    )

__all__ = [
    "archive_json",
    "archive_lines",
    "build_lines",
    "compare_csv",
    "compare_json",
    "compare_markdown",
    "compare_table",
    "detached_json",
    "detached_lines",
    "diff_json",
    "diff_text",
    "dry_run_summary",
    "dump_json",
    "err",
    "export_crate_lines",
    "export_image_lines",
    "fsck_lines",
    "fsck_summary",
    "gc_output",
    "init_summary",
    "locked",
    "note",
    "out",
    "out_bytes",
    "pack_lines",
    "plan_table",
    "record_json",
    "record_text",
    "run_json",
    "run_summary",
    "running_json",
    "running_table",
    "runs_table",
    "table",
    "transfer_output",
    "unpack_lines",
    "validated",
    "verdict_json",
    "verdicts_summary",
    "verdicts_table",
]


def out(text: str, end: str = "\n") -> None:
    """Data for programs and pipes: stdout."""
    print(text, end=end, flush=True)


def out_bytes(data: bytes) -> None:
    """Bytes as a program printed them (a run's log), to stdout, at once."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by a text stream (tests, embedding)
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    buffer.write(data)
    buffer.flush()


def err(text: str) -> None:
    """A message for people: stderr."""
    print(text, file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A library progress message, as the CLI shows it."""
    err(f"repro: {message}")


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


# -- run -------------------------------------------------------------------------------------


def plan_table(plan: Plan) -> str:
    rows = []
    for point in plan.points:
        action = "run" if plan.force or point.done_by is None else f"skip (succeeded in {point.done_by})"
        rows.append([point.label, point.key[:12], action])
    return table(["POINT", "KEY", "ACTION"], rows)


def dry_run_summary(result: RunResult) -> str:
    plan = result.plan
    todo = len(plan.to_run)
    return (
        f"repro: {plan.manifest_name}: {len(plan.points)} points, {todo} would run, "
        f"{len(plan.points) - todo} already succeeded (store {result.store.root}); nothing was started"
    )


def run_json(result: RunResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "plan": plan.id,
        "points": len(plan.points),
        "skipped": result.skipped,
        "runs": [
            {
                "id": e.record.id,
                "label": e.record.point.label,
                "status": e.record.status.value,
                "key": e.record.point.key,
                "waited": e.how == "waited",
                "adopted": e.how == "adopted",
            }
            for e in result.finished
        ],
        "interrupted": result.interrupted,
    }


def run_summary(result: RunResult) -> str:
    plan = result.plan
    succeeded = len(result.records) - len(result.failed) - len(result.stopped)
    summary = f"repro: {plan.manifest_name}: {plural(len(plan.points), 'point')}: {succeeded} succeeded"
    if result.failed:
        summary += f", {len(result.failed)} failed"
    if result.stopped:
        summary += f", {len(result.stopped)} interrupted"
    if result.skipped:
        summary += f", {result.skipped} already succeeded (--force runs them again)"
    if result.missing:
        summary += f", {result.missing} not started"
    return f"{summary}; store {display_path(result.store.root)}"


def detached_json(result: RunResult, pid: int) -> dict[str, Any]:
    return {
        "plan": result.plan.id,
        "driver": {"pid": pid, "log": str(result.driver_log)},
        "queued": [{"label": p.label, "key": p.key} for p in result.plan.to_run],
    }


def detached_lines(result: RunResult, pid: int) -> Iterator[str]:
    plan = result.plan
    yield (
        f"repro: {plan.manifest_name}: {plural(len(plan.to_run), 'point')} queued for a background driver "
        f"(pid {pid}), plan {plan.id}"
    )
    for point in plan.to_run:
        yield f"  queued  {point.label}  {point.key[:12]}"
    yield "repro: follow them with: repro ps; repro logs -f RUN (run ids appear in repro ps)"
    yield f"repro: the driver's own output: {display_path(result.driver_log)}"


def running_json(point: RunningPoint) -> dict[str, Any]:
    record = point.record
    driver = record.driver
    return {
        "id": record.id,
        "key": record.point.key,
        "point": record.point.label,
        "manifest": record.manifest.name,
        "status": point.state,
        "started_at": record.started_at.astimezone(UTC).isoformat(),
        "elapsed_seconds": round(point.elapsed_seconds, 3),
        "container": record.container.id,
        "driver": {"host": driver.host, "pid": driver.pid} if driver else None,
    }


def running_table(points: Sequence[RunningPoint]) -> str:
    rows = []
    for point in points:
        record = point.record
        started = record.started_at.astimezone()
        rows.append(
            [
                record.id,
                record.point.label,
                point.state,
                f"{started:%Y-%m-%d %H:%M:%S}",
                format_duration(point.elapsed_seconds),
                (record.container.id or "-")[:12],
                f"{record.driver.pid}@{record.driver.host}" if record.driver else "-",
            ]
        )
    return table(["RUN", "POINT", "STATUS", "STARTED", "ELAPSED", "CONTAINER", "DRIVER"], rows)


def validated(manifest: ManifestFile) -> str:
    return f"ok: {display_path(manifest.path)}: {manifest.model.name}, {plural(manifest.point_count, 'point')}"


def locked(result: LockResult, *, check: bool) -> str:
    if result.changed:
        return f"locked {result.path}: image {result.before} → {result.pin}"
    if check and not result.pinned_before:
        return f"unpinned {result.path}: image {result.before} (pin it: repro lock {result.path})"
    return f"ok: {result.path}: image already pinned"


# -- records ---------------------------------------------------------------------------------


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
    """A record as a person reads it (``repro show``)."""
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
        f"point      {printable(record.point.label)}  key {record.point.key[:12]}",
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


# -- verify and diff -------------------------------------------------------------------------


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


def verdict_json(verdict: Verdict) -> dict[str, object]:
    return {
        "run": verdict.original.id,
        "point": verdict.original.point.label,
        "verdict": verdict.state,
        "rerun": verdict.rerun.id if verdict.rerun else None,
        "error": verdict.error,
        "files": [
            {"path": f.path, "state": f.state, "expected": f.expected, "found": f.found, "note": f.note}
            for f in verdict.files
        ],
    }


def verdicts_summary(verdicts: Sequence[Verdict]) -> str:
    states = [v.state for v in verdicts]
    corrupt = states.count("corrupt")
    return (
        f"repro: {states.count('reproduced')} reproduced, {states.count('differs')} differ, "
        f"{states.count('failed')} failed, {states.count('error')} could not be rerun"
        + (f", {corrupt} with stored outputs that differ from the record" if corrupt else "")
    )


def fsck_lines(result: FsckResult) -> Iterator[str]:
    for damage in result.damage:
        yield f"{display_path(damage.path)}: {damage.what}"


def fsck_summary(result: FsckResult) -> str:
    checked = f"{plural(result.runs, 'run')}" + (f" and {plural(result.files, 'stored blob')}" if result.files else "")
    if result.clean:
        return f"repro: fsck: {checked} checked: every file matches its record"
    return f"repro: fsck: {checked} checked: {plural(len(result.damage), 'file')} not as recorded"


def diff_text(result: RunDiff) -> str:
    lines = [f"--- {result.a.id}  ({result.a.point.label})", f"+++ {result.b.id}  ({result.b.point.label})"]
    section = None
    for change in result.changes:
        if change.section != section:
            section = change.section
            lines.append(f"{section}:")
        lines.append(f"  {change.field}: {change.a!r} → {change.b!r}")
    if result.metrics:
        lines.append("metrics:")
        for metric in result.metrics:
            by = ""
            if metric.delta is not None:
                by = f"  ({metric.delta:+.6g}"
                by += f", {metric.relative:+.1%})" if metric.relative is not None else ")"
            lines.append(f"  {metric.name}: {_cell(metric.a) or '-'} → {_cell(metric.b) or '-'}{by}")
    differing = [f for f in result.outputs if f.state != "identical"]
    lines.append(f"outputs: {len(result.outputs) - len(differing)} identical, {len(differing)} not")
    lines += [f"  {f.state:<10} {f.path}" for f in differing]
    return "\n".join(lines)


def diff_json(result: RunDiff) -> dict[str, Any]:
    return {
        "a": result.a.id,
        "b": result.b.id,
        "changes": [{"section": c.section, "field": c.field, "a": c.a, "b": c.b} for c in result.changes],
        "outputs": [{"path": f.path, "state": f.state, "a": f.expected, "b": f.found} for f in result.outputs],
        "metrics": [
            {"name": m.name, "a": m.a, "b": m.b, "delta": m.delta, "relative": m.relative} for m in result.metrics
        ],
    }


# -- images, artifacts, clean-up -------------------------------------------------------------


def archive_json(result: ArchiveResult) -> dict[str, Any]:
    return {
        "images": [e.model_dump(mode="json") for e in result.images],
        "failed": [{"image": i, "error": e} for i, e in result.failed],
        "disk_bytes": result.disk_bytes_after,
        "added_bytes": result.disk_bytes_after - result.disk_bytes_before,
        "image_bytes": result.image_bytes,
    }


def archive_lines(result: ArchiveResult) -> Iterator[str]:
    for entry in result.images:
        tags = ", ".join(entry.repo_tags) or "(untagged)"
        yield f"archived {entry.id[:19]}… {tags}: {format_bytes(entry.bytes)}"
    for image_id, reason in result.failed:
        yield f"repro: error: {image_id[:19]}…: {reason}"
    yield (
        f"repro: archive holds {format_bytes(result.disk_bytes_after)} on disk "
        f"(+{format_bytes(result.disk_bytes_after - result.disk_bytes_before)}); the images it holds "
        f"would take {format_bytes(result.image_bytes)} as separate copies"
    )


def export_crate_lines(result: CrateExportResult) -> Iterator[str]:
    if result.folder is None:
        return
    copied = result.files - result.linked
    how = f"{result.linked} hard-linked to the store" + (f", {copied} copied" if copied else "")
    yield (
        f"repro: wrote an RO-Crate to {display_path(result.folder)}: ro-crate-metadata.json and "
        f"{result.files} files, {format_bytes(result.bytes)} ({how})"
    )


def export_image_lines(result: ImageExportResult) -> Iterator[str]:
    yield (
        f"repro: wrote image {result.image.id[:19]}… of run {result.run} to {display_path(result.path)} "
        f"({format_bytes(result.bytes)}); load it with: docker load -i {display_path(result.path)}"
    )


def pack_lines(result: PackResult) -> Iterator[str]:
    parts = sum(v for k, v in result.parts_bytes.items() if k != "images in the artifact")
    yield (
        f"repro: packed {len(result.runs)} runs into {result.path}: {format_bytes(result.bytes)} "
        f"(its parts on their own: {format_bytes(parts)}: "
        + ", ".join(f"{name} {format_bytes(size)}" for name, size in result.parts_bytes.items())
        + ")"
    )
    missing = [e for e in result.index.inputs if e.packed is None]
    if missing:
        yield f"repro: {len(missing)} input(s) over the size limit are listed in EVALUATION.md, not packed"


def unpack_lines(result: UnpackResult, folder: Path) -> Iterator[str]:
    yield f"repro: unpacked {len(result.index.runs)} runs into {folder} (store {result.store.root})"
    if result.inputs_to_fetch:
        yield f"repro: {len(result.inputs_to_fetch)} input(s) must be fetched first: see {folder}/EVALUATION.md"
    yield f"repro: next: cd {folder} && repro verify --all"


def build_lines(result: BuildResult) -> Iterator[str]:
    record = result.record
    yield (
        f"repro: built {record.tag} ({record.image_id[:19]}…) from {record.context_files} files, "
        f"{record.context_bytes / 1e6:.1f} MB; build recorded in {display_path(result.record_path)}"
    )
    for manifest in result.locked:
        yield f"repro: pinned {record.tag} (id {record.image_id[:19]}…) into {manifest}"


def transfer_output(result: TransferResult, *, as_json: bool) -> None:
    """What ``repro push``/``pull`` copied (stdout: the run ids, or JSON) and its summary (stderr)."""
    for note_line in result.notes:
        note(note_line)
    if result.running:
        note(f"{plural(len(result.running), 'run')} not ended, left behind: {', '.join(result.running[:3])}")
    if as_json:
        out(
            dump_json(
                {
                    "remote": result.remote,
                    "direction": result.direction,
                    "runs": result.runs,
                    "images": result.images,
                    "bundles": result.bundles,
                    "inputs": result.inputs,
                    "running": result.running,
                    "bytes_sent": result.bytes_sent,
                    "bytes_received": result.bytes_received,
                }
            )
        )
    else:
        for run_id in result.runs:
            out(run_id)
    way = "to" if result.direction == "push" else "from"
    parts = [plural(len(result.runs), "run")]
    if result.images:
        parts.append(plural(len(result.images), "image"))
    if result.bundles:
        parts.append(plural(len(result.bundles), "commit"))
    if result.inputs:
        parts.append(plural(len(result.inputs), "input"))
    verb = "pushed" if result.direction == "push" else "pulled"
    err(
        f"repro: {verb} {', '.join(parts)} {way} {result.remote}"
        + (
            ""
            if result.runs
            else " (it had every one)"
            if result.direction == "push"
            else " (this store had every one)"
        )
        + f"; {format_bytes(result.bytes_sent + result.bytes_received)} moved"
    )


def init_summary(result: InitResult) -> str:
    """What ``repro init`` made."""
    where = display_path(result.store.root)
    if result.group is None:
        return f"repro: made a store at {where}"
    return (
        f"repro: made a store at {where}, shared by group {result.group} "
        "(folders group-owned and setgid, files group-writable)"
    )


def gc_output(result: GcResult, *, dry_run: bool, build_cache: bool) -> None:
    """What ``repro gc`` removed (stdout) and kept or failed to remove (stderr)."""
    verb = "would remove" if dry_run else "removed"
    for container_id, name in result.containers:
        out(f"{verb} container {container_id[:12]} ({name})")
    for image_id, size in result.images:
        out(f"{verb} image {image_id[:19]}… ({format_bytes(size)})")
    for image_id in result.kept_pinned:
        note(f"kept image {image_id[:19]}…: a record or the archive needs it (--include-pinned removes it)")
    for plan_id in result.plans:
        out(f"{verb} plan {plan_id} (no record names it)")
    for digest, size in result.blobs:
        out(f"{verb} diff blob {digest[:12]} ({format_bytes(size)})")
    if build_cache:
        out(f"{verb} build cache ({format_bytes(result.build_cache_bytes)})")
    for failure in result.failures:
        err(f"repro: error: {failure}")
    err(
        f"repro: {verb} {len(result.containers)} container(s), {len(result.images)} image(s), "
        f"{len(result.plans)} plan(s); "
        f"{format_bytes(result.freed_bytes)} {'to free' if dry_run else 'freed'}"
    )


# -- compare ---------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _columns(group: CompareGroup, several: bool) -> list[str]:
    return ["id", *(["manifest"] if several else []), *group.params, *group.metrics]


def compare_json(result: CompareResult) -> list[dict[str, Any]]:
    return [
        {
            "id": row.id,
            "manifest": row.manifest,
            "params": {name: row.params.get(name) for name in group.params},
            "metrics": {name: row.metrics.get(name) for name in group.metrics},
        }
        for group in result.groups
        for row in group.rows
    ]


def compare_csv(result: CompareResult) -> str:
    """One CSV: ``id``, ``manifest``, then each parameter and metric under its own name."""
    import csv
    import io

    params = list(dict.fromkeys(name for group in result.groups for name in group.params))
    metrics = list(dict.fromkeys(name for group in result.groups for name in group.metrics))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "manifest", *params, *metrics])
    for group in result.groups:
        for row in group.rows:
            writer.writerow(
                [
                    row.id,
                    row.manifest,
                    *(_cell(row.params.get(n)) for n in params),
                    *(_cell(row.metrics.get(n)) for n in metrics),
                ]
            )
    return buffer.getvalue()


def compare_markdown(result: CompareResult) -> str:
    lines: list[str] = []
    for group in result.groups:
        columns = _columns(group, False)
        lines += [f"## {group.manifest}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in group.rows:
            cells = [_cell(row.cell(c)).replace("|", "\\|") for c in columns]
            lines.append("| " + " | ".join(printable(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def compare_table(result: CompareResult) -> None:
    """Each manifest's rows as a table that fits the terminal (drawn by rich), on stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    for group in result.groups:
        if not group.rows:
            continue
        table = Table(title=group.manifest, title_justify="left", header_style="bold", box=None, pad_edge=False)
        for column in _columns(group, False):
            numeric = column != "id" and all(
                isinstance(row.cell(column), (int, float)) and not isinstance(row.cell(column), bool)
                for row in group.rows
                if row.cell(column) is not None
            )
            table.add_column(column, justify="right" if numeric else "left", overflow="fold")
        for row in group.rows:
            table.add_row(*(printable(_cell(row.cell(column))) for column in _columns(group, False)))
        console.print(table)
        if len(group.metrics) > 12:
            hint = "narrow them with --metric NAME (globs) or --only-changed"
            note(f"{group.manifest}: {len(group.metrics)} metric columns; {hint}")
    if result.hidden:
        note(f"{plural(result.hidden, 'metric column')} equal in every row left out (--only-changed)")


# -- tables ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned columns; every cell on one line, whatever it holds."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
