"""What ``repro verify``, ``repro fsck`` and ``repro diff`` print: verdicts, damage, differences."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro.cli.render import cell, plural, table
from repro.text import display_path, printable

if TYPE_CHECKING:
    from repro.api import FsckResult, MetricChange, RunDiff, Verdict

__all__ = [
    "diff_json",
    "diff_text",
    "fsck_lines",
    "fsck_problems",
    "fsck_summary",
    "verdict_json",
    "verdicts_summary",
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
                verdict.state.replace("_", " "),
                verdict.rerun.id if verdict.rerun else "-",
                summary,
            ]
        )
        for item in verdict.files:
            if item.state != "identical" or item.note:
                note = f"  ({item.note})" if item.note else ""
                details.append(printable(f"  {verdict.original.id}  {item.state:<10}  {item.path}{note}"))
            details += [printable(f"  {verdict.original.id}    {_moved(change)}") for change in item.moved]
    text = table(["RUN", "POINT", "VERDICT", "RERUN", "FILES"], rows)
    return text + ("\n\n" + "\n".join(details) if details else "")


def _moved(change: MetricChange) -> str:
    """``ipc: 0.5 → 0.5004 (+0.0004, +0.08%; tolerance 1%)``."""
    by = ""
    if change.change is not None:
        by = f"{change.change:+.6g}" + (f", {change.relative * 100:+.3g}%" if change.relative is not None else "")
    allowed = f"tolerance {change.tolerance}" if change.tolerance is not None else "no tolerance"
    within = "within" if change.within else "beyond"
    parts = "; ".join(part for part in (by, f"{within} {allowed}" if change.tolerance else allowed) if part)
    return f"{change.name}: {cell(change.expected) or '-'} → {cell(change.found) or '-'} ({parts})"


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
        "moved": [
            {
                "metric": change.name,
                "original": change.expected,
                "rerun": change.found,
                "change": change.change,
                "relative": change.relative,
                "tolerance": str(change.tolerance) if change.tolerance is not None else None,
                "within": change.within,
            }
            for change in verdict.moved
        ],
    }


def verdicts_summary(verdicts: Sequence[Verdict]) -> str:
    states = [v.state for v in verdicts]
    corrupt, unchecked = states.count("corrupt"), states.count("unchecked")
    within = states.count("within_tolerance")
    return (
        f"repro: {states.count('reproduced')} reproduced, "
        + (f"{within} within tolerance, " if within else "")
        + f"{states.count('differs')} differ, "
        f"{states.count('failed')} failed, {states.count('error')} could not be rerun"
        + (f", {corrupt} with stored outputs that differ from the record" if corrupt else "")
        + (f", {unchecked} whose record has no file list to check against" if unchecked else "")
    )


def fsck_problems(result: FsckResult) -> list[tuple[str, str]]:
    """(path, problem) for each file not as recorded and each finding about the log."""
    found = [(str(damage.path), damage.what) for damage in result.damage]
    log = result.log
    if log is not None:
        where = result.store.layout.records_log
        for finding in log.findings:
            path = (
                result.store.run_folder(finding.run_id).record if finding.run_id and not finding.structural else where
            )
            found.append((str(path), finding.what))
    return found


def fsck_lines(result: FsckResult) -> Iterator[str]:
    for path, problem in fsck_problems(result):
        yield printable(f"{display_path(Path(path))}: {problem}")


def fsck_summary(result: FsckResult) -> str:
    checked = f"{plural(result.runs, 'run')}" + (f" and {plural(result.files, 'stored blob')}" if result.files else "")
    log = result.log
    logged = ""
    if log is not None:
        if log.state == "sound":
            against = f", against {plural(log.checkpoints, 'checkpoint')}" if log.checkpoints else ""
            logged = f"; the log holds {plural(log.size, 'record')}{against}"
            logged += ": as logged" if not log.findings else f": {plural(len(log.findings), 'problem')}"
        elif log.state == "none":
            logged = "; no log of records yet (a store made by an older repro: its next run starts one)"
        else:
            logged = f"; the log is {log.state}"
        logged += "".join(f"; {note}" for note in log.notes)
    if not result.damage:
        return f"repro: fsck: {checked} checked: every file matches its record{logged}"
    return f"repro: fsck: {checked} checked: {plural(len(result.damage), 'file')} not as recorded{logged}"


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
            lines.append(f"  {metric.name}: {cell(metric.a) or '-'} → {cell(metric.b) or '-'}{by}")
    differing = [f for f in result.outputs if f.state != "identical"]
    lines.append(f"outputs: {len(result.outputs) - len(differing)} identical, {len(differing)} not")
    lines += [f"  {f.state:<10} {f.path}" for f in differing]
    return "\n".join(printable(line) for line in lines)


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
