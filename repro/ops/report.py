"""``repro report``: a self-contained page of runs, their metrics and a plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repro.artifact.report import build_report, choose_axes, render_html, render_markdown, svg_plot
from repro.errors import UsageError
from repro.manifest.load import load_manifest
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["ReportResult", "report", "report_runs"]

PageFormat = Literal["html", "md"]


@dataclass(frozen=True)
class ReportResult:
    path: Path
    runs: list[RunRecord]


def report_runs(store: Store, refs: Sequence[str], manifests: Sequence[Path | str]) -> list[RunRecord]:
    """The runs a report shows: the named ones; else the newest run of every point (of the
    manifests' experiments, if named), whatever its status — a report shows a point that failed
    last as failed, unlike ``verify --all``, which takes the newest *succeeded* run — and never a
    rerun, which would only repeat the run it reproduces."""
    if refs:
        return [store.load(store.resolve(ref)) for ref in refs]
    names = {load_manifest(path).model.name for path in manifests}
    newest: dict[str, str] = {}
    for row in store.runs():  # newest first: the first row of each point is its newest run
        if (not names or row.name in names) and not row.reproduces:
            newest.setdefault(row.key, row.id)
    return [store.load(run_id) for run_id in newest.values()]


def report(
    refs: Sequence[str] = (),
    *,
    manifests: Sequence[Path | str] = (),
    output: Path | str,
    fmt: PageFormat | None = None,
    metrics: Sequence[str] = (),
    x: str | None = None,
    store: Path | str | None = None,
) -> ReportResult:
    """Write the report page of the chosen runs to ``output`` (HTML, or Markdown with the plot
    as an SVG file beside it; by default the file name decides)."""
    chosen = Store.locate(store)
    chosen.require()
    records = report_runs(chosen, refs, manifests)
    if not records:
        raise UsageError("no runs to report on")
    output = Path(output)
    page_format = fmt or ("md" if output.name.endswith(".md") else "html")
    rows = build_report(chosen, records)
    metric, axis = choose_axes(rows, metrics[0] if metrics else None, x)
    for other in metrics[1:]:
        choose_axes(rows, other, axis)  # each named metric must exist
    shown = list(metrics) or ([metric] if metric else [])
    plots = [svg_plot(rows, name, axis) for name in shown] if axis else []
    title = "repro report: " + ", ".join(sorted({r.manifest.name for r in records}))
    if page_format == "md":
        files = []
        for number, plot in enumerate(plots, 1):
            path = output.with_suffix(".svg") if number == 1 else output.with_name(f"{output.stem}-{number}.svg")
            path.write_text(plot + "\n")
            files.append(path.name)
        output.write_text(render_markdown(rows, shown, files, title))
    else:
        output.write_text(render_html(rows, shown, plots, title))
    return ReportResult(path=output, runs=records)
