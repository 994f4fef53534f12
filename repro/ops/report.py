"""``repro report``: a self-contained page of runs, their metrics and a plot — and, when the
repository states the paper's claims (``claims.yaml``), their verdicts at the top."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repro.artifact.report import build_report, choose_metrics, choose_x, render_html, render_markdown, svg_plot
from repro.errors import UsageError
from repro.manifest.load import load_manifest
from repro.ops.claims import judged_claims
from repro.store.record import RunRecord
from repro.store.store import Store

__all__ = ["ReportResult", "report", "report_runs"]

PageFormat = Literal["html", "md"]


@dataclass(frozen=True)
class ReportResult:
    path: Path | None
    """The page written, or None when it went to ``text`` (``-o -``)."""
    runs: list[RunRecord]
    text: str | None = None
    """The Markdown page, plots inline, when asked for it instead of a file."""


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
    claims_file: Path | str | None = None,
    store: Path | str | None = None,
) -> ReportResult:
    """Write the report page of the chosen runs to ``output`` (HTML, or Markdown with each plot
    as an SVG file beside it; by default the file name decides; ``-``: Markdown returned as
    ``text``, plots inline). Plots: each metric named, else every numeric one that varies.
    Claims (``claims_file``, else ``claims.yaml`` here or at the repository's root, if any) are
    judged as ``repro claims`` judges them, and shown first."""
    chosen = Store.locate(store)
    chosen.require()
    records = report_runs(chosen, refs, manifests)
    if not records:
        raise UsageError("no runs to report on")
    claims = judged_claims(chosen, claims_file)
    rows = build_report(chosen, records)
    shown = choose_metrics(rows, metrics)
    axis = choose_x(rows, x)
    plots = [svg_plot(rows, name, axis) for name in shown] if axis else []
    title = "repro report: " + ", ".join(sorted({r.manifest.name for r in records}))
    if str(output) == "-":  # Markdown on stdout: the plots travel inside it, no file beside anything
        inline = [f"data:image/svg+xml;base64,{base64.b64encode(plot.encode()).decode()}" for plot in plots]
        return ReportResult(path=None, runs=records, text=render_markdown(rows, shown, inline, title, claims))
    output = Path(output)
    page_format = fmt or ("md" if output.name.endswith(".md") else "html")
    if page_format == "md":
        files = []
        for number, plot in enumerate(plots, 1):
            path = output.with_suffix(".svg") if number == 1 else output.with_name(f"{output.stem}-{number}.svg")
            path.write_text(plot + "\n")
            files.append(path.name)
        output.write_text(render_markdown(rows, shown, files, title, claims))
    else:
        output.write_text(render_html(rows, shown, plots, title, claims))
    return ReportResult(path=output, runs=records)
