"""The report page: runs, their metrics, and a plot, as self-contained HTML or Markdown.

The HTML page needs nothing but itself: styles inline, the plot as inline SVG, no script, no
font or image from anywhere. The Markdown variant writes the plot as an SVG file beside it.
When the paper states claims, their verdicts come first. The plot draws one metric against one
swept parameter, one line per value of the others.

Names and values come from records, so from containers and other stores: the page shows them
literally — HTML and SVG escaped (:func:`_html`), Markdown through
:func:`repro.text.markdown_cell` — and never lets them open a tag, a link or a column.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from repro.errors import UsageError
from repro.manifest.points import format_scalar
from repro.results.expectations import ClaimResult
from repro.results.metrics import Dump, MetricsError, metrics_file, summarize_metrics
from repro.store.record import RunRecord
from repro.store.store import Store
from repro.text import markdown_cell, printable

__all__ = ["ReportRow", "build_report", "choose_metrics", "choose_x", "render_html", "render_markdown", "svg_plot"]


def _html(text: str) -> str:
    """``text`` as HTML (or SVG) text or an attribute's value shows it: literally, on one line."""
    return html.escape(printable(text))


@dataclass(frozen=True)
class ReportRow:
    record: RunRecord
    metrics: Dump
    metrics_error: str | None = None


def build_report(store: Store, records: Sequence[RunRecord]) -> list[ReportRow]:
    """Each run with the dump of its metrics file its manifest names (``metrics.dump``; the last
    by default): as parsed when the run ended, or parsed now for a run of an older repro."""
    rows = []
    for record in sorted(records, key=lambda r: (r.manifest.name, r.point.index, r.id)):
        spec = record.manifest.resolved.get("metrics")
        parsed = store.metrics_of(record)
        metrics: Dump = {k: v for k, v in (parsed or {}).items() if isinstance(v, (float, str))}
        error = None
        if parsed is None and isinstance(spec, dict) and record.outputs is not None:
            outputs = store.run_folder(record.id).outputs
            try:
                summary = summarize_metrics(
                    metrics_file(outputs, str(spec["file"])), str(spec["format"]), spec.get("dump", "last")
                )
                metrics = summary.last
            except MetricsError as exc:
                error = str(exc).replace(f"{outputs}/", "")
        if not metrics and record.status.value != "succeeded":
            error = record.status.value + (f" (exit code {record.exit_code})" if record.exit_code else "")
        rows.append(ReportRow(record, metrics, error))
    return rows


def _params(rows: Sequence[ReportRow]) -> list[str]:
    names: list[str] = []
    for row in rows:
        for name in row.record.point.params:
            if name not in names:
                names.append(name)
    return names


def _varying(rows: Sequence[ReportRow], names: Sequence[str]) -> list[str]:
    return [n for n in names if len({format_scalar(r.record.point.params.get(n, "")) for r in rows}) > 1]


def choose_metrics(rows: Sequence[ReportRow], metrics: Sequence[str]) -> list[str]:
    """The metrics to show and plot: those named, else every numeric one that varies between the
    runs (a metric equal in every run would be a flat line)."""
    for metric in metrics:
        if not any(metric in r.metrics for r in rows):
            known = sorted({name for r in rows for name in r.metrics})[:10]
            raise UsageError(f"--metric {metric}: no run has it (some that exist: {', '.join(known) or 'none'})")
    if metrics:
        return list(metrics)
    names = list(
        dict.fromkeys(n for r in rows for n, v in r.metrics.items() if isinstance(v, float) and math.isfinite(v))
    )
    return [name for name in names if len({r.metrics.get(name) for r in rows}) > 1]


def choose_x(rows: Sequence[ReportRow], x: str | None) -> str | None:
    """The parameter to plot against: the one named, else the first numeric one that varies."""
    names = _params(rows)
    if x is not None and x not in names:
        raise UsageError(f"--x {x}: no such parameter (parameters: {', '.join(names) or 'none'})")
    if x is not None:
        return x
    varying = _varying(rows, names)
    numeric_axes = [n for n in varying if all(isinstance(r.record.point.params.get(n), (int, float)) for r in rows)]
    return numeric_axes[0] if numeric_axes else (varying[0] if varying else None)


def svg_plot(rows: Sequence[ReportRow], metric: str, x: str) -> str:
    """``metric`` against ``x``, one polyline per combination of the other varying parameters."""
    others = [n for n in _varying(rows, _params(rows)) if n != x]
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    categories: list[str] = []
    for row in rows:
        value = row.metrics.get(metric)
        xv = row.record.point.params.get(x)
        if not isinstance(value, float) or not math.isfinite(value) or xv is None:
            continue
        if isinstance(xv, (int, float)) and not isinstance(xv, bool):
            position = float(xv)
        else:
            if format_scalar(xv) not in categories:
                categories.append(format_scalar(xv))
            position = float(categories.index(format_scalar(xv)))
        label = ", ".join(f"{n}={format_scalar(row.record.point.params.get(n, ''))}" for n in others) or metric
        series[label].append((position, value))
    width, height, margin = 720, 420, 70
    legend = 14 * len(series) + 10  # below the axis title: the legend never covers the plot
    if not series:
        empty = f'<text x="10" y="30">no values of {_html(metric)} to plot</text>'
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="60">{empty}</svg>'
    xs = [p for points in series.values() for p, _ in points]
    ys = [v for points in series.values() for _, v in points]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(0.0, min(ys)), max(ys) or 1.0
    log_x = not categories and x_low > 0 and x_high / x_low >= 8

    def sx(value: float) -> float:
        low, high, v = (math.log2(x_low), math.log2(x_high), math.log2(value)) if log_x else (x_low, x_high, value)
        return margin + (v - low) / ((high - low) or 1.0) * (width - 2 * margin)

    def sy(value: float) -> float:
        return height - margin - (value - y_low) / ((y_high - y_low) or 1.0) * (height - 2 * margin)

    scale, middle, y_title = (" (log scale)" if log_x else ""), height / 2, _html(metric)
    colours = ["#1b6ca8", "#d1495b", "#66a182", "#edae49", "#6a4c93", "#00798c", "#8d6a9f"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + legend}" role="img" '
        f'aria-label="{_html(metric)} by {_html(x)}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height + legend}" fill="white"/>',
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="#333"/>',
        f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="#333"/>',
        f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">{_html(x)}{scale}</text>',
        f'<text x="18" y="{middle}" transform="rotate(-90 18 {middle})" text-anchor="middle">{y_title}</text>',
    ]
    ticks = sorted(set(xs))
    for tick in ticks:
        label = categories[int(tick)] if categories else f"{tick:g}"
        parts.append(f'<text x="{sx(tick):.1f}" y="{height - margin + 16}" text-anchor="middle">{_html(label)}</text>')
    for step in range(5):
        value = y_low + (y_high - y_low) * step / 4
        parts.append(f'<text x="{margin - 6}" y="{sy(value) + 4:.1f}" text-anchor="end">{value:.4g}</text>')
    for index, (label, points) in enumerate(sorted(series.items())):
        colour = colours[index % len(colours)]
        coordinates = " ".join(f"{sx(p):.1f},{sy(v):.1f}" for p, v in sorted(points))
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p, v in points:
            parts.append(f'<circle cx="{sx(p):.1f}" cy="{sy(v):.1f}" r="3" fill="{colour}"/>')
        parts.append(f'<text x="{margin}" y="{height + 4 + 14 * index}" fill="{colour}">{_html(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _cells(row: ReportRow, params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    record = row.record
    duration = f"{record.duration_seconds:.1f} s" if record.duration_seconds is not None else "-"
    commit = (record.git.commit or "-")[:10] + (" (dirty)" if record.git.dirty else "") if record.git else "-"
    values = [
        record.id,
        record.status.value,
        duration,
        *(format_scalar(record.point.params[p]) if p in record.point.params else "" for p in params),
        record.image.reference.split("@")[0] + " " + record.image.id.removeprefix("sha256:")[:12],
        commit,
    ]
    for index, name in enumerate(metrics):
        value = row.metrics.get(name)
        if value is None and row.metrics_error and index == 0:
            values.append(row.metrics_error[:80])  # say why, once per row, briefly
        else:
            values.append("" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value))
    return values


def _columns(rows: Sequence[ReportRow], metrics: Sequence[str]) -> tuple[list[str], list[str]]:
    params = _params(rows)
    return ["run", "status", "duration", *params, "image", "commit", *metrics], params


def _claim_cells(claims: Sequence[ClaimResult]) -> list[list[str]]:
    """One row per expectation: claim, title, verdict, expectation, the deciding value, where."""
    return [
        [
            claim.id,
            claim.claim.title,
            outcome.verdict,
            outcome.expectation,
            f"{outcome.value:.6g}" if outcome.value is not None else "-",
            ": ".join(part for part in (outcome.at, outcome.detail) if part) or "-",
        ]
        for claim in claims
        for outcome in claim.outcomes
    ]


_CLAIM_HEADERS = ("claim", "title", "verdict", "expectation", "value", "decided by")


def _claims_html(claims: Sequence[ClaimResult]) -> list[str]:
    if not claims:
        return []
    holding = sum(claim.verdict == "holds" for claim in claims)
    body = [
        "<h2>Claims</h2>",
        f"<p>{holding} of {len(claims)} claims hold on the newest succeeded run of each point.</p>",
        '<table id="claims"><thead><tr>' + "".join(f"<th>{h}</th>" for h in _CLAIM_HEADERS) + "</tr></thead><tbody>",
    ]
    for cells in _claim_cells(claims):
        rendered = [
            f'<td class="{_html(cell.replace(" ", "-"))}">{_html(cell)}</td>'
            if index == 2
            else f"<td>{_html(cell)}</td>"
            for index, cell in enumerate(cells)
        ]
        body.append("<tr>" + "".join(rendered) + "</tr>")
    return [*body, "</tbody></table>", "<h2>Runs</h2>"]


def _claims_markdown(claims: Sequence[ClaimResult]) -> list[str]:
    if not claims:
        return []
    holding = sum(claim.verdict == "holds" for claim in claims)
    lines = [
        "## Claims",
        "",
        f"{holding} of {len(claims)} claims hold on the newest succeeded run of each point.",
        "",
        "| " + " | ".join(_CLAIM_HEADERS) + " |",
        "|" + "---|" * len(_CLAIM_HEADERS),
    ]
    lines += ["| " + " | ".join(markdown_cell(c) for c in cells) + " |" for cells in _claim_cells(claims)]
    return [*lines, "", "## Runs", ""]


def render_html(
    rows: Sequence[ReportRow],
    metrics: Sequence[str],
    plots: Sequence[str],
    title: str,
    claims: Sequence[ClaimResult] = (),
) -> str:
    """The page: title, the claims' verdicts, one figure per plot, the runs table (everything inline)."""
    headers, params = _columns(rows, metrics)
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_html(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f0f0f0}"
        "td.failed,td.timeout,td.interrupted,td.fails{color:#b00020;font-weight:bold}"
        "td.holds{color:#1b7f3b;font-weight:bold}td.no-data{color:#8a6d00;font-weight:bold}</style>",
        "</head><body>",
        f"<h1>{_html(title)}</h1>",
        *_claims_html(claims),
        f"<p>{len(rows)} runs. Every row is a run record in the store; outputs are checked by their sha256.</p>",
    ]
    for number, plot in enumerate(plots, 1):
        body += [f'<figure id="{"plot" if number == 1 else f"plot-{number}"}">', plot, "</figure>"]
    body.append(
        '<table id="runs"><thead><tr>' + "".join(f"<th>{_html(h)}</th>" for h in headers) + "</tr></thead><tbody>"
    )
    for row in rows:
        cells = _cells(row, params, metrics)
        rendered = [
            f'<td class="{_html(cell)}">{_html(cell)}</td>' if index == 1 else f"<td>{_html(cell)}</td>"
            for index, cell in enumerate(cells)
        ]
        body.append("<tr>" + "".join(rendered) + "</tr>")
    body += ["</tbody></table>", "</body></html>", ""]
    return "\n".join(body)


def render_markdown(
    rows: Sequence[ReportRow],
    metrics: Sequence[str],
    plot_files: Sequence[str],
    title: str,
    claims: Sequence[ClaimResult] = (),
) -> str:
    """The page as Markdown, showing the plots saved beside it as ``plot_files``."""
    headers, params = _columns(rows, metrics)
    lines = [f"# {markdown_cell(title)}", "", *_claims_markdown(claims), f"{len(rows)} runs.", ""]
    for plot_file in plot_files:
        lines += [f"![plot]({plot_file})", ""]
    lines.append("| " + " | ".join(markdown_cell(header) for header in headers) + " |")
    lines.append("|" + "---|" * len(headers))
    for row in rows:
        lines.append("| " + " | ".join(markdown_cell(cell) for cell in _cells(row, params, metrics)) + " |")
    return "\n".join(lines) + "\n"
